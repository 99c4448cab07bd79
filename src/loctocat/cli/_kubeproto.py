"""kubectl's exec credential protocol (client.authentication.k8s.io), as data in and out.

kubectl (client-go) runs the plugin with `KUBERNETES_EXEC_INFO` set to an `ExecCredential`
whose `spec.interactive` says whether the plugin may use the terminal, and reads an
`ExecCredential` of the same `apiVersion` from its stdout, with `status.token` and
`status.expirationTimestamp` (RFC 3339): it reuses that token, in the same process, until then.
"""

from __future__ import annotations

import json
import time

#: The versions of the protocol loctocat speaks, newest first (v1alpha1 ended in Kubernetes 1.24).
API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
#: The environment variable kubectl describes the call in.
EXEC_INFO = "KUBERNETES_EXEC_INFO"


class ExecInfoError(ValueError):
    """`KUBERNETES_EXEC_INFO` cannot be answered; the message says why and what to do."""


def read_exec_info(raw: str | None) -> tuple[str, bool | None]:
    """The `apiVersion` to answer with, and whether kubectl lets the plugin use the terminal
    (`spec.interactive`; None without `KUBERNETES_EXEC_INFO`: run by hand)."""
    if not raw:
        return API_VERSIONS[0], None
    try:
        info = json.loads(raw)
    except ValueError:
        raise ExecInfoError(f"{EXEC_INFO} is not JSON: run this command from kubectl") from None
    if not isinstance(info, dict) or info.get("kind") != "ExecCredential":
        raise ExecInfoError(f"{EXEC_INFO} is not an ExecCredential: run it from kubectl")
    version = info.get("apiVersion")
    if version not in API_VERSIONS:
        raise ExecInfoError(
            f"kubectl asks for an ExecCredential of apiVersion {version!r}, which loctocat does "
            f"not speak: set apiVersion: {API_VERSIONS[0]} in the kubeconfig's exec entry "
            "('loctocat setup-kubectl' writes it)"
        )
    spec = info.get("spec")
    interactive = spec.get("interactive") if isinstance(spec, dict) else None
    return str(version), interactive is True


def exec_credential(api_version: str, token: str, expires_at: float | None) -> str:
    """The `ExecCredential` answer: kubectl keeps `token` until `expires_at` (Unix time)."""
    status: dict[str, str] = {"token": token}
    if expires_at is not None:
        # Whole seconds, rounded down: kubectl never keeps the token past its real end.
        status["expirationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
    answer = {"apiVersion": api_version, "kind": "ExecCredential", "status": status}
    return json.dumps(answer) + "\n"
