"""The practical floor: a minimal hand-written httpx polling loop (one client, no checks)."""

import sys
import time

import httpx
from _common import CLIENT_ID, DEVICE_GRANT, SCOPE, endpoints, report

auth_url, token_url = endpoints(sys.argv[1])
with httpx.Client() as client:
    codes = client.post(auth_url, data={"client_id": CLIENT_ID, "scope": SCOPE}).json()
    print(f"Enter {codes['user_code']} at {codes['verification_uri']}", file=sys.stderr, flush=True)
    interval = codes.get("interval", 5)
    form = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": CLIENT_ID}
    while True:
        time.sleep(interval)
        answer = client.post(token_url, data=form).json()
        if "access_token" in answer:
            break
        if answer.get("error") == "slow_down":
            interval += 5
        elif answer.get("error") != "authorization_pending":
            raise SystemExit(f"flow failed: {answer}")
report()
