"""loctocat's version, read once from the installed package's metadata (pyproject.toml)."""

from __future__ import annotations

import functools

__all__ = ["version"]


@functools.cache
def version() -> str:
    """The installed loctocat's version, e.g. "2.0.0"; "0+unknown" when it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("loctocat")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
