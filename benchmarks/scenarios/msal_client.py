"""MSAL's PublicClientApplication pointed at the fake server through OIDC discovery."""

import sys

import msal
from _common import CLIENT_ID, SCOPE, report

app = msal.PublicClientApplication(CLIENT_ID, oidc_authority=sys.argv[1])
flow = app.initiate_device_flow(scopes=[SCOPE])
if "user_code" not in flow:
    raise SystemExit(f"initiate_device_flow failed: {flow}")
print(f"Enter {flow['user_code']} at {flow['verification_uri']}", file=sys.stderr, flush=True)
result = app.acquire_token_by_device_flow(flow)
if "access_token" not in result:
    raise SystemExit(f"acquire_token_by_device_flow failed: {result}")
report()
