"""loctocat's version: the one place it is written (pyproject.toml reads it from here).

A literal, not a look-up in the installed package's metadata: `importlib.metadata` costs about
17 ms of start-up (it imports the `email` package), paid before the first prompt and in every
User-Agent.
"""

from __future__ import annotations

__all__ = ["__version__", "version"]

__version__ = "2.0.0"


def version() -> str:
    """The running loctocat's version, e.g. "2.0.0"."""
    return __version__
