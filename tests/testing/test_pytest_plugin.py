"""The pytest plugin, loaded through the pytest11 entry point, run with pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import httpx
import pytest

from loctocat.testing import FakeAuthorizationServer

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def flow(client, server):
    device = client.post(server.device_authorization_url, data={"client_id": "app"}).json()
    server.approve(device["user_code"])
    data = {"client_id": "app", "grant_type": GRANT, "device_code": device["device_code"]}
    return client.post(server.token_url, data=data)


def test_in_memory(fake_auth_server):
    assert isinstance(fake_auth_server, FakeAuthorizationServer)
    assert fake_auth_server.token_url.startswith("https://")
    with httpx.Client(transport=fake_auth_server.transport()) as client:
        assert flow(client, fake_auth_server).status_code == 200


def test_http(fake_auth_server_http):
    assert fake_auth_server_http.token_url.startswith("http://127.0.0.1:")
    with httpx.Client() as client:
        assert flow(client, fake_auth_server_http).status_code == 200
    assert fake_auth_server_http.connections_opened == 1


def test_fresh_server_per_test(fake_auth_server):
    assert fake_auth_server.requests == []


@pytest.mark.fake_auth_server(client_id="app", interval=None)
def test_marker_configures_both(fake_auth_server, fake_auth_server_http):
    for server in (fake_auth_server, fake_auth_server_http):
        assert server.client_id == "app"
        assert server.interval is None


def test_fails_on_purpose(fake_auth_server):
    assert fake_auth_server.grants, "no grants"
"""


def test_fixtures_work_in_a_user_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")

    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*test_fails_on_purpose*no grants*"])


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        ["fake_auth_server -- *", "*fresh fake authorization server*", "fake_auth_server_http -- *"]
    )


UNUSED_PLANS = """
import httpx
import pytest

from loctocat import Authenticator


def auth(server, client):
    return Authenticator(
        "app", server.device_authorization_url, server.token_url, http_client=client,
        min_interval=0.01,
    )


def test_planned_and_never_polled(fake_auth_server):
    fake_auth_server.plan("approve")  # and the test forgets to log in


def test_half_the_plan_used(fake_auth_server):
    fake_auth_server.plan("pending", "deny", "approve")
    with httpx.Client(transport=fake_auth_server.transport()) as client:
        a = auth(fake_auth_server, client)
        a.ping()
        with pytest.raises(Exception):
            a.poll()  # ends at "deny": "approve" was never sent


def test_a_device_fault_never_met(fake_auth_server_http):
    from loctocat.testing import Fault

    fake_auth_server_http.plan_device(Fault(status=503))


def test_every_planned_answer_used(fake_auth_server):
    fake_auth_server.plan("pending", "approve")
    with httpx.Client(transport=fake_auth_server.transport()) as client:
        a = auth(fake_auth_server, client)
        a.ping()
        a.poll()


@pytest.mark.fake_auth_server(assert_all_used=False)
def test_allowed_to_leave_plans(fake_auth_server):
    fake_auth_server.plan("approve")


@pytest.mark.fake_auth_server(imitating="github", interval=0)
def test_a_preset(fake_auth_server):
    assert fake_auth_server.token_url == "https://github.com/login/oauth/access_token"
    assert fake_auth_server.errors_with_status_200
"""


def test_planned_answers_left_unused_fail_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=UNUSED_PLANS)

    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")

    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_planned_and_never_polled*",
            "*plan('approve',): no device request took it*",
            "*ERROR at teardown of test_half_the_plan_used*",
            "*planned answers never sent to a poll: ('approve',)*",
            "*ERROR at teardown of test_a_device_fault_never_met*",
            "*plan_device(Fault(status=503*): no device request met it*",
        ]
    )
