"""`loctocat setup-index` and the `[indexes."URL"]` tables of the config file.

setup-index edits the config file's text: every byte outside the one table it writes, replaces
or removes stays as it was (comments included), and running it twice changes nothing. The
tables are checked like the rest of the file: every problem names the file and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from loctocat.cli import EXIT_OK, EXIT_USAGE, UsageError, load_config, main

URL = "https://pypi.example.com/simple/"
ENDPOINTS = [
    "--auth-url", "https://sso.example.com/device",
    "--token-url", "https://sso.example.com/token",
    "--client-id", "pip",
]  # fmt: skip
ORIGINAL = """\
# My loctocat config: keep these comments.
store = "file"   # tokens in a file

[servers.work]
auth_url = "https://sso.example.com/device"
token_url = "https://sso.example.com/token"
client_id = "cli"   # the CLI's client

# The staging server comes last.
[servers.staging]
issuer = "https://sso.staging.example.com"
client_id = "cli-staging\""""  # no newline at the end


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(ORIGINAL)
    monkeypatch.setenv("LOCTOCAT_CONFIG", str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return path


def setup_index(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `loctocat setup-index *args`: its exit code and stderr (stdout must stay empty)."""
    code = main(["setup-index", *args])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


def indexes(path: Path) -> dict[str, object]:
    tables: dict[str, object] = tomllib.loads(path.read_text()).get("indexes", {})
    return tables


# --- writing, replacing, removing -----------------------------------------------------------------


def test_setup_index_appends_one_table_and_keeps_every_other_byte(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = setup_index(capsys, URL, *ENDPOINTS, "--scope", "read write")
    assert code == EXIT_OK, said
    assert config.read_text() == ORIGINAL + (
        "\n\n"
        '[indexes."https://pypi.example.com/simple/"]\n'
        'auth_url = "https://sso.example.com/device"\n'
        'token_url = "https://sso.example.com/token"\n'
        'client_id = "pip"\n'
        'scopes = ["read", "write"]\n'
        'username = "__token__"\n'
    )
    assert f"Set up the package index {URL}" in said
    lines = said.splitlines()
    assert f"  pip install --keyring-provider import --index-url {URL} PACKAGE" in lines
    with_user = "https://__token__@pypi.example.com/simple/"
    assert (
        f"  uv pip install --keyring-provider subprocess --index-url {with_user} PACKAGE" in lines
    )
    assert load_config().indexes[URL]["client_id"] == "pip"


def test_running_it_twice_changes_nothing_and_unset_restores_the_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_index(capsys, URL, *ENDPOINTS)
    written = config.read_bytes()
    # The same index, however its URL is written.
    code, said = setup_index(capsys, "HTTPS://PyPI.example.com:443/simple", *ENDPOINTS)
    assert code == EXIT_OK
    assert config.read_bytes() == written
    assert "already set up so" in said

    code, said = setup_index(capsys, URL, "--unset")
    assert code == EXIT_OK
    assert config.read_text() == ORIGINAL + "\n"  # the file now ends its last line
    assert f"Removed the package index {URL}" in said
    code, said = setup_index(capsys, URL, "--unset")
    assert code == EXIT_OK
    assert "was not set up" in said
    assert config.read_text() == ORIGINAL + "\n"


def test_another_login_replaces_the_table_where_it_stands(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A table the user wrote by hand, between two others, with a comment after it.
    before, after = ORIGINAL.split("# The staging server")
    config.write_text(
        before
        + '[indexes."https://pypi.example.com/simple"]\nserver = "work"   # for now\n\n'
        + "# The staging server"
        + after
    )
    code, said = setup_index(capsys, URL, *ENDPOINTS, "--username", "oauth2accesstoken")
    assert code == EXIT_OK, said
    assert "Changed the package index" in said
    assert config.read_text() == (
        before
        + '[indexes."https://pypi.example.com/simple/"]\n'
        + 'auth_url = "https://sso.example.com/device"\n'
        + 'token_url = "https://sso.example.com/token"\n'
        + 'client_id = "pip"\n'
        + 'username = "oauth2accesstoken"\n\n'
        + "# The staging server"
        + after
    )


def test_a_server_or_provider_is_written_by_name_and_a_store_path_made_absolute(
    config: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GH_SECRET", "s3cret")  # its name is written, never its value
    code, said = setup_index(capsys, URL, "work", "--store", "tokens.json")
    assert code == EXIT_OK, said
    code, said = setup_index(
        capsys, "https://ghe.example.com/pypi/", "github", "--host", "ghe.example.com",
        "--client-id", "Iv1.x", "--secret-env", "GH_SECRET", "--account", "ci",
    )  # fmt: skip
    assert code == EXIT_OK, said
    assert indexes(config) == {
        URL: {"server": "work", "store": str(tmp_path / "tokens.json"), "username": "__token__"},
        "https://ghe.example.com/pypi/": {
            "provider": "github",
            "client_id": "Iv1.x",
            "secret_env": "GH_SECRET",
            "host": "ghe.example.com",
            "account": "ci",
            "username": "__token__",
        },
    }


def test_a_missing_config_file_is_made_readable_only_by_you(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LOCTOCAT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    code, said = setup_index(capsys, URL, *ENDPOINTS)
    assert code == EXIT_OK, said
    path = tmp_path / "xdg" / "loctocat" / "config.toml"
    assert path.read_text().startswith('[indexes."https://pypi.example.com/simple/"]\n')
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "xdg" / "loctocat").stat().st_mode & 0o777 == 0o700


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["http://pypi.example.com/simple/", *ENDPOINTS], "over https:// only"),
        (["https://me@pypi.example.com/simple/", *ENDPOINTS], "give the username apart"),
        (["https://pypi.example.com/simple/?x=1", *ENDPOINTS], "no query"),
        (["pypi.example.com/simple/", *ENDPOINTS], "starts with https://"),
        ([URL, *ENDPOINTS, "--client-secret", "s3cret"], "--secret-env VAR"),
        ([URL, *ENDPOINTS, "--timeout", "5"], "--timeout is not kept"),
        ([URL, *ENDPOINTS, "--username", "a:b"], "without ':'"),
        ([URL, "--auth-url", "https://sso.example.com/device"], "--token-url is missing"),
        ([URL, "nowhere", "--client-id", "x"], "unknown provider 'nowhere'"),
    ],
)
def test_what_cannot_be_written_is_refused_in_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, err = setup_index(capsys, *args)
    assert code == EXIT_USAGE
    [line] = err.splitlines()
    assert line.startswith("loctocat: ")
    assert said in line
    assert config.read_text() == ORIGINAL


def test_a_plain_http_loopback_index_is_allowed(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = setup_index(capsys, "http://127.0.0.1:8080/simple/", *ENDPOINTS)
    assert code == EXIT_OK, said
    assert "http://127.0.0.1:8080/simple/" in indexes(config)


def test_an_index_written_another_way_is_left_to_edit_by_hand(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f'indexes = {{ "{URL}" = {{ server = "work" }} }}\n' + ORIGINAL
    config.write_text(text)
    code, err = setup_index(capsys, URL, *ENDPOINTS)
    assert code == 1
    assert "edit the file by hand" in err
    assert config.read_text() == text

    # A table added after an inline table of indexes would be invalid TOML: checked, refused.
    code, err = setup_index(capsys, "https://other.example.com/simple/", *ENDPOINTS)
    assert code == 1
    assert "could not be edited safely; add this table to it by hand" in err
    assert config.read_text() == text


def test_a_broken_config_file_is_never_edited(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text("colour = 'red'\n" + ORIGINAL)
    code, err = setup_index(capsys, URL, *ENDPOINTS)
    assert code == EXIT_USAGE
    assert "unknown key 'colour'" in err
    assert config.read_text() == "colour = 'red'\n" + ORIGINAL


# --- the tables, checked --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("indexes = 3\n", "'indexes' must be a table"),
        ('[indexes."ftp://x.example/"]\nserver = "work"\n', 'indexes."ftp://x.example/"'),
        ('[indexes."http://x.example/"]\nserver = "work"\n', "over https:// only"),
        (
            '[indexes."https://x.example/s"]\nserver = "work"\n'
            '[indexes."https://X.example/s/"]\nserver = "work"\n',
            "another table names the same index, https://x.example/s/",
        ),
        ('[indexes."https://x.example/"]\nserver = "work"\ncolour = 1\n', "colour: unknown key"),
        ('[indexes."https://x.example/"]\nclient_id = "x"\n', "name the server one way"),
        (
            '[indexes."https://x.example/"]\nserver = "work"\nissuer = "https://a.example"\n',
            "name the server one way",
        ),
        ('[indexes."https://x.example/"]\nserver = "nope"\n', "no [servers.nope] in this file"),
        ('[indexes."https://x.example/"]\nserver = "work"\nusername = ""\n', "non-empty string"),
        ('[indexes."https://x.example/"]\nprovider = "gitbub"\n', "unknown provider"),
        ('[indexes."https://x.example/"]\nprovider = "github"\nrealm = "r"\n', "realm: unknown"),
    ],
)
def test_broken_index_tables_are_named(
    config: Path, text: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Top-level keys first: after ORIGINAL they would belong to its last table.
    config.write_text(text + ORIGINAL if text.startswith("indexes =") else ORIGINAL + "\n" + text)
    with pytest.raises(UsageError) as caught:
        load_config()
    assert str(caught.value).startswith(f"in the config file {config}: ")
    assert said in str(caught.value)


def test_index_tables_are_keyed_by_their_normalized_url(config: Path) -> None:
    config.write_text(
        ORIGINAL + '\n[indexes."HTTPS://PyPI.Example.com:443/simple"]\nprovider = "github"\n'
        'client_id = "Iv1.x"\nhost = "ghe.example.com"\nscopes = "read write"\n'
    )
    assert load_config().indexes == {
        URL: {
            "provider": "github",
            "client_id": "Iv1.x",
            "host": "ghe.example.com",
            "scopes": ["read", "write"],
        }
    }
    assert os.environ["LOCTOCAT_CONFIG"] == str(config)


def test_the_config_file_of_the_docs_is_valid(config: Path) -> None:
    page = (Path(__file__).parents[2] / "docs" / "pip.md").read_text(encoding="utf-8")
    [block] = re.findall(r"^```toml\n(.*?)^```$", page, flags=re.MULTILINE | re.DOTALL)
    config.write_text(block)
    assert sorted(load_config().indexes) == [
        "https://gitlab.example.com/api/v4/groups/42/-/packages/pypi/simple/",
        "https://pypi.example.com/simple/",
        "https://pypi.example.com/upload/",
    ]
