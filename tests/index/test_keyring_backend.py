"""loctocat's keyring backend among keyring's others: which URLs it answers, how it is chosen,
what it leaves to the other backends, and what it never does (call itself, print on stdout,
raise, load the HTTP stack for a stored token).

The tests in this process call the backend, or keyring's chainer over it and a backend that
keeps passwords in memory; the others run a fresh Python, as pip and keyring do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest
from keyring.backends.chainer import ChainerBackend

import loctocat.keyring_backend as backend_module
from loctocat import Token
from loctocat.cli import _indexes
from loctocat.cli._indexes import index_for, normalize_index_url
from loctocat.keyring_backend import PRIORITY, IndexKeyring
from loctocat.store import FileTokenStore, keyring_usable, token_key

URL = "https://pypi.example.com/simple/"
TOKEN_URL = "https://sso.example.com/token"
HERE = Path(__file__).resolve().parent
#: tests/cli: `file_keyring.FileKeyring`, a keychain stand-in that keeps passwords in a file.
CLI_TESTS = HERE.parent / "cli"
#: What the stored-token path must never load: the HTTP stack, the terminal UI, the core.
HEAVY = ("httpx", "httpcore", "rich", "anyio", "loctocat.auth", "loctocat._flow")


# --- which URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://pypi.example.com/simple/", URL),
        ("HTTPS://PyPI.Example.COM:443/simple", URL),
        ("https://pypi.example.com", "https://pypi.example.com/"),
        ("https://pypi.example.com:8443/a/b", "https://pypi.example.com:8443/a/b/"),
        ("http://127.0.0.1:8080/simple", "http://127.0.0.1:8080/simple/"),
        ("http://[::1]:80/x/", "http://[::1]/x/"),
    ],
)
def test_index_urls_are_normalized(url: str, normalized: str) -> None:
    assert normalize_index_url(url) == normalized


@pytest.mark.parametrize(
    ("query", "answered"),
    [
        (URL, URL),
        ("https://pypi.example.com/simple", URL),  # twine may leave the slash out
        ("https://pypi.example.com/simple/requests/", URL),
        ("https://PYPI.example.com:443/simple/requests/", URL),
        ("https://pypi.example.com/private/simple/", "https://pypi.example.com/private/"),
        ("https://pypi.example.com/simplex/", None),  # a prefix, not on a segment boundary
        ("https://pypi.example.com/", None),
        ("http://pypi.example.com/simple/", None),  # never over plain http
        ("https://pypi.example.com:8443/simple/", None),
        ("https://evil.example.com/simple/", None),
        ("https://pypi.example.com.evil.example/simple/", None),
        ("pypi.example.com", None),  # pip's second question: the host alone
        ("https://pypi.example.com/simple/../admin/", None),
        ("https://pypi.example.com/simple/%2e%2e/admin/", None),
        ("https://__token__@pypi.example.com/simple/", None),
        ("https://pypi.example.com/simple/?x=1", None),
        ("loctocat", None),  # loctocat's own keyring service
        ("", None),
    ],
)
def test_only_urls_under_a_configured_index_are_answered(query: str, answered: str | None) -> None:
    indexes = [URL, "https://pypi.example.com/private/"]
    assert index_for(query, indexes) == answered


# --- in this process: the backend, and keyring's chainer over it ---------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config file, and a clean slate for what the backend remembers per process."""
    path = tmp_path / "config.toml"
    path.write_text("")
    monkeypatch.setenv("LOCTOCAT_CONFIG", str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_indexes, "_cache", None)
    monkeypatch.setattr(backend_module, "_said", set())
    monkeypatch.setattr(backend_module, "_failed", set())
    return path


def set_up_index(config: Path, tmp_path: Path, *, username: str = "__token__") -> Path:
    """An index of `config` whose login has a valid stored token, "at-1"; the token file."""
    tokens = tmp_path / "tokens.json"
    config.write_text(
        f'[indexes."{URL}"]\nauth_url = "https://sso.example.com/device"\n'
        f'token_url = "{TOKEN_URL}"\nclient_id = "pip"\nstore = "{tokens}"\n'
        f'username = "{username}"\n'
    )
    expires = datetime.now(UTC) + timedelta(hours=1)
    key = token_key(TOKEN_URL, "pip", (), None)
    FileTokenStore(tokens).save(key, Token("at-1", expires_at=expires, refresh_token="rt"))
    return tokens


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keychain that keeps passwords in memory (priority 1), as another backend would."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


@pytest.fixture
def chain(config: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ChainerBackend, MemoryKeyring]:
    """keyring's chainer over loctocat's backend and `MemoryKeyring`, as keyring's own."""
    memory = MemoryKeyring()
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: [IndexKeyring(), memory])
    chainer = ChainerBackend()
    monkeypatch.setattr(keyring.core, "_keyring_backend", chainer)
    return chainer, memory


