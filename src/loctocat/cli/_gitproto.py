"""git's credential helper protocol (git-credential(1), gitcredentials(7)), as data in and out.

git writes `key=value` lines on the helper's stdin, ended by a blank line or end of file; for
`get` it reads the helper's answer the same way from stdout. Attributes the helper does not
know are ignored, as git itself does with those it does not know.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, Any

#: Characters no attribute value may hold: the protocol is line-based (a newline in a token
#: from a hostile server would add attributes of its own), and git refuses NUL.
_BREAKING = ("\n", "\r", "\x00")


def read_request(stream: IO[bytes]) -> dict[str, str]:
    """git's attributes, until a blank line or the end of input. `key[]` lists are skipped.

    Read as bytes: git passes on what the remote URL holds (a username in UTF-8 or in any
    other encoding), whatever this process's locale; bytes that are not UTF-8 are kept as
    surrogates, never an error.
    """
    request: dict[str, str] = {}
    for raw in stream:
        line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
        if not line:
            break
        key, equals, value = line.partition("=")
        if equals and not key.endswith("[]"):
            request[key] = value
    return request


def target_matches(request: Mapping[str, str], git: Mapping[str, Any]) -> bool:
    """Whether git asks about the host (and scheme) this helper was set up for."""
    protocols = git.get("protocols") or ["https"]
    return request.get("protocol") in protocols and request.get("host") == git.get("host")


def answer(
    request: Mapping[str, str],
    git: Mapping[str, Any],
    access_token: str,
    expires_at: float | None,
) -> str:
    """The lines to answer `get` with: nothing for another host, else the token as password.

    The username is the one the service expects with a token (git's own, if it sent one:
    `https://user@host` in the remote URL). `password_expiry_utc` (git 2.40+) lets git drop
    the token itself once it expires; older git ignores it, and loctocat refreshes first.
    """
    if not target_matches(request, git):
        return ""
    username = str(git.get("username") or "oauth2")
    if any(c in value for value in (access_token, username) for c in _BREAKING):
        return ""
    lines = [] if request.get("username") else [f"username={username}"]
    lines.append(f"password={access_token}")
    if expires_at is not None:
        lines.append(f"password_expiry_utc={int(expires_at)}")
    return "\n".join(lines) + "\n"
