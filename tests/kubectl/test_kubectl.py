"""kubectl with a kubeconfig user made by `loctocat setup-kubectl`, against a loopback API server
that takes only the fake authorization server's ID tokens: the real kubectl runs the real
`loctocat kubectl-credential`, as on a person's machine, on a terminal and from a script."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kube_support import CLIENT_ID, USER, ApiServer
from login_support import ProgramRun, approving, device_requests, refresh_requests, run_program

from loctocat.testing import FakeAuthorizationServer

LOCTOCAT = [sys.executable, "-m", "loctocat"]
#: A quick failure: kubectl and one Python process start, and nothing waits.
FAST = 20.0


def loctocat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCTOCAT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def setup_kubectl(env: dict[str, str], selection: list[str], *extra: str) -> None:
    done = loctocat(env, "setup-kubectl", "--user", USER, *selection, *extra)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def run_kubectl(
    kubectl: str,
    env: dict[str, str],
    *args: str,
    terminal: bool = False,
    server: FakeAuthorizationServer | None = None,
    timeout: float = 60,
) -> ProgramRun:
    """kubectl on a terminal (each code shown approved at `server`), or from a script: no
    terminal at all, stdin /dev/null."""
    approve = server.approve if server is not None else None
    cwd = Path(env["HOME"])
    return run_program(
        [kubectl, *args], env, cwd, terminal=terminal, approve=approve, timeout=timeout
    )


def test_kubectl_logs_in_once_on_a_terminal_then_uses_the_stored_token(
    kubectl: str,
    kube_env: dict[str, str],
    kubeconfig: Path,
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    cluster: ApiServer,
) -> None:
    setup_kubectl(kube_env, selection)

    first = run_kubectl(
        kubectl, kube_env, "get", "--raw", "/api", terminal=True, server=fake_server
    )

    assert first.status == 0, first.output
    assert len(first.codes) == 1  # one approval
    assert '"kind":"APIVersions"' in first.output.replace(" ", "")
    [issued] = fake_server.issued_tokens
    assert cluster.tokens_taken() == [issued.id_token]  # the ID token, not the access token

    # From a script, later: the stored token, no login, nothing asked.
    again = run_kubectl(kubectl, kube_env, "get", "--raw", "/api")
    assert again.status == 0, again.output
    assert json.loads(again.output)["kind"] == "APIVersions"
    assert device_requests(fake_server) == 1
    assert cluster.tokens_taken()[-1] == issued.id_token


def test_without_a_terminal_kubectl_fails_at_once_naming_the_login_to_run(
    kubectl: str,
    kube_env: dict[str, str],
    kubeconfig: Path,
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    cluster: ApiServer,
) -> None:
    setup_kubectl(kube_env, selection)

    done = run_kubectl(kubectl, kube_env, "get", "--raw", "/api")

    assert done.status != 0
    assert done.seconds < FAST
    assert device_requests(fake_server) == 0  # no code asked for that no one would see
    [hint] = [line for line in done.stderr.splitlines() if line.startswith("loctocat:")]
    assert "not logged in to 127.0.0.1 for kubectl" in hint
    assert "without a terminal" in hint
    command = hint.split("run ", 1)[1].strip("'")
    assert command.startswith("loctocat login --issuer ")
    assert "--access-token" not in command

    # The command it names is the one that logs in: run it (approved), and kubectl works.
    words = command.split()[1:]
    with approving(fake_server):
        login = loctocat(kube_env, *words)
    assert login.returncode == 0, login.stderr
    after = run_kubectl(kubectl, kube_env, "get", "--raw", "/api")
    assert after.status == 0, after.output
    assert cluster.tokens_taken() == [fake_server.issued_tokens[-1].id_token]


def _expire_stored_token(token_store: Path) -> None:
    """As if an hour had passed: the stored access token and ID token have both expired."""
    document = json.loads(token_store.read_text())
    [entry] = document["tokens"].values()
    entry["expires_at"] = time.time() - 60
    entry["claims"]["exp"] = int(time.time()) - 60
    token_store.write_text(json.dumps(document))


def test_an_expired_token_is_refreshed_silently(
    kubectl: str,
    kube_env: dict[str, str],
    kubeconfig: Path,
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    cluster: ApiServer,
    token_store: Path,
) -> None:
    setup_kubectl(kube_env, selection)
    first = run_kubectl(
        kubectl, kube_env, "get", "--raw", "/api", terminal=True, server=fake_server
    )
    assert first.status == 0, first.output
    _expire_stored_token(token_store)

    done = run_kubectl(kubectl, kube_env, "get", "--raw", "/api")

    assert done.status == 0, done.output
    assert "loctocat" not in done.stderr  # silently
    assert refresh_requests(fake_server) == 1
    assert device_requests(fake_server) == 1
    refreshed = fake_server.issued_tokens[-1]
    assert refreshed.grant_type == "refresh_token"
    assert cluster.tokens_taken()[-1] == refreshed.id_token


def _counting(kubeconfig: Path, tmp_path: Path) -> Path:
    """Make the user's exec command count its runs: a wrapper that logs, then runs it."""
    count = tmp_path / "plugin-runs"
    wrapper = tmp_path / "counting-plugin"
    text = kubeconfig.read_text()
    wrapper.write_text(f'#!/bin/sh\necho run >> "{count}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    kubeconfig.write_text(text.replace(f"command: {sys.executable}", f"command: {wrapper}"))
    assert str(wrapper) in kubeconfig.read_text()
    return count


def test_kubectl_keeps_the_credential_until_its_expiration_timestamp(
    kubectl: str,
    kube_env: dict[str, str],
    kubeconfig: Path,
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    cluster: ApiServer,
    tmp_path: Path,
) -> None:
    setup_kubectl(kube_env, selection)
    runs = _counting(kubeconfig, tmp_path)
    first = run_kubectl(
        kubectl, kube_env, "get", "--raw", "/api", terminal=True, server=fake_server
    )
    assert first.status == 0, first.output
    assert runs.read_text().count("run") == 1

    # Discovery: several requests in one kubectl process, one run of the plugin for them all.
    before = len(cluster.tokens_taken())
    done = run_kubectl(kubectl, kube_env, "api-resources")
    assert done.status == 0, done.output
    assert len(cluster.tokens_taken()) - before >= 3
    assert runs.read_text().count("run") == 2

    # What kubectl was told: the ID token's own expiry.
    answer = loctocat(
        {**kube_env, "KUBERNETES_EXEC_INFO": _exec_info("v1", interactive=False)},
        "kubectl-credential",
        *selection,
    )
    credential = json.loads(answer.stdout)
    issued = fake_server.issued_tokens[-1]
    assert credential["status"]["token"] == issued.id_token
    exp = _claims(issued.id_token)["exp"]
    assert credential["status"]["expirationTimestamp"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)
    )


