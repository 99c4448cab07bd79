"""Reference: the same loop with the stdlib only (urllib, a new connection per request)."""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from _common import CLIENT_ID, DEVICE_GRANT, SCOPE, endpoints, report


def post(url: str, form: dict[str, str]) -> Any:
    data = urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(url, data=data) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


auth_url, token_url = endpoints(sys.argv[1])
codes = post(auth_url, {"client_id": CLIENT_ID, "scope": SCOPE})
print(f"Enter {codes['user_code']} at {codes['verification_uri']}", file=sys.stderr, flush=True)
interval = codes.get("interval", 5)
form = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": CLIENT_ID}
while True:
    time.sleep(interval)
    answer = post(token_url, form)
    if "access_token" in answer:
        break
    if answer.get("error") == "slow_down":
        interval += 5
    elif answer.get("error") != "authorization_pending":
        raise SystemExit(f"flow failed: {answer}")
report()
