"""Predefined authenticators for services that offer the device flow.

```python
from loctocat.predefined import GitHubAuthenticator

token = GitHubAuthenticator(client_id="Iv1.0123456789abcdef", scopes=["repo"]).authenticate()
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loctocat.auth import AsyncAuthenticator, Authenticator

__all__ = ["AsyncGitHubAuthenticator", "GitHubAuthenticator"]

# https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow
_GITHUB_DEVICE_URL = "https://github.com/login/device/code"
_GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"


class GitHubAuthenticator(Authenticator):
    """Log in to GitHub with the device flow.

    Enable "Device Flow" in your OAuth app's or GitHub App's settings first; no client secret
    is needed. Source: GitHub Docs, "Authorizing OAuth apps", section "Device flow".

    Args:
        client_id: your OAuth app's or GitHub App's client ID.
        scopes: OAuth app scopes such as ["repo"] (GitHub Apps ignore them).
        **options: any keyword-only option of `Authenticator` (http_client, timeout, ...).
    """

    def __init__(
        self, client_id: str, scopes: Iterable[str] | str | None = None, **options: Any
    ) -> None:
        super().__init__(client_id, _GITHUB_DEVICE_URL, _GITHUB_TOKEN_URL, scopes, **options)


class AsyncGitHubAuthenticator(AsyncAuthenticator, GitHubAuthenticator):
    """`GitHubAuthenticator` with awaitable methods, for asyncio and trio."""
