"""``sls-access keys``: create, list and revoke the dashboard service's access keys.

Keys live as SHA-256 hashes in the key file beside the dashboard file
(``<dashboard stem>.keys.json``); the dashboard file itself is never written. ``create``
prints the new key once, as the last line of stdout: it cannot be shown again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sls_access.cli._common import Subcommands, print_json
from sls_access.dashboard.file import load_dashboard_file
from sls_access.errors import ConfigError

if TYPE_CHECKING:
    from sls_access.service.keys import KeyStore

__all__ = ["add_parser", "handle_create", "handle_list", "handle_revoke"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dashboard", required=True, metavar="FILE", help="the dashboard file the keys are for")
    parser.add_argument("--keys", metavar="FILE",
                        help="the key file (default: <dashboard stem>.keys.json beside the dashboard)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of errors")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``keys`` and its ``create``, ``list`` and ``revoke`` commands."""
    parser = subparsers.add_parser(
        "keys",
        help="create, list and revoke the dashboard service's access keys",
        description="Manage the access keys clients of 'sls-access serve' authenticate with. Only "
                    "hashes are stored, in a file beside the dashboard file.",
    )
    commands = parser.add_subparsers(title="commands", dest="keys_command", metavar="COMMAND",
                                     parser_class=type(parser))
    commands.required = True
    create = commands.add_parser("create", help="create a key for an org; prints it once (last line)",
                                 description="Create an access key for ORG named NAME. The key is "
                                             "printed once, as the last line of stdout; store it now.")
    _common(create)
    create.add_argument("--org", required=True, help="the org the key may vend for")
    create.add_argument("--name", required=True, help="a name for the key, unique in the org (e.g. ci-deploy)")
    create.set_defaults(handler=handle_create)
    listing = commands.add_parser("list", help="list keys (names, orgs, creation times; never keys)")
    _common(listing)
    listing.add_argument("--org", help="only this org's keys")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.add_argument("--all", action="store_true", help="also the revoked keys, with when they were revoked")
    listing.set_defaults(handler=handle_list)
    revoke = commands.add_parser("revoke", help="revoke a key: refused from the next request on")
    _common(revoke)
    revoke.add_argument("--org", required=True, help="the key's org")
    revoke.add_argument("--name", required=True, help="the key's name")
    revoke.set_defaults(handler=handle_revoke)


def _dashboard_path(args: argparse.Namespace) -> Path:
    path = Path(args.dashboard).expanduser()
    if not path.is_file():
        raise ConfigError("dashboard file not found", path=str(path), key="dashboard")
    return path


def _store(args: argparse.Namespace) -> KeyStore:
    from sls_access.service.keys import KeyStore, default_keys_path  # noqa: PLC0415 - only when managing keys

    return KeyStore(args.keys or default_keys_path(_dashboard_path(args)))


def handle_create(args: argparse.Namespace) -> int:
    """Create the key and print it once."""
    dashboard = load_dashboard_file(_dashboard_path(args))
    if args.org not in dashboard.orgs:
        known = ", ".join(sorted(dashboard.orgs)) or "none"
        raise ConfigError(f"org {args.org!r} is not in the dashboard file (orgs: {known})",
                          path=dashboard.path, key="org")
    store = _store(args)
    record, key = store.create(args.org, args.name)
    sys.stdout.write(f"created key {record.name!r} for org {record.org!r} (id {record.id}) in {store.path}\n"
                     "this is the only time the key is shown:\n")
    sys.stdout.write(key + "\n")
    return 0


def handle_list(args: argparse.Namespace) -> int:
    """List the keys: org, name, id, creation time (and, with ``--all``, when revoked)."""
    records = _store(args).list(args.org, revoked=args.all)
    if args.json:
        print_json([{"org": r.org, "name": r.name, "id": r.id, "created": r.to_json()["created"],
                     "revoked": r.to_json().get("revoked")} for r in records])
        return 0
    rows = [("ORG", "NAME", "ID", "CREATED", "REVOKED")]
    rows += [(r.org, r.name, r.id, r.to_json()["created"], r.to_json().get("revoked", "")) for r in records]
    width = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)).rstrip() + "\n")
    return 0


def handle_revoke(args: argparse.Namespace) -> int:
    """Revoke the key."""
    store = _store(args)
    record = store.revoke(args.org, args.name)
    sys.stdout.write(f"revoked key {record.name!r} of org {record.org!r} (id {record.id})\n")
    return 0