def _claims(id_token: str | None) -> dict[str, object]:
    import jwt

    assert id_token is not None
    claims: dict[str, object] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


def _exec_info(version: str, interactive: bool) -> str:
    return json.dumps(
        {
            "kind": "ExecCredential",
            "apiVersion": f"client.authentication.k8s.io/{version}",
            "spec": {"interactive": interactive},
        }
    )


def test_with_access_token_kubectl_gets_the_access_token(
    kubectl: str,
    kube_env: dict[str, str],
    kubeconfig: Path,
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    cluster: ApiServer,
) -> None:
    setup_kubectl(kube_env, selection, "--access-token")
    done = run_kubectl(kubectl, kube_env, "get", "--raw", "/api", terminal=True, server=fake_server)
    # The API server takes ID tokens only: the access token is refused, as a real one would.
    assert done.status != 0
    assert cluster.requests[-1].token == fake_server.issued_tokens[-1].access_token
    assert cluster.requests[-1].status == 401


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_the_answer_has_the_api_version_kubectl_asked_for(
    kube_env: dict[str, str],
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    version: str,
) -> None:
    with approving(fake_server):
        assert loctocat(kube_env, "login", *selection).returncode == 0
    env = {**kube_env, "KUBERNETES_EXEC_INFO": _exec_info(version, interactive=False)}

    done = loctocat(env, "kubectl-credential", *selection)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    answer = json.loads(done.stdout)
    assert answer["apiVersion"] == f"client.authentication.k8s.io/{version}"
    assert answer["kind"] == "ExecCredential"


