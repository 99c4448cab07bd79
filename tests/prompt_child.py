"""Run a default prompt through a whole successful flow; used by test_prompt.py under a pty.

Prints nothing itself: everything the user sees must come from the prompt, on stderr.
Usage: python prompt_child.py [seconds to spin, default 0.5]
"""

import sys
import time

from loctocat._models import LoctocatAuthInfo, Token
from loctocat.prompt import prompt_from_options

auth_info = LoctocatAuthInfo(
    device_code="device-secret",
    user_code="WDJB-MJHT",
    verification_uri="https://example.com/device",
    expires_in=900,
    interval=5,
)
prompt = prompt_from_options()
try:
    prompt.show_code(auth_info)
    prompt.start_waiting()
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
    prompt.succeeded(Token(access_token="token-secret"))
finally:
    prompt.close()
