"""The ``--state`` option the ``serve``, ``keys`` and ``dashboard`` commands share, and opening the store."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sls_access.service.store.base import Store

__all__ = ["STATE_HELP", "add_state_option", "given_state", "open_state"]

STATE_HELP = (
    "the service's state: sqlite:///ABS/PATH or postgresql://... (default: $SLS_ACCESS_STATE, else "
    "sqlite:///$XDG_STATE_HOME/sls-access/service.db)"
)


def add_state_option(parser: argparse.ArgumentParser, help_text: str = STATE_HELP) -> None:
    """Add ``--state URL``."""
    parser.add_argument("--state", metavar="URL", help=help_text)


def given_state(args: argparse.Namespace) -> str | None:
    """Return ``--state``, else ``SLS_ACCESS_STATE``, else None (the command's default applies)."""
    return getattr(args, "state", None) or os.environ.get("SLS_ACCESS_STATE") or None


def open_state(url: str) -> Store:
    """Open the store at *url* (migrating its schema)."""
    from sls_access.service.store.url import open_store  # noqa: PLC0415 - the SQL stack only when needed

    return open_store(url)
