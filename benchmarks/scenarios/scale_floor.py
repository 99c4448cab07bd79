"""The floor at scale: the minimal httpx async polling loop, same requests, one shared client."""

import asyncio

import httpx
from _common import CLIENT_ID, DEVICE_GRANT, SCOPE
from _scale import main


async def flow(client: httpx.AsyncClient, auth_url: str, token_url: str) -> None:
    codes = (await client.post(auth_url, data={"client_id": CLIENT_ID, "scope": SCOPE})).json()
    interval = codes.get("interval", 5)
    form = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": CLIENT_ID}
    while True:
        await asyncio.sleep(interval)
        answer = (await client.post(token_url, data=form)).json()
        if "access_token" in answer:
            return
        if answer.get("error") == "slow_down":
            interval += 5
        elif answer.get("error") != "authorization_pending":
            raise RuntimeError(f"flow failed: {answer}")


main(flow)
