"""``sls-access explain``: which source gives the target's keys, and why the others did not.

Prints the dashboard in use (its path or URL and how it was found) and the access role
entered, then the trail as a table (source, outcome, why), the winner marked with ``*``,
and the sources after it as not tried; ``--json`` for machines. Never prints a secret:
the trail names a key only by its last four characters. A failed resolution is explained,
not reported as an error: ``explain`` exits 0 whenever it could print the trail.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sls_access._options import Options
from sls_access._resolution import Outcome, Resolution, TrailEntry
from sls_access.cli._common import add_option_arguments, add_target_arguments, make_resolver, print_json, target_of
from sls_access.dashboard.locate import DashboardLocation, locate_dashboard
from sls_access.errors import AccessRoleError, ConfigError

__all__ = ["add_parser", "dashboard_in_use", "explanation", "handle", "role_entered", "table"]

NOT_TRIED = "not tried"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``explain``."""
    parser = subparsers.add_parser(
        "explain",
        help="show which source gives the keys, and why",
        description="Show how the target resolves: every source in chain order with its outcome "
                    "(used, skipped, failed, not tried) and why; the winner is marked with '*'. "
                    "Prints no secret. Exits 0 whenever the trail could be shown, even when no "
                    "source applied or one failed.",
    )
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_option_arguments(parser)
    parser.set_defaults(handler=handle)


def _not_tried(resolution: Resolution, names: tuple[str, ...]) -> list[TrailEntry]:
    tried = {entry.source for entry in resolution.trail}
    why = "an earlier source failed" if resolution.error is not None else "an earlier source applied"
    return [TrailEntry(source=name, outcome=Outcome.SKIPPED, reason=why) for name in names if name not in tried]


def dashboard_in_use(options: Options, names: tuple[str, ...]) -> DashboardLocation | None:
    """Return the dashboard the ``dashboard`` source reads, or None (none, not in the chain, or broken).

    A dashboard that cannot be located (an untrusted project file…) is None here: the
    trail's ``dashboard`` row says why.
    """
    if "dashboard" not in names or options.use_local_credentials:
        return None
    try:
        return locate_dashboard(options)
    except ConfigError:
        return None


def role_entered(resolution: Resolution) -> str | None:
    """Return the access role the keys are of, or the one that could not be entered."""
    if resolution.credentials is not None:
        return resolution.credentials.role_arn
    if isinstance(resolution.error, AccessRoleError):
        return resolution.error.role_arn
    return None


def explanation(resolution: Resolution, names: tuple[str, ...],
                dashboard: DashboardLocation | None = None) -> dict[str, object]:
    """Return the JSON form of *resolution*; *names* is the chain, in order; *dashboard* the one in use."""
    target = resolution.target
    rows: list[dict[str, object]] = [
        {"source": entry.source, "outcome": str(entry.outcome), "reason": entry.reason,
         "winner": entry.outcome is Outcome.USED}
        for entry in resolution.trail
    ]
    rows.extend({"source": entry.source, "outcome": NOT_TRIED, "reason": entry.reason, "winner": False}
                for entry in _not_tried(resolution, names))
    return {
        "target": {"org": target.org, "app": target.app, "stage": target.stage, "region": target.region},
        "source": resolution.source,
        "region": resolution.region,
        "dashboard": None if dashboard is None else dashboard.to_json(),
        "role_arn": role_entered(resolution),
        "error": None if resolution.error is None else {
            "type": type(resolution.error).__name__, "message": " ".join(str(resolution.error).split())},
        "trail": rows,
    }


def table(resolution: Resolution, names: tuple[str, ...], dashboard: DashboardLocation | None = None) -> str:
    """Return *resolution* as a readable table; *names* is the chain, in order; *dashboard* the one in use."""
    data = explanation(resolution, names, dashboard)
    if resolution.source:
        head = f"{resolution.target}: credentials from {resolution.source}"
        if resolution.region:
            head += f" (region {resolution.region})"
    elif resolution.error is not None:
        head = f"{resolution.target}: FAILED ({type(resolution.error).__name__}); no credentials"
    else:
        head = f"{resolution.target}: no credentials (no source applied)"
    rows: list[dict[str, Any]] = data["trail"]  # type: ignore[assignment]
    cells = [("", "SOURCE", "OUTCOME", "WHY")]
    cells += [("*" if row["winner"] else "", row["source"], row["outcome"], " ".join(row["reason"].split()))
              for row in rows]
    width = [max(len(row[i]) for row in cells) for i in range(3)]
    lines = [head]
    if dashboard is not None:
        lines.append(f"dashboard: {dashboard}")
    role = role_entered(resolution)
    if role is not None:
        lines.append(f"role: {role}" + ("" if resolution.credentials is not None else " (not entered)"))
    lines.append("")
    lines += [f"{mark:<{width[0]}} {source:<{width[1]}}  {outcome:<{width[2]}}  {why}".rstrip()
              for mark, source, outcome, why in cells]
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    """Explain how the target resolves."""
    target = target_of(args)
    resolver = make_resolver(args)
    resolution = resolver.explain(target.org, target.app, target.stage, region=target.region)
    names = resolver.chain.names
    dashboard = dashboard_in_use(resolver.options, names)
    if args.json:
        print_json(explanation(resolution, names, dashboard))
    else:
        sys.stdout.write(table(resolution, names, dashboard) + "\n")
    return 0
