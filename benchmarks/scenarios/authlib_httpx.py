"""Authlib's httpx OAuth2Client driving the device flow (Authlib has no device-flow helper:
the device request is a plain POST, polling is `fetch_token` with the device_code grant)."""

import sys
import time

from _common import CLIENT_ID, DEVICE_GRANT, SCOPE, endpoints, report
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

auth_url, token_url = endpoints(sys.argv[1])
with OAuth2Client(CLIENT_ID, scope=SCOPE, token_endpoint_auth_method="none") as client:
    codes = client.request(
        "POST", auth_url, data={"client_id": CLIENT_ID, "scope": SCOPE}, withhold_token=True
    ).json()
    print(f"Enter {codes['user_code']} at {codes['verification_uri']}", file=sys.stderr, flush=True)
    interval = codes.get("interval", 5)
    while True:
        time.sleep(interval)
        try:
            client.fetch_token(token_url, grant_type=DEVICE_GRANT, device_code=codes["device_code"])
            break
        except OAuthError as error:
            if error.error == "slow_down":
                interval += 5
            elif error.error != "authorization_pending":
                raise
report()