def test_not_viable_without_an_index_or_with_a_config_file_it_cannot_read(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not IndexKeyring.viable  # an empty config file
    config.write_text('[servers.work]\nissuer = "https://sso.example.com"\nclient_id = "x"\n')
    assert not IndexKeyring.viable
    with pytest.raises(RuntimeError, match="loctocat setup-index"):
        IndexKeyring.priority  # noqa: B018
    monkeypatch.setenv("LOCTOCAT_CONFIG", str(tmp_path / "missing.toml"))
    assert not IndexKeyring.viable
    monkeypatch.setenv("LOCTOCAT_CONFIG", str(config))
    config.write_text(f'[indexes."{URL}"]\nserver = "work"\n[[[')
    assert not IndexKeyring.viable
    with pytest.raises(RuntimeError, match="is not valid TOML"):
        IndexKeyring.priority  # noqa: B018

    set_up_index(config, tmp_path)
    assert IndexKeyring.viable
    assert IndexKeyring.priority == PRIORITY
    assert 5 < PRIORITY < 10  # ahead of the OS keychains, behind the chainer


def test_the_chainer_asks_it_first_and_it_answers_only_for_its_index(
    chain: tuple[ChainerBackend, MemoryKeyring], config: Path, tmp_path: Path
) -> None:
    chainer, memory = chain
    set_up_index(config, tmp_path)
    assert chainer.priority == 10
    assert [type(b) for b in chainer.backends] == [IndexKeyring, MemoryKeyring]
    memory.passwords[("https://other.example.com/simple/", "alice")] = "alice-pw"
    memory.passwords[(URL, "__token__")] = "an-old-password"  # saved by pip long ago

    credential = keyring.get_credential(URL, None)
    assert credential is not None
    assert (credential.username, credential.password) == ("__token__", "at-1")
    assert keyring.get_password(URL + "tinypkg/", "__token__") == "at-1"
    other = keyring.get_credential("https://other.example.com/simple/", "alice")
    assert other is not None
    assert other.password == "alice-pw"
    assert keyring.get_password("pypi.example.com", "__token__") is None
    # Another user's credentials for the index are not loctocat's to give.
    assert keyring.get_password(URL, "bob") is None
    memory.passwords[(URL, "bob")] = "bob-pw"
    assert keyring.get_password(URL, "bob") == "bob-pw"


def test_set_and_delete_go_to_the_next_backend(
    chain: tuple[ChainerBackend, MemoryKeyring], config: Path, tmp_path: Path
) -> None:
    _, memory = chain
    set_up_index(config, tmp_path)
    keyring.set_password("https://other.example.com/simple/", "alice", "pw")
    keyring.set_password(URL, "__token__", "typed-at-a-prompt")
    assert memory.passwords == {
        ("https://other.example.com/simple/", "alice"): "pw",
        (URL, "__token__"): "typed-at-a-prompt",
    }
    keyring.delete_password(URL, "__token__")
    assert (URL, "__token__") not in memory.passwords


def test_alone_it_says_that_it_stores_nothing(config: Path, tmp_path: Path) -> None:
    set_up_index(config, tmp_path)
    alone = IndexKeyring()
    with pytest.raises(keyring.errors.PasswordSetError, match="nothing was stored"):
        alone.set_password(URL, "__token__", "pw")
    with pytest.raises(NotImplementedError):  # what the chainer skips a backend on
        alone.set_password(URL, "__token__", "pw")
    with pytest.raises(keyring.errors.PasswordDeleteError):
        alone.delete_password(URL, "__token__")


def test_loctocat_never_keeps_its_tokens_in_its_own_backend(
    chain: tuple[ChainerBackend, MemoryKeyring],
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_up_index(config, tmp_path)
    assert keyring_usable()  # the chainer: MemoryKeyring keeps passwords
    monkeypatch.setattr(keyring.core, "_keyring_backend", IndexKeyring())
    assert not keyring_usable()  # keyring picks loctocat's alone where there is no keychain


def test_a_username_of_its_own(config: Path, tmp_path: Path) -> None:
    set_up_index(config, tmp_path, username="oauth2accesstoken")
    ours = IndexKeyring()
    credential = ours.get_credential(URL, None)
    assert credential is not None
    assert credential.username == "oauth2accesstoken"
    assert ours.get_password(URL, "oauth2accesstoken") == "at-1"
    assert ours.get_password(URL, "__token__") is None


# --- in a fresh Python, as pip and keyring run it ------------------------------------------------


def python(
    tmp_path: Path, code: str, *, cli_tests: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python, with no terminal, with the config of `tmp_path`."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOCTOCAT_", "XDG_", "KEYRING_", "PYTHON_KEYRING"))
    }
    environ.pop("PYTHONPATH", None)
    environ.update(
        HOME=str(tmp_path),
        LOCTOCAT_CONFIG=str(tmp_path / "config.toml"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        FILE_KEYRING=str(tmp_path / "keychain.json"),
    )
    if cli_tests:
        environ["PYTHONPATH"] = str(CLI_TESTS)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


ANSWER_AND_MODULES = f"""
    import json, sys
    import keyring
    credential = keyring.get_credential({URL!r}, None)
    answer = None if credential is None else [credential.username, credential.password]
    print(json.dumps([answer, sorted(sys.modules)]))
"""


def test_a_stored_token_is_answered_without_the_http_stack(config: Path, tmp_path: Path) -> None:
    set_up_index(config, tmp_path)
    first = python(tmp_path, ANSWER_AND_MODULES)  # the full path, which indexes the token
    assert first.returncode == 0, first.stderr
    answer, modules = json.loads(first.stdout)
    assert answer == ["__token__", "at-1"]
    assert "loctocat.auth" in modules

    again = python(tmp_path, ANSWER_AND_MODULES)
    assert again.returncode == 0, again.stderr
    answer, modules = json.loads(again.stdout)
    assert answer == ["__token__", "at-1"]
    assert [name for name in HEAVY if name in modules] == []
    assert again.stderr == ""


def test_the_keychain_token_store_works_beside_the_backend(config: Path, tmp_path: Path) -> None:
    # An index whose login keeps its token in the OS keychain: the backend, answering, reads
    # it through keyring; those nested calls go past the backend to the keychain.
    config.write_text(
        f'[indexes."{URL}"]\nauth_url = "https://sso.example.com/device"\n'
        f'token_url = "{TOKEN_URL}"\nclient_id = "pip"\nstore = "keyring"\n'
    )
    done = python(
        tmp_path,
        f"""
        import json
        from datetime import UTC, datetime, timedelta
        import file_keyring  # the OS keychain stand-in, priority 1
        import keyring
        from loctocat import Token
        from loctocat.store import KeyringTokenStore, keyring_usable, token_key

        chained = [type(b).__name__ for b in keyring.get_keyring().backends]
        store = KeyringTokenStore()
        key = token_key({TOKEN_URL!r}, "pip", (), None)
        expires = datetime.now(UTC) + timedelta(hours=1)
        store.save(key, Token("at-keychain", expires_at=expires, refresh_token="rt"))
        loaded = store.load(key).access_token
        credential = keyring.get_credential({URL!r}, None)
        print(json.dumps([
            type(keyring.get_keyring()).__name__, chained, keyring_usable(), loaded,
            store.keys(), [credential.username, credential.password],
        ]))
        """,
        cli_tests=True,
    )
    assert done.returncode == 0, done.stderr
    backend, chained, usable, loaded, keys, credential = json.loads(done.stdout)
    assert (backend, chained, usable) == ("ChainerBackend", ["IndexKeyring", "FileKeyring"], True)
    assert loaded == "at-keychain"
    assert len(keys) == 1
    assert credential == ["__token__", "at-keychain"]
    kept = json.loads((tmp_path / "keychain.json").read_text())
    assert {name.split("\0")[0] for name in kept} == {"loctocat"}  # nothing stored for the URL
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("table", "said"),
    [
        pytest.param(
            'auth_url = "https://sso.example.com/device"\ntoken_url = "https://sso.example.com/t"\n',
            f'loctocat: [indexes."{URL}"] of ',
            id="no-client-id",
        ),
        pytest.param(
            'auth_url = "https://sso.example.com/device"\ntoken_url = "https://sso.example.com/t"\n'
            'client_id = "pip"\nstore = "{tokens}"\n',
            f"loctocat: no token for the package index {URL}: ",
            id="a-token-file-it-cannot-read",
        ),
        pytest.param(
            'server = "work"\ncolour = "red"\n', "loctocat: in the config file ", id="bad-key"
        ),
    ],
)
def test_a_problem_is_one_line_on_stderr_and_no_answer(
    config: Path, tmp_path: Path, table: str, said: str
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"version": 99, "tokens": {}}')  # from a newer loctocat
    tokens.chmod(0o600)
    config.write_text(f'[indexes."{URL}"]\n' + table.format(tokens=tokens))
    done = python(
        tmp_path,
        f"""
        import keyring, keyring.cli
        print(keyring.get_credential({URL!r}, None), keyring.get_password({URL!r}, "__token__"))
        keyring.cli.main(["get", {URL!r}, "__token__"])
        """,
    )
    assert done.returncode == 1  # keyring get found nothing
    assert done.stdout == "None None\n"  # and printed nothing of its own
    [line] = done.stderr.splitlines()  # said once, however often asked
    assert line.startswith(said), line
