"""N concurrent loctocat 2 `AsyncAuthenticator` flows sharing one httpx.AsyncClient."""

import httpx
from _common import CLIENT_ID, SCOPE
from _scale import main

from loctocat import AsyncAuthenticator


async def flow(client: httpx.AsyncClient, auth_url: str, token_url: str) -> None:
    authenticator = AsyncAuthenticator(
        CLIENT_ID, auth_url, token_url, scopes=[SCOPE], http_client=client, request_timeout=60
    )
    await authenticator.ping()
    await authenticator.poll()


main(flow)
