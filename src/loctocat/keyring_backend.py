"""loctocat as a keyring backend: device-flow tokens for pip, uv and twine.

Registered as the ``keyring.backends`` entry point ``loctocat``: keyring finds it wherever
loctocat is installed beside it, and uses it only while the config file has package indexes
(``loctocat setup-index``). It answers `get_credential(url, username)` and
`get_password(url, username)` for a URL under one of those indexes (see `loctocat.cli._indexes`
for the matching rules), with that index's username and a valid access token: the stored one,
else a refreshed one, else one from a device-flow login shown on the terminal. For any other
service it answers None, so that the other backends answer, and it never stores anything.

How it sits among the other backends (keyring 25):

- Not viable (`priority` raises `RuntimeError`) when the config file has no index or cannot be
  read: keyring then behaves exactly as if loctocat were not installed.
- Its priority, 9, is below the chainer's (10): with an OS keychain present keyring picks the
  chainer, which asks the backends in priority order, loctocat first (the keychains have 5):
  its fresh token wins over an old password saved for the same URL, and every other URL goes on
  to the keychain. Without a keychain, keyring picks it alone.
- `set_password` and `delete_password` raise an error that is both `PasswordSetError` (or
  `PasswordDeleteError`) and `NotImplementedError`: the chainer passes them on to the next
  backend, and a caller that reached this backend alone is told that nothing was stored.
- loctocat's own `KeyringTokenStore` calls keyring while this backend answers: those nested
  calls, and any service that is not an index URL, get None at once, so the backend never
  answers for loctocat's own entries nor calls itself.

It writes nothing on stdout (the ``keyring get`` command prints the password there), never
waits for someone who is not there, and never raises from a lookup: a problem is one line on
stderr, once per process, and the answer None.
"""

from __future__ import annotations

import sys
import threading

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.credentials import Credential, SimpleCredential
from keyring.errors import PasswordDeleteError, PasswordSetError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loctocat.cli._indexes import Indexes

__all__ = ["PRIORITY", "IndexKeyring", "NothingDeleted", "NothingStored"]

#: Ahead of the OS keychains (5) and behind keyring's chainer (10), which then asks it first.
PRIORITY = 9.0


class NothingStored(PasswordSetError, NotImplementedError):
    """This backend keeps no passwords (a `NotImplementedError`: the chainer asks the next)."""


class NothingDeleted(PasswordDeleteError, NotImplementedError):
    """This backend keeps no passwords to delete (the chainer asks the next backend)."""


_local = threading.local()
#: What this process has said on stderr, and the indexes for which it failed: said once, and
#: not tried again for every request pip makes.
_said: set[str] = set()
_failed: set[str] = set()


class IndexKeyring(KeyringBackend):
    """Tokens from loctocat for the package indexes of its config file (see the module)."""

    #: It stores nothing: loctocat's own token store never takes it for a keychain.
    keeps_passwords = False

    @properties.classproperty
    def priority(cls) -> float:
        from loctocat.cli._indexes import ConfigUnreadable

        try:
            indexes = _configured()
        except ConfigUnreadable as exc:
            raise RuntimeError(f"loctocat's config file cannot be read: {exc}") from None
        if not indexes.usernames and not indexes.broken:
            raise RuntimeError("no package index is set up (see 'loctocat setup-index')")
        return PRIORITY

    def get_credential(self, service: str, username: str | None) -> Credential | None:
        """The index's username and a token, for a URL under a configured index; else None."""
        found = self._answer(service, username)
        return None if found is None else SimpleCredential(*found)

    def get_password(self, service: str, username: str) -> str | None:
        """A token for a URL under a configured index and its username; else None."""
        found = self._answer(service, username)
        return None if found is None else found[1]

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NothingStored(
            "loctocat's keyring backend keeps no passwords (it answers with tokens for the "
            "package indexes of its config file): nothing was stored"
        )

    def delete_password(self, service: str, username: str) -> None:
        raise NothingDeleted("loctocat's keyring backend keeps no passwords: nothing to delete")

    def _answer(self, service: str, username: str | None) -> tuple[str, str] | None:
        if getattr(_local, "answering", False):
            return None  # loctocat's own keyring calls while it answers: other backends'
        if not isinstance(service, str) or not service[:8].lower().startswith(
            ("http://", "https://")
        ):
            return None  # a host alone, or another program's service name: never ours
        _local.answering = True
        try:
            return _answer(service, username)
        except KeyboardInterrupt:
            raise
        except Exception as error:
            _say(error)
            return None
        finally:
            _local.answering = False


def _answer(service: str, username: str | None) -> tuple[str, str] | None:
    from loctocat.cli._fast import index_token
    from loctocat.cli._indexes import index_for

    indexes = _configured()
    url = index_for(service, indexes.usernames)
    if url is None:
        if indexes.broken:
            _check_config()  # says what is wrong with the file, once
        return None
    expected = indexes.usernames[url]
    if username is not None and expected is not None and username != expected:
        return None  # another user's credentials for this URL: not ours to give
    if url in _failed:
        return None
    if expected is not None:
        token = index_token(url)  # the stored-token path: no HTTP stack, no terminal UI
        if token is not None:
            return expected, token
    from loctocat.cli._index import index_credential

    try:
        found = index_credential(url)
    except Exception as error:
        _failed.add(url)
        _say(error, url)
        return None
    if found is None:
        _failed.add(url)
        return None
    if username is not None and found[0] != username:
        return None
    return found


def _configured() -> Indexes:
    from loctocat.cli._config import config_path
    from loctocat.cli._indexes import configured_indexes

    return configured_indexes(str(config_path()))


def _check_config() -> None:
    from loctocat.cli._config import load_config

    load_config()


def _say(error: Exception, url: str | None = None) -> None:
    """One line on stderr about what went wrong (once per process): never a traceback."""
    from loctocat._text import one_line
    from loctocat.cli._exits import UsageError
    from loctocat.errors import LoctocatError

    if isinstance(error, UsageError):
        what = str(error)  # the config file: it names the file and the key
    elif isinstance(error, LoctocatError):
        what = f"no token for the package index {url}: {error}"
    else:
        what = f"unexpected error: {type(error).__name__}: {error}"
    text = f"loctocat: {one_line(what)}"
    if text not in _said:
        _said.add(text)
        print(text, file=sys.stderr)
