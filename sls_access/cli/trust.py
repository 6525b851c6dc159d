"""``sls-access trust``: let a project dashboard file be used, or stop it being used.

A project file (``sls-access.toml`` in the current directory or a parent) decides which
access role the user's own keys enter; it is used only once trusted, as ``direnv allow``
works. ``trust`` records the file's resolved path and SHA-256 (see
:mod:`sls_access.dashboard.trust`); a file that does not parse is refused, and so is one
that another user owns or could replace (:mod:`sls_access.dashboard.owner`). ``--revoke``
forgets it. Without FILE: the project file found from the current directory.
"""

from __future__ import annotations

import argparse
import os
import sys

from sls_access.cli._common import Subcommands
from sls_access.dashboard.locate import find_project_file
from sls_access.dashboard.trust import PROJECT_FILE, revoke, trust
from sls_access.errors import ConfigError

__all__ = ["add_parser", "handle"]


def add_parser(subparsers: Subcommands) -> None:
    """Register ``trust``."""
    parser = subparsers.add_parser(
        "trust",
        help=f"trust a project {PROJECT_FILE} (record its SHA-256), or --revoke",
        description=f"Trust the project dashboard file FILE (default: the {PROJECT_FILE} in the current "
        "directory or its nearest parent): record its path and SHA-256 in "
        "$XDG_STATE_HOME/sls-access/trusted.json. A project file is used only while it is "
        "trusted and unchanged. Review it first: it decides which AWS account your keys enter.",
    )
    parser.add_argument("file", nargs="?", metavar="FILE", help=f"the {PROJECT_FILE} (default: found from here)")
    parser.add_argument("--revoke", action="store_true", help="forget the trust instead")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    parser.set_defaults(handler=handle)


def _file(args: argparse.Namespace) -> str:
    if args.file is not None:
        return str(args.file)
    found = find_project_file(check_owner=not args.revoke)  # another user's file may be forgotten
    if found is None:
        raise ConfigError(f"no {PROJECT_FILE} in {os.getcwd()} or a parent; name the file: sls-access trust FILE")
    return str(found)


def handle(args: argparse.Namespace) -> int:
    """Record (or forget) the trust in the project file."""
    if args.revoke:
        path, was = revoke(_file(args))
        sys.stdout.write(f"revoked trust in {path}\n" if was else f"{path} was not trusted\n")
        return 0
    path, sha256 = trust(_file(args))
    sys.stdout.write(f"trusted {path} (sha256 {sha256})\n")
    return 0
