"""The in-memory transport with httpx.AsyncClient, under asyncio and trio."""

from __future__ import annotations

import httpx
import pytest

from loctocat.testing import DEVICE_CODE_GRANT_TYPE, FakeAuthorizationServer, Fault


@pytest.mark.anyio
async def test_async_flow_with_faults() -> None:
    server = FakeAuthorizationServer()
    server.plan("pending", Fault(status=503), Fault(drop=True), "slow_down", "approve")
    async with httpx.AsyncClient(transport=server.transport()) as client:
        device = await client.post(
            server.device_authorization_url, data={"client_id": "a", "scope": "s"}
        )
        assert device.status_code == 200
        data = {
            "client_id": "a",
            "grant_type": DEVICE_CODE_GRANT_TYPE,
            "device_code": device.json()["device_code"],
        }
        statuses: list[int | str] = []
        while True:
            try:
                response = await client.post(server.token_url, data=data)
            except httpx.TransportError as error:
                statuses.append(type(error).__name__)
                continue
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
        assert statuses == [400, 503, "RemoteProtocolError", 400, 200]
        assert response.json()["scope"] == "s"
    assert server.grants[0].status == "redeemed"
    assert server.grants[0].poll_count == 5


@pytest.mark.anyio
async def test_async_page_approval() -> None:
    server = FakeAuthorizationServer()
    async with httpx.AsyncClient(transport=server.transport()) as client:
        device = (
            await client.post(server.device_authorization_url, data={"client_id": "a"})
        ).json()
        page = await client.post(
            server.verification_uri, data={"user_code": device["user_code"], "action": "approve"}
        )
        assert page.status_code == 200
    assert server.grants[0].status == "approved"
