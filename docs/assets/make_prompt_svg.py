"""Draw docs/assets/prompt.svg: the prompt on a terminal over SSH (code, Enter, QR code).

Run it again after changing the prompt (it needs `segno`: ``pip install 'loctocat[qr]'``)::

    python docs/assets/make_prompt_svg.py            # writes docs/assets/prompt.svg
    python docs/assets/make_prompt_svg.py out.svg    # or anywhere else

The prompt is driven through its real code with a recording rich console of 104 columns, wide
enough for its longest line (a narrower terminal wraps that line; a picture would cut it off);
the spinner line is drawn as one still frame.
"""

from __future__ import annotations

import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from rich.console import Console
from rich.spinner import Spinner

import loctocat.prompt
from loctocat._models import LoctocatAuthInfo
from loctocat.prompt import TerminalPrompt

DEFAULT_OUTPUT = Path(__file__).with_name("prompt.svg")


def render(path: Path) -> None:
    console = Console(
        file=io.StringIO(), record=True, width=104, force_terminal=True, color_system="truecolor"
    )
    auth_info = LoctocatAuthInfo(
        device_code="device-secret",
        user_code="WDJB-MJHT",
        verification_uri="https://example.com/device",
        verification_uri_complete="https://example.com/device?code=WDJB-MJHT",
        expires_in=900,
        interval=5,
        # A little more than 15 minutes, so that the countdown reads 15:00 on every run.
        expires_at=datetime.now(UTC) + timedelta(seconds=900.5),
    )
    prompt = TerminalPrompt(console=console, qr=True)
    read_fd, write_fd = os.pipe()  # stands in for the keyboard: nothing is typed
    try:
        with (
            mock.patch.object(loctocat.prompt, "_interactive_stdin", return_value=read_fd),
            mock.patch.object(loctocat.prompt, "_browser_available", return_value=True),
            mock.patch.dict(os.environ, {"CI": ""}),
        ):
            prompt.show_code(auth_info)
        frame = Spinner("dots", text=prompt._waiting_text(), style="status.spinner")
        console.print(frame.render(0))
    finally:
        prompt.close()
        os.close(read_fd)
        os.close(write_fd)
    console.save_svg(str(path), title="loctocat")


if __name__ == "__main__":
    render(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT)
