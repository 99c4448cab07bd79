"""loctocat 2 as before the loopback SSL shortcut: its own httpx.Client with httpx's default
SSL context (what `_new_http_client` made for every URL before), otherwise as loctocat2.py."""

import sys

import httpx
from _common import CLIENT_ID, SCOPE, endpoints, report

from loctocat import Authenticator

auth_url, token_url = endpoints(sys.argv[1])
with httpx.Client(timeout=10, follow_redirects=False) as client:
    authenticator = Authenticator(
        CLIENT_ID, auth_url, token_url, scopes=[SCOPE], http_client=client
    )
    authenticator.authenticate()
report()
