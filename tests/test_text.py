"""Server text made safe for a terminal: loctocat._text."""

from __future__ import annotations

import sys

import pytest

from loctocat._text import one_line, printable

OSC8_LINK = "\x1b]8;;https://evil.example/\x1b\\https://github.com/login/device\x1b]8;;\x1b\\"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            OSC8_LINK,
            "\\x1b]8;;https://evil.example/\\x1b\\https://github.com/login/device\\x1b]8;;\\x1b\\",
        ),
        ("\x1b[2Jgone", r"\x1b[2Jgone"),  # clear screen
        ("\x1b]0;pwned\x07title", r"\x1b]0;pwned\x07title"),  # window title ended by BEL
        ("\x1b]0;pwned\x1b\\title", r"\x1b]0;pwned\x1b\title"),  # ... and by ST
        ("\x1b[5mblink\x1b[0m", r"\x1b[5mblink\x1b[0m"),
        ("\x9b2J", r"\x9b2J"),  # the one-character C1 form of CSI
        ("\x9d0;title\x9c", r"\x9d0;title\x9c"),  # C1 OSC ... ST
        ("a\x7fb", r"a\x7fb"),  # DEL
        ("a\x00b", r"a\x00b"),  # NUL
        ("a\tb\nc\rd", r"a\x09b\x0ac\x0dd"),
        ("https://example.com/\u202efdp.exe", r"https://example.com/\u202efdp.exe"),
        ("\u2066x\u2069 \u200e\u200f\u061c", r"\u2066x\u2069 \u200e\u200f\u061c"),
        ("line\u2028para\u2029", r"line\u2028para\u2029"),
        ("Zürich ✓ 日本", "Zürich ✓ 日本"),
        ("WDJB-MJHT", "WDJB-MJHT"),
        ("non\u00a0breaking soft\u00adhyphen", "non\u00a0breaking soft\u00adhyphen"),
        ("", ""),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_leaves_no_control_character() -> None:
    every = "".join(chr(code) for code in range(0x2100))
    shown = printable(every)
    assert all(not 0 <= ord(c) < 0x20 and not 0x7F <= ord(c) < 0xA0 for c in shown)
    for char in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert char not in shown
    assert "\u2028" not in shown
    assert "\u2029" not in shown


def test_every_escaped_character_is_one_python_calls_unprintable() -> None:
    # printable() skips the search for text that str.isprintable() accepts: that is only right
    # if each character it escapes is unprintable for Python too.
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if printable(char) != char:
            assert not char.isprintable(), hex(code)


def test_plain_text_is_returned_as_is() -> None:
    text = "Open https://github.com/login/device and enter WDJB-MJHT"
    assert printable(text) is text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("bad\n  request\t\tnow", "bad request now"),
        ("  padded  ", "padded"),
        ("\x1b[2J\nsecond\x1c line", r"\x1b[2J second line"),  # \x1c is whitespace to Python
        ("rtl\u2028\u202eevil", r"rtl \u202eevil"),
        ("Zürich ✓ 日本", "Zürich ✓ 日本"),
        ("", ""),
    ],
)
def test_one_line(text: str, shown: str) -> None:
    assert one_line(text) == shown
