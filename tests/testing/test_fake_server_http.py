"""The fake authorization server over real HTTP on loopback."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer, Fault


def test_serve_http_points_the_urls_at_loopback() -> None:
    server = FakeAuthorizationServer()
    assert server.token_url == "https://auth.example.test/token"
    with server.serve_http() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert server.base_url == base_url
        assert server.device_authorization_url == base_url + "/device_authorization"
        assert server.token_url == base_url + "/token"
        assert server.verification_uri == base_url + "/device"
    assert server.token_url == "https://auth.example.test/token"


def test_full_flow_over_one_kept_alive_connection() -> None:
    server = FakeAuthorizationServer()
    server.plan("pending", "slow_down", "approve")
    with server.serve_http(), httpx.Client() as client:
        device = client.post(server.device_authorization_url, data={"client_id": "c"})
        assert device.status_code == 200
        body = device.json()
        assert body["verification_uri_complete"].startswith(server.verification_uri)
        page = client.get(body["verification_uri_complete"])
        assert body["user_code"] in page.text
        data = {
            "client_id": "c",
            "grant_type": DEVICE_CODE_GRANT_TYPE,
            "device_code": body["device_code"],
        }
        answers = [client.post(server.token_url, data=data) for _ in range(3)]
        assert [r.status_code for r in answers] == [400, 400, 200]
        assert [r.json().get("error") for r in answers] == [
            "authorization_pending",
            "slow_down",
            None,
        ]
        assert answers[2].headers["cache-control"] == "no-store"
        assert server.connections_opened == 1
    assert len(server.requests) == 5
    recorded = server.requests[0]
    assert recorded.url == f"{recorded.url.split('/device_authorization')[0]}/device_authorization"
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    assert recorded.form == {"client_id": "c"}


def test_separate_clients_open_separate_connections() -> None:
    server = FakeAuthorizationServer()
    with server.serve_http():
        for _ in range(3):
            with httpx.Client() as client:
                client.get(server.verification_uri)
        assert server.connections_opened == 3


def test_drop_fault_closes_the_connection() -> None:
    server = FakeAuthorizationServer()
    server.plan_device(Fault(drop=True))
    with server.serve_http(), httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.device_authorization_url, data={"client_id": "c"})
        # The client recovers on a fresh connection.
        assert client.post(server.device_authorization_url, data={"client_id": "c"}).is_success
        assert server.connections_opened == 2


def test_raw_fault_over_http() -> None:
    server = FakeAuthorizationServer()
    server.plan_device(Fault(status=503, body=b"<html>busy</html>", headers={"Retry-After": "3"}))
    with server.serve_http(), httpx.Client() as client:
        response = client.post(server.device_authorization_url, data={"client_id": "c"})
    assert response.status_code == 503
    assert response.content == b"<html>busy</html>"
    assert response.headers["retry-after"] == "3"


def test_chunked_request_body() -> None:
    server = FakeAuthorizationServer()

    def body() -> object:
        yield b"client_id="
        yield b"chunky"

    with server.serve_http(), httpx.Client() as client:
        response = client.post(
            server.device_authorization_url,
            content=body(),  # type: ignore[arg-type]
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200, response.text
    assert server.requests[0].headers["transfer-encoding"] == "chunked"
    assert server.grants[0].client_id == "chunky"


def test_stop_does_not_hang_on_an_open_keep_alive_connection() -> None:
    server = FakeAuthorizationServer()
    with httpx.Client() as client:
        server.start_http()
        assert client.get(server.verification_uri).status_code == 200
        began = time.monotonic()
        server.stop_http()
        assert time.monotonic() - began < 2
        assert not [t for t in threading.enumerate() if t.name.startswith("loctocat-fake-auth")]
        server.stop_http()  # idempotent
        with pytest.raises(httpx.TransportError):
            client.get(server.verification_uri.replace("/device", "/x"))
    assert not [t for t in threading.enumerate() if t.name.startswith("loctocat-fake-auth")]


def test_stop_does_not_hang_on_an_idle_raw_connection() -> None:
    server = FakeAuthorizationServer()
    base_url = server.start_http()
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(3)
        sock.sendall(b"GET /device HTTP/1.1\r\nHost: x\r\n\r\n")
        received = sock.recv(65536)
        while not received.endswith(b"</html>\n"):
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        began = time.monotonic()
        server.stop_http()
        assert time.monotonic() - began < 2
        assert sock.recv(100) == b""  # the server closed the kept-alive connection
        assert not [t for t in threading.enumerate() if t.name.startswith("loctocat-fake-auth")]


def test_cannot_start_twice() -> None:
    server = FakeAuthorizationServer()
    with server.serve_http():
        with pytest.raises(RuntimeError):
            server.start_http()
        assert server.connections_opened == 0
    # And it can serve again afterwards, on a new port.
    with server.serve_http(), httpx.Client() as client:
        assert client.get(server.verification_uri).status_code == 200


def test_concurrent_clients() -> None:
    server = FakeAuthorizationServer()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with httpx.Client() as client:
                for _ in range(5):
                    r = client.post(server.device_authorization_url, data={"client_id": "c"})
                    assert r.status_code == 200
        except BaseException as error:  # collected for the main thread to report
            errors.append(error)

    with server.serve_http():
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(server.grants) == 20
    assert len({g.user_code for g in server.grants}) == 20
    assert server.connections_opened == 4
