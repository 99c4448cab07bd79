"""loctocat 1.0.3 (from PyPI, its own venv): `Authenticator.authenticate()`, default prompt."""

import os
import sys

# oauthlib refuses http:// outright; the fake server is loopback http.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

from _common import CLIENT_ID, SCOPE, endpoints, report

from loctocat import Authenticator

auth_url, token_url = endpoints(sys.argv[1])
authenticator = Authenticator(CLIENT_ID, auth_url, token_url, scopes=[SCOPE], poll_interval=1)
authenticator.authenticate()
report()
