"""Shared by the single-flow client scripts: the scenario, and where results go."""

from __future__ import annotations

import json
import os
import time
from typing import Any

CLIENT_ID = "bench-client"
SCOPE = "read"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def endpoints(base_url: str) -> tuple[str, str]:
    return f"{base_url}/device_authorization", f"{base_url}/token"


def report(**fields: Any) -> None:
    """Write the run's figures (token time on the shared monotonic clock, CPU) for run.py."""
    fields.setdefault("t_token", time.monotonic())
    fields.setdefault("cpu", time.process_time())
    path = os.environ.get("BENCH_OUT")
    if path:
        with open(path, "w") as out:
            json.dump(fields, out)