@pytest.mark.parametrize(
    "info",
    [
        "not json",
        json.dumps(
            {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1alpha1"}
        ),
        json.dumps({"kind": "Pod"}),
    ],
)
def test_exec_info_loctocat_cannot_answer_is_one_line(
    kube_env: dict[str, str], selection: list[str], info: str
) -> None:
    done = loctocat({**kube_env, "KUBERNETES_EXEC_INFO": info}, "kubectl-credential", *selection)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("loctocat: ")
    assert "KUBERNETES_EXEC_INFO" in line or "apiVersion" in line


def test_an_id_token_loctocat_cannot_verify_is_not_handed_to_kubectl(
    kube_env: dict[str, str], fake_server: FakeAuthorizationServer, token_store: Path
) -> None:
    # Endpoints given by hand: loctocat does not know the issuer's keys.
    by_hand = [
        "--auth-url",
        fake_server.device_authorization_url,
        "--token-url",
        fake_server.token_url,
        "--client-id",
        CLIENT_ID,
        "--scope",
        "openid",
        "--store",
        str(token_store),
    ]
    with approving(fake_server):
        assert loctocat(kube_env, "login", *by_hand).returncode == 0
    env = {**kube_env, "KUBERNETES_EXEC_INFO": _exec_info("v1", interactive=False)}

    done = loctocat(env, "kubectl-credential", *by_hand)

    assert done.returncode == 1
    assert done.stdout == ""
    assert "could not be verified" in done.stderr
    assert "--issuer" in done.stderr
    assert "--access-token" in done.stderr
    with_access = loctocat(env, "kubectl-credential", *by_hand, "--access-token")
    assert json.loads(with_access.stdout)["status"]["token"] == (
        fake_server.issued_tokens[-1].access_token
    )


# --- setup-kubectl -----------------------------------------------------------------------------


def test_print_is_the_kubectl_command_that_does_the_same(
    kubectl: str, kube_env: dict[str, str], kubeconfig: Path, selection: list[str], tmp_path: Path
) -> None:
    printed = loctocat(kube_env, "setup-kubectl", "--user", USER, *selection, "--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stderr == ""
    [command] = printed.stdout.splitlines()
    assert command.startswith("kubectl config set-credentials sso ")
    assert "name: sso" not in kubeconfig.read_text()  # printed, not done

    by_kubectl = tmp_path / "by-kubectl"
    by_kubectl.write_text(kubeconfig.read_text())
    env = {**kube_env, "KUBECONFIG": str(by_kubectl)}
    subprocess.run(["sh", "-c", command], env=env, check=True, capture_output=True, timeout=60)
    setup_kubectl(kube_env, selection)

    def user(path: Path) -> object:
        view = subprocess.run(
            [kubectl, "config", "view", "-o", "json", "--kubeconfig", str(path)],
            env=kube_env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return next(u for u in json.loads(view.stdout)["users"] if u["name"] == USER)

    assert user(by_kubectl) == user(kubeconfig)


KUBECTL_STYLE = """\
# Clusters I work on
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: QUJD
    server: https://10.0.0.1:6443  # production
  name: prod
contexts:
- context: {cluster: prod, user: admin}
  name: prod
current-context: prod
kind: Config
preferences: {}
users:
- name: admin
  user:
    token: "a-token-kept-as-it-was"
"""

INDENTED_STYLE = """\
---
apiVersion: v1
kind: Config
clusters:
  - name: prod
    cluster:
      server: 'https://10.0.0.1:6443'
users:
  - name: admin   # the break-glass account
    user:
      client-certificate-data: QUJD
"""


@pytest.mark.parametrize("original", [KUBECTL_STYLE, INDENTED_STYLE], ids=["kubectl", "indented"])
def test_setup_kubectl_keeps_every_other_line_of_the_kubeconfig(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path, original: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(original)
    path.chmod(0o640)

    added = loctocat(kube_env, "setup-kubectl", "--user", USER, *selection)

    assert added.returncode == 0, added.stderr
    said = " ".join(added.stderr.split())
    assert f"Added user {USER}" in said
    # How to use it: in the current context, or one to make when there is none.
    where = "--current" if "current-context" in original else "CONTEXT --cluster=CLUSTER"
    assert f"kubectl config set-context {where} --user=sso" in said
    text = path.read_text()
    assert _removed_lines(original, text) == []  # only lines added
    assert "kubectl-credential" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    again = loctocat(kube_env, "setup-kubectl", "--user", USER, *selection)
    assert "no change" in again.stderr
    assert path.read_text() == text

    removed = loctocat(kube_env, "setup-kubectl", "--user", USER, "--unset")
    assert removed.returncode == 0, removed.stderr
    assert path.read_text() == original  # exactly as it was


def _removed_lines(before: str, after: str) -> list[str]:
    import difflib

    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line for line in diff if line.startswith("- ")]


def test_setup_kubectl_creates_a_private_kubeconfig_and_updates_its_own_entry(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    assert not path.exists()
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "kind: Config" in path.read_text()

    updated = loctocat(kube_env, "setup-kubectl", "--user", USER, *selection, "--access-token")
    assert f"Updated user {USER}" in updated.stderr
    assert path.read_text().count("name: sso") == 1
    assert "--access-token" in path.read_text()


def test_setup_kubectl_never_replaces_credentials_of_another_kind(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECTL_STYLE)

    done = loctocat(kube_env, "setup-kubectl", "--user", "admin", *selection)

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "user admin" in line
    assert "kubectl config delete-user admin" in line
    assert path.read_text() == KUBECTL_STYLE
    unset = loctocat(kube_env, "setup-kubectl", "--user", "admin", "--unset")
    assert "does not log in with loctocat" in " ".join(unset.stderr.split())
    assert path.read_text() == KUBECTL_STYLE


def test_setup_kubectl_changes_the_kubeconfig_file_kubectl_would(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    second.write_text(KUBECTL_STYLE)
    env = {**kube_env, "KUBECONFIG": f"{first}:{second}:{third}"}

    assert loctocat(env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    assert not first.exists()  # the first file that exists
    assert not third.exists()
    assert "kubectl-credential" in second.read_text()

    # A user is changed in the file that defines it, even when it is not the first.
    first.write_text(INDENTED_STYLE)
    assert (
        loctocat(env, "setup-kubectl", "--user", USER, *selection, "--access-token").returncode == 0
    )
    assert "--access-token" in second.read_text()
    assert first.read_text() == INDENTED_STYLE


@pytest.mark.parametrize(
    "secret", [["--client-secret", "s3cret"], ["--client-secret-stdin"]], ids=["flag", "stdin"]
)
def test_setup_kubectl_never_writes_a_client_secret(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path, secret: list[str]
) -> None:
    done = loctocat(kube_env, "setup-kubectl", "--user", USER, *selection, *secret)
    assert done.returncode == 2
    assert "--secret-env" in done.stderr
    assert not (tmp_path / "kubeconfig").exists()


def test_the_docs_show_what_setup_kubectl_writes_and_prints(
    kube_env: dict[str, str], fake_server: FakeAuthorizationServer, tmp_path: Path
) -> None:
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "kubectl.md").read_text()
    documented = re.search(r"```yaml\n(.*?)```", page, flags=re.DOTALL)
    printed = re.search(r"^(kubectl config set-credentials .*)$", page, flags=re.MULTILINE)
    assert documented is not None
    assert printed is not None
    options = [
        "--issuer", fake_server.issuer, "--client-id", "kubernetes", "--scope", "openid",
    ]  # fmt: skip

    def as_documented(text: str) -> str:
        text = text.replace(fake_server.issuer, "https://sso.example.com")
        return text.replace(sys.executable, "/usr/bin/python3")

    done = loctocat(kube_env, "setup-kubectl", "--user", "sso", *options, "--print")
    assert as_documented(done.stdout.strip()) == printed[1]
    more = [*options, "--scope", "offline_access"]
    assert loctocat(kube_env, "setup-kubectl", "--user", "sso", *more).returncode == 0
    written = (tmp_path / "kubeconfig").read_text()
    assert as_documented(written[written.index("users:") :]) == documented[1]


# --- kubeconfigs as people have them ------------------------------------------------------------


def _kubectl_view(kubectl: str, env: dict[str, str], path: Path) -> dict[str, object]:
    view = subprocess.run(
        [kubectl, "config", "view", "-o", "json", "--kubeconfig", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert view.returncode == 0, path.read_text() + view.stderr
    document: dict[str, object] = json.loads(view.stdout)
    return document


def test_words_yaml_1_1_reads_as_booleans_stay_strings_for_kubectl(
    kubectl: str, kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    # kubectl reads YAML 1.1, where no, on, y and 010 are not strings.
    done = loctocat(kube_env, "setup-kubectl", "--user", "no", *selection, "--account", "on")
    assert done.returncode == 0, done.stderr

    [user] = _kubectl_view(kubectl, kube_env, tmp_path / "kubeconfig")["users"]  # type: ignore[misc]
    assert user["name"] == "no"
    assert user["user"]["exec"]["args"][-2:] == ["--account", "on"]


def test_unset_leaves_a_kubeconfig_kubectl_reads(
    kubectl: str, kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nusers: []  # none yet\ncontexts: []\n")
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, "--unset").returncode == 0

    assert _kubectl_view(kubectl, kube_env, path)["users"] is None  # an empty list, to kubectl
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0


def test_print_quotes_arguments_kubectl_would_split(
    kubectl: str, kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    odd = [*selection, "--account", 'work,team "a"']
    printed = loctocat(kube_env, "setup-kubectl", "--user", USER, *odd, "--print")
    by_kubectl = tmp_path / "by-kubectl"
    env = {**kube_env, "KUBECONFIG": str(by_kubectl)}
    subprocess.run(["sh", "-c", printed.stdout], env=env, check=True, capture_output=True)
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *odd).returncode == 0

    mine = _kubectl_view(kubectl, kube_env, tmp_path / "kubeconfig")["users"]
    assert _kubectl_view(kubectl, kube_env, by_kubectl)["users"] == mine
    assert mine[0]["user"]["exec"]["args"][-1] == 'work,team "a"'  # type: ignore[index]


def test_unset_with_print_prints_and_changes_nothing(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    before = path.read_text()

    done = loctocat(kube_env, "setup-kubectl", "--user", USER, "--unset", "--print")

    assert done.stdout == "kubectl config delete-user sso\n"
    assert path.read_text() == before


def test_setup_kubectl_runs_together_lose_no_user(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    names = ["a", "b", "c", "d"]
    runs = [
        subprocess.Popen(
            [*LOCTOCAT, "setup-kubectl", "--user", name, *selection],
            env=kube_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for process in runs:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr

    text = (tmp_path / "kubeconfig").read_text()
    assert [name for name in names if f"- name: {name}\n" in text] == names
    assert not (tmp_path / "kubeconfig.lock").exists()


@pytest.mark.parametrize(
    "original",
    [
        KUBECTL_STYLE.replace("\n", "\r\n"),
        "\ufeff" + KUBECTL_STYLE,
        KUBECTL_STYLE.replace("QUJD", "QUJD" * 1500),  # a 6 KB line: certificate data
        INDENTED_STYLE.replace("kind: Config", "kind: Config "),  # a trailing space
    ],
    ids=["crlf", "bom", "long-line", "trailing-space"],
)
def test_setup_and_unset_give_the_file_back_byte_for_byte(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path, original: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(original.encode())
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    added = path.read_bytes().decode()
    assert added.startswith(original[:40])
    assert _removed_lines(original, added) == []

    assert loctocat(kube_env, "setup-kubectl", "--user", USER, "--unset").returncode == 0
    assert path.read_bytes() == original.encode()


@pytest.mark.parametrize("refresh", ["none", "refused"])
def test_an_expired_id_token_is_renewed_by_a_login_on_a_terminal(
    kube_env: dict[str, str],
    selection: list[str],
    fake_server: FakeAuthorizationServer,
    token_store: Path,
    refresh: str,
) -> None:
    # Some services' ID tokens end before their access tokens; with no refresh token (or a
    # refused one) only a new login brings a valid one.
    with approving(fake_server):
        assert loctocat(kube_env, "login", *selection).returncode == 0
    document = json.loads(token_store.read_text())
    [entry] = document["tokens"].values()
    entry["claims"]["exp"] = int(time.time()) - 60
    if refresh == "none":
        del entry["response"]["refresh_token"]
    else:
        entry["response"]["refresh_token"] = "refused"
    token_store.write_text(json.dumps(document))
    plugin = [*LOCTOCAT, "kubectl-credential", *selection]

    script = {**kube_env, "KUBERNETES_EXEC_INFO": _exec_info("v1", interactive=False)}
    unattended = loctocat(script, "kubectl-credential", *selection)
    assert unattended.returncode == 6
    assert "run 'loctocat login " in unattended.stderr

    env = {**kube_env, "KUBERNETES_EXEC_INFO": _exec_info("v1", interactive=True)}
    done = run_program(
        plugin, env, Path(kube_env["HOME"]), terminal=True, approve=fake_server.approve
    )
    assert done.status == 0, done.output
    assert len(done.codes) == 1
    assert fake_server.issued_tokens[-1].id_token in done.output.replace("\r\n", "")


def test_a_json_kubeconfig_stays_json_and_a_comment_only_one_keeps_its_comment(
    kube_env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    original = {"apiVersion": "v1", "kind": "Config", "users": [{"name": "a", "user": {}}]}
    path.write_text(json.dumps(original, indent=2) + "\n")
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    changed = json.loads(path.read_text())
    assert [user["name"] for user in changed["users"]] == ["a", USER]
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, "--unset").returncode == 0
    assert path.read_text() == json.dumps(original, indent=2) + "\n"

    path.write_text("# kept by the team: do not remove\n")
    assert loctocat(kube_env, "setup-kubectl", "--user", USER, *selection).returncode == 0
    assert path.read_text().startswith("# kept by the team: do not remove\napiVersion: v1\n")
