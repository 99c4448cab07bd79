"""loctocat 2: `Authenticator.authenticate()` with its default prompt (stderr)."""

import sys

from _common import CLIENT_ID, SCOPE, endpoints, report

from loctocat import Authenticator

auth_url, token_url = endpoints(sys.argv[1])
authenticator = Authenticator(CLIENT_ID, auth_url, token_url, scopes=[SCOPE])
authenticator.authenticate()
report()
