"""``sls-access dashboard``: move deployment profiles and links between a dashboard file and the state.

``import FILE`` replaces, for every org in FILE, the state's profiles, links and protected
stages with the file's (other orgs are kept); ``--dry-run`` prints what would change and
changes nothing. ``export`` prints the state's profiles and links as a dashboard file the
parser accepts (the same file imports back to the same state).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sls_access.cli._common import Subcommands
from sls_access.cli._state import add_state_option, given_state, open_state
from sls_access.errors import ConfigError

__all__ = ["add_parser", "handle_export", "handle_import"]


def add_parser(subparsers: Subcommands) -> None:
    """Register ``dashboard`` and its ``import`` and ``export`` commands."""
    parser = subparsers.add_parser(
        "dashboard",
        help="import or export the service's deployment profiles and links (a dashboard file)",
        description="Move deployment profiles and links between a dashboard file and the service's "
        "state (--state), which 'sls-access serve' without --dashboard serves.",
    )
    commands = parser.add_subparsers(
        title="commands", dest="dashboard_command", metavar="COMMAND", parser_class=type(parser)
    )
    commands.required = True
    imported = commands.add_parser(
        "import",
        help="replace the state's profiles and links of the file's orgs with the file's",
        description="Validate FILE as 'serve' would, then replace the deployment profiles, links and "
        "protected stages of every org in it with the file's. Other orgs are kept.",
    )
    add_state_option(imported)
    imported.add_argument("file", metavar="FILE", help="the dashboard file (TOML)")
    imported.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    imported.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    imported.set_defaults(handler=handle_import)
    exported = commands.add_parser(
        "export",
        help="print the state's profiles and links as a dashboard file",
        description="Print the state's deployment profiles and links as a dashboard "
        "file (TOML), or write it to --output.",
    )
    add_state_option(exported)
    exported.add_argument("--org", action="append", metavar="ORG", help="only this org (repeatable)")
    exported.add_argument("--output", "-o", metavar="FILE", help="write the file here (mode 0600) instead of stdout")
    exported.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    exported.set_defaults(handler=handle_export)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Return one line per profile, link or protected-stage list that differs, as ``+``/``-``/``~``."""
    from sls_access.service.store._dashboard import links_in  # noqa: PLC0415

    lines: list[str] = []
    old_profiles = before.get("deployment_profiles", {})
    new_profiles = after.get("deployment_profiles", {})
    for name in sorted({*old_profiles, *new_profiles}):
        if name not in new_profiles:
            lines.append(f"- deployment profile {name}")
        elif name not in old_profiles:
            lines.append(f"+ deployment profile {name} ({new_profiles[name]['role_arn']})")
        elif old_profiles[name] != new_profiles[name]:
            lines.append(f"~ deployment profile {name} ({new_profiles[name]['role_arn']})")

    def where(link: Any) -> str:  # noqa: ANN401 - a LinkRecord
        parts = [
            f"{what}={value}"
            for what, value in (("app", link.app), ("stage", link.stage), ("region", link.region))
            if value is not None
        ]
        return "link " + (" ".join(parts) or "(org default)")

    old_links = {(l.app, l.stage, l.region): l for l in links_in("", before)}  # noqa: E741
    new_links = {(l.app, l.stage, l.region): l for l in links_in("", after)}  # noqa: E741
    for level in sorted({*old_links, *new_links}, key=lambda k: tuple(part or "" for part in k)):
        old, new = old_links.get(level), new_links.get(level)
        if new is None:
            lines.append(f"- {where(old)}")
        elif old is None:
            lines.append(f"+ {where(new)} -> {new.deployment_profile}")
        elif old.deployment_profile != new.deployment_profile:
            lines.append(f"~ {where(new)} -> {new.deployment_profile} (was {old.deployment_profile})")

    def protected(body: Mapping[str, Any]) -> dict[str, list[str]]:
        found = {"(org)": list(body.get("protected_stages", []))}
        found.update({app: list(spec.get("protected_stages", [])) for app, spec in body.get("apps", {}).items()})
        return {k: v for k, v in found.items() if v}

    old_protected, new_protected = protected(before), protected(after)
    lines.extend(
        f"~ protected stages of {scope}: {', '.join(new_protected.get(scope, [])) or 'none'}"
        for scope in sorted({*old_protected, *new_protected})
        if old_protected.get(scope) != new_protected.get(scope)
    )
    return lines


def handle_import(args: argparse.Namespace) -> int:
    """Import the file's orgs (or, with ``--dry-run``, say what would change)."""
    from sls_access.dashboard.file import load_dashboard_file  # noqa: PLC0415
    from sls_access.service.store.url import state_url  # noqa: PLC0415

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise ConfigError("dashboard file not found", path=str(path), key="file")
    dashboard = load_dashboard_file(path)
    store = open_state(state_url(given_state(args)))
    try:
        current = store.dashboard().to_data()["orgs"]
        incoming = dashboard.to_data()["orgs"]
        changed = 0
        for org in incoming:
            lines = _changes(current.get(org, {}), incoming[org])
            changed += len(lines)
            for line in lines:
                sys.stdout.write(f"{org}: {line}\n")
        verb = "would change" if args.dry_run else "changed"
        if not args.dry_run and changed:
            store.replace_dashboard(dashboard)
        sys.stdout.write(
            f"{verb} {changed} item(s) in {len(incoming)} org(s) of {store.url}"
            f"{' (dry run: nothing written)' if args.dry_run else ''}\n"
        )
    finally:
        store.close()
    return 0


def handle_export(args: argparse.Namespace) -> int:
    """Print (or write) the state's profiles and links as a dashboard file."""
    from sls_access._atomic import replace_file  # noqa: PLC0415
    from sls_access.service.store._dashboard import to_toml  # noqa: PLC0415
    from sls_access.service.store.url import state_url  # noqa: PLC0415

    store = open_state(state_url(given_state(args)))
    try:
        data = store.dashboard().to_data()
        url = store.url
    finally:
        store.close()
    if args.org:
        missing = [org for org in args.org if org not in data["orgs"]]
        if missing:
            raise ConfigError(
                f"no org {missing[0]!r} in the state (orgs: {', '.join(sorted(data['orgs'])) or 'none'})", key="org"
            )
        data = {"orgs": {org: data["orgs"][org] for org in args.org}}
    text = to_toml(
        data,
        header=f"Deployment profiles and links exported from {url}\n(sls-access dashboard import FILE reads it back)",
    )
    if args.output:
        replace_file(Path(args.output).expanduser(), text.encode())
        sys.stderr.write(f"wrote {args.output}\n")
    else:
        sys.stdout.write(text)
    return 0
