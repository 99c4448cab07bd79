"""What the command line writes: tables that fit the terminal, tokens in the user's terms."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loctocat._models import Token

__all__ = [
    "message",
    "shown_path",
    "table",
    "token_json",
    "until",
    "width",
    "wrap",
]

#: Lines never grow wider than this, even on a wider terminal: they stay readable.
MAX_WIDTH = 80


def width(stream: Any = None) -> int:
    """The width to write to: the terminal's (COLUMNS too), at most 80 columns."""
    columns = shutil.get_terminal_size((MAX_WIDTH, 24)).columns
    return max(20, min(columns, MAX_WIDTH))


def wrap(text: str, indent: str = "") -> str:
    """`text` wrapped to `width()`, paragraph by paragraph (blank lines kept)."""
    size = width()
    # Never inside a word: a URL or a path broken in two can be neither copied nor clicked.
    return "\n\n".join(
        textwrap.fill(
            p,
            size,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for p in text.split("\n\n")
    )


def message(text: str) -> None:
    """A message for the person: on stderr, escaped, wrapped to the terminal."""
    from loctocat._text import printable

    print(wrap(" ".join(printable(line) for line in text.split("\n"))), file=sys.stderr)


def shown_path(path: Path) -> str:
    """`path` with the home directory as ~, as people write it."""
    home = Path.home()
    try:
        return "~" + os.sep + str(path.relative_to(home))
    except ValueError:
        return str(path)


def until(when: datetime | None) -> str:
    """When a token expires, for a person: "14:05" today, else "2026-12-03 14:05"."""
    if when is None:
        return "no expiry given"
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def token_json(token: Token) -> dict[str, Any]:
    """A token for scripts: what the server sent, its times as ISO 8601, seconds left.

    `expires_in` is the seconds left now (not the lifetime the server announced, which was
    counted from `received_at`); `expires_at` and `received_at` are ISO 8601 in UTC. The ID
    token's verified `claims` and the `identity` (subject, name, source) come when known.
    """
    data: dict[str, Any] = dict(token.extra)
    for name in ("access_token", "token_type", "refresh_token", "scope", "id_token"):
        value = getattr(token, name)
        if value is not None:
            data[name] = value
    data["expires_at"] = _iso(token.expires_at)
    data["expires_in"] = None
    if token.expires_at is not None:
        left = (token.expires_at - datetime.now(UTC)).total_seconds()
        data["expires_in"] = max(0, int(left))
    data["received_at"] = _iso(token.received_at)
    if token.claims is not None:
        data["claims"] = dict(token.claims)  # verified when the token was received
    if token.identity is not None:
        data["identity"] = token.identity.to_dict()
    return data


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def table(
    rows: Sequence[Sequence[str]],
    *,
    drop: Sequence[int] = (),
    fold: int | None = None,
    fold_label: str = "",
) -> str:
    """Rows as aligned columns that fit `width()`.

    When they do not fit, the columns listed in `drop` are left out, in that order; then the
    column `fold` (the last one by default) goes on a line of its own under each row, indented,
    after `fold_label`.
    """
    columns = list(range(len(rows[0])))
    limit = width()

    def render(keep: list[int], folded: int | None) -> list[str]:
        shown = [i for i in keep if i != folded]
        sizes = {i: max(len(row[i]) for row in rows) for i in shown}
        lines = []
        for row in rows:
            lines.append("  ".join(row[i].ljust(sizes[i]) for i in shown).rstrip())
            if folded is not None and row is not rows[0] and row[folded] not in ("", "-"):
                lines.append("    " + fold_label + row[folded])
        return lines

    keep = columns
    for dropped in range(len(drop) + 1):
        keep = [i for i in columns if i not in drop[:dropped]]
        lines = render(keep, None)
        if max(len(line) for line in lines) <= limit:
            return "\n".join(lines)
    return "\n".join(render(keep, keep[-1] if fold is None else fold))
