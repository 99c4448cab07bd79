"""Text from a server (or anyone else) made safe to print on a terminal.

A terminal acts on control characters instead of showing them: an escape sequence can clear the
screen, retitle the window or make a link that points somewhere other than the text it shows,
and bidirectional controls can make text read differently from what it is. `printable` shows
such characters as visible escapes instead.
"""

from __future__ import annotations

import re

__all__ = ["one_line", "printable"]

# C0 controls (tab and line feed included), DEL, C1 controls, and the Unicode format characters
# that reorder or break text on screen: the Arabic letter mark, LRM/RLM, the bidirectional
# embeddings and overrides, the isolates, and the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control and text-reordering character shown as a visible escape.

    ESC becomes the four characters ``\\x1b``, U+202E the six characters ``\\u202e``; all other
    characters, non-ASCII letters and symbols included, are left as they are.
    """
    # Every character _UNSAFE matches is one Python counts as not printable (categories Cc, Cf,
    # Zl and Zp), so text that is all printable, as nearly every line is, needs no search.
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """`text` on one line: each whitespace run (line breaks too) as one space, then `printable`."""
    return printable(" ".join(text.split()))
