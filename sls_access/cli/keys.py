"""``sls-access keys``: create, list, revoke and import the dashboard service's access keys.

Keys live as SHA-256 hashes in the service's state (``--state``; by default the SQLite
file ``serve`` uses too), or, for a dashboard file that has one, in the key file of
earlier releases beside it (``<dashboard stem>.keys.json``). ``create`` prints the new key
once, as the last line of stdout: it cannot be shown again. ``import`` moves an old key
file into the state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sls_access.cli._common import Subcommands, print_json
from sls_access.cli._state import add_state_option, given_state, open_state
from sls_access.dashboard.file import load_dashboard_file
from sls_access.errors import ConfigError

if TYPE_CHECKING:
    from sls_access.service.store.base import Store

__all__ = ["add_parser", "handle_create", "handle_import", "handle_list", "handle_revoke"]


def _common(parser: argparse.ArgumentParser) -> None:
    add_state_option(parser)
    parser.add_argument(
        "--dashboard",
        metavar="FILE",
        help="a dashboard file: the org must be in it; without --state (or $SLS_ACCESS_STATE) the "
        "keys are in the key file beside it, as in earlier releases",
    )
    parser.add_argument(
        "--keys",
        metavar="FILE",
        help="the key file of earlier releases (default: <dashboard stem>.keys.json beside the dashboard)",
    )
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``keys`` and its ``create``, ``list``, ``revoke`` and ``import`` commands."""
    parser = subparsers.add_parser(
        "keys",
        help="create, list, revoke and import the dashboard service's access keys",
        description="Manage the access keys clients of 'sls-access serve' authenticate with. Only "
        "hashes are stored, in the service's state (--state).",
    )
    commands = parser.add_subparsers(
        title="commands", dest="keys_command", metavar="COMMAND", parser_class=type(parser)
    )
    commands.required = True
    create = commands.add_parser(
        "create",
        help="create a key for an org; prints it once (last line)",
        description="Create an access key for ORG named NAME. The key is "
        "printed once, as the last line of stdout; store it now.",
    )
    _common(create)
    create.add_argument("--org", required=True, help="the org the key may vend for")
    create.add_argument("--name", required=True, help="a name for the key, unique in the org (e.g. ci-deploy)")
    create.add_argument(
        "--role",
        choices=("deploy", "admin"),
        default="deploy",
        help="deploy: vends credentials (default); admin: the admin API and web UI, vends nothing",
    )
    create.set_defaults(handler=handle_create)
    listing = commands.add_parser("list", help="list keys (names, orgs, roles, times; never keys)")
    _common(listing)
    listing.add_argument("--org", help="only this org's keys")
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.add_argument("--all", action="store_true", help="also the revoked keys, with when they were revoked")
    listing.set_defaults(handler=handle_list)
    revoke = commands.add_parser("revoke", help="revoke a key: refused by every replica within a second")
    _common(revoke)
    revoke.add_argument("--org", required=True, help="the key's org")
    revoke.add_argument("--name", required=True, help="the key's name")
    revoke.set_defaults(handler=handle_revoke)
    imported = commands.add_parser(
        "import",
        help="move the keys of an old key file into the state",
        description="Copy every record (hashes only; revoked ones too) of the key "
        "file FILE into the state. Keys already there are kept as they are.",
    )
    add_state_option(imported)
    imported.add_argument("file", metavar="FILE", help="the key file (<dashboard stem>.keys.json)")
    imported.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    imported.set_defaults(handler=handle_import)


def _dashboard_path(args: argparse.Namespace) -> Path | None:
    if args.dashboard is None:
        return None
    path = Path(args.dashboard).expanduser()
    if not path.is_file():
        raise ConfigError("dashboard file not found", path=str(path), key="dashboard")
    return path


def _store(args: argparse.Namespace) -> Store:
    from sls_access.service.store.files import FileStore  # noqa: PLC0415 - only when managing keys
    from sls_access.service.store.url import choose_state  # noqa: PLC0415

    dashboard = _dashboard_path(args)
    # --dashboard without a state: the key file beside it, as in earlier releases (serve
    # --dashboard uses that file as soon as it exists).
    state = choose_state(
        given_state(args),
        dashboard=dashboard,
        keys=args.keys if args.keys is not None or dashboard is None else dashboard,
    )
    if state is None:
        assert dashboard is not None  # noqa: S101 - choose_state gives files only with a dashboard
        return FileStore(dashboard, keys=args.keys)
    if args.keys is not None:
        raise ConfigError(
            "--keys is for a key file without a state: move it in with 'sls-access keys import FILE'", key="keys"
        )
    return open_state(state)


def _where(store: Store) -> str:
    keys_path = getattr(store, "keys_path", None)
    return str(keys_path) if keys_path is not None else store.url


def handle_create(args: argparse.Namespace) -> int:
    """Create the key and print it once."""
    from sls_access.service.store.base import Role  # noqa: PLC0415

    dashboard_path = _dashboard_path(args)
    if dashboard_path is not None:
        dashboard = load_dashboard_file(dashboard_path)
        if args.org not in dashboard.orgs:
            known = ", ".join(sorted(dashboard.orgs)) or "none"
            raise ConfigError(
                f"org {args.org!r} is not in the dashboard file (orgs: {known})", path=dashboard.path, key="org"
            )
    store = _store(args)
    try:
        record, key = store.create_key(args.org, args.name, role=Role(args.role))
        role = "" if record.role == "deploy" else f"{record.role} "
        sys.stdout.write(
            f"created {role}key {record.name!r} for org {record.org!r} (id {record.id}) in "
            f"{_where(store)}\nthis is the only time the key is shown:\n"
        )
        sys.stdout.write(key + "\n")
    finally:
        store.close()
    return 0


def handle_list(args: argparse.Namespace) -> int:
    """List the keys: org, name, id, role, creation time, last use (and, with ``--all``, when revoked)."""
    store = _store(args)
    try:
        records = store.list_keys(args.org, revoked=args.all)
    finally:
        store.close()
    if args.json:
        print_json([record.to_public_json() for record in records])
        return 0
    rows = [("ORG", "NAME", "ID", "ROLE", "CREATED", "LAST USED", "REVOKED")]
    for record in records:
        shown = record.to_public_json()
        rows.append(
            (
                record.org,
                record.name,
                record.id,
                record.role,
                shown["created"] or "",
                shown["last_used"] or "",
                shown["revoked"] or "",
            )
        )
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)).rstrip() + "\n")
    return 0


def handle_revoke(args: argparse.Namespace) -> int:
    """Revoke the key."""
    store = _store(args)
    try:
        record = store.revoke_key(args.org, args.name)
    finally:
        store.close()
    sys.stdout.write(f"revoked key {record.name!r} of org {record.org!r} (id {record.id})\n")
    return 0


def handle_import(args: argparse.Namespace) -> int:
    """Copy an old key file's records into the state."""
    from sls_access.service.keys import KeyStore  # noqa: PLC0415
    from sls_access.service.store.url import state_url  # noqa: PLC0415

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise ConfigError("key file not found", path=str(path), key="file")
    records = list(KeyStore(path).current().keys.values())
    store = open_state(state_url(given_state(args)))
    try:
        added = store.import_keys(records)
    finally:
        store.close()
    sys.stdout.write(
        f"imported {added} of {len(records)} keys from {path} into {store.url}"
        f"{'' if added == len(records) else ' (the others were there already)'}\n"
    )
    return 0
