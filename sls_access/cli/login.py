"""``sls-access login`` and ``logout``: the user's own dashboard, stored once.

``login --dashboard FILE_OR_URL`` stores the absolute path or the service URL in
``$XDG_CONFIG_HOME/sls-access/config.toml`` (see :mod:`sls_access.dashboard.login`),
used wherever no ``--dashboard``/``SLS_ACCESS_DASHBOARD`` and no project file applies.
For a service it asks for the access key without echo (read from stdin when stdin is
not a terminal): never from a flag, never printed. ``logout`` removes both files.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sls_access.cli._common import EXIT_USAGE, CliError, Subcommands
from sls_access.dashboard.http import base_url, is_service_url
from sls_access.dashboard.login import access_key_path, config_path, login, logout

__all__ = ["add_parser", "handle_login", "handle_logout"]


def add_parser(subparsers: Subcommands) -> None:
    """Register ``login`` and ``logout``."""
    parser = subparsers.add_parser(
        "login",
        help="store your dashboard (a file or a service URL and its access key)",
        description="Store the dashboard to use wherever no --dashboard, SLS_ACCESS_DASHBOARD or trusted "
        "project file applies, in $XDG_CONFIG_HOME/sls-access/config.toml (0600). For a "
        "dashboard service, the access key is asked for without echo (read from stdin when it "
        "is not a terminal) and stored beside it in access-key (0600); SERVERLESS_ACCESS_KEY "
        "still wins over it.",
    )
    parser.add_argument(
        "--dashboard",
        required=True,
        metavar="FILE_OR_URL",
        help="a dashboard file (stored as an absolute path) or a dashboard service URL",
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    parser.set_defaults(handler=handle_login)
    out = subparsers.add_parser(
        "logout",
        help="remove what 'login' stored",
        description="Remove the dashboard and access key stored by 'sls-access login'.",
    )
    out.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    out.set_defaults(handler=handle_logout)


def _read_key(url: str) -> str:
    if sys.stdin is None:
        raise CliError("no stdin to read the access key from", code=EXIT_USAGE)
    # getpass writes its prompt to the terminal, not stdout; a pipe gives the key on one line.
    key = getpass.getpass(f"Access key for {url}: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise CliError("no access key given", code=EXIT_USAGE)
    return key


def handle_login(args: argparse.Namespace) -> int:
    """Store the dashboard (and a service's access key)."""
    location: str = args.dashboard
    key = _read_key(base_url(location)) if is_service_url(location) else None  # a bad URL fails first
    stored = login(location, key)
    note = f" (access key stored in {access_key_path()})" if key is not None else ""
    sys.stdout.write(f"dashboard {stored} stored in {config_path()}{note}\n")
    return 0


def handle_logout(args: argparse.Namespace) -> int:
    """Remove the stored dashboard and access key."""
    removed = logout()
    if removed:
        sys.stdout.writelines(f"removed {path}\n" for path in removed)
    else:
        sys.stdout.write("not logged in: nothing to remove\n")
    return 0
