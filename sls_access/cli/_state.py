"""The ``--state`` option the ``serve``, ``keys`` and ``dashboard`` commands share, and opening the store."""

from __future__ import annotations

import argparse
import os
import urllib.parse
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
    """Return ``--state``, else ``SLS_ACCESS_STATE``, else None (the command's default applies).

    A ``--state`` URL that carries a password is refused: a command line lands in ``ps``
    and in shell history (the reason there is no flag for an access key). The password
    goes in ``SLS_ACCESS_STATE``, or in PostgreSQL's own ``PGPASSFILE``/``PGPASSWORD``.
    """
    flag = getattr(args, "state", None)
    if flag:
        try:
            password = urllib.parse.urlsplit(flag).password
        except ValueError:
            password = None  # a malformed URL: the store says what is wrong with it
        if password is not None:
            from sls_access.cli._common import EXIT_USAGE, CliError  # noqa: PLC0415 - keep this module light

            raise CliError(
                "--state must not carry a password (it would show in ps and in shell history): "
                "set SLS_ACCESS_STATE instead, or use PGPASSFILE",
                code=EXIT_USAGE,
            )
        return str(flag)
    return os.environ.get("SLS_ACCESS_STATE") or None


def open_state(url: str) -> Store:
    """Open the store at *url* (migrating its schema)."""
    from sls_access.service.store.url import open_store  # noqa: PLC0415 - the SQL stack only when needed

    return open_store(url)
