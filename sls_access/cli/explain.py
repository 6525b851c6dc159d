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

from sls_access._resolution import Resolution
from sls_access.cli._common import (
    Subcommands,
    add_option_arguments,
    add_target_arguments,
    make_resolver,
    print_json,
    target_of,
)
from sls_access.dashboard.locate import DashboardLocation

__all__ = ["add_parser", "explanation", "handle"]


def add_parser(subparsers: Subcommands) -> None:
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
    parser.add_argument(
        "--offline",
        action="store_true",
        help="plan without any network call: which dashboard, link, deployment profile and "
        "role would be used, and which sources would be tried",
    )
    add_option_arguments(parser)
    parser.set_defaults(handler=handle)


def explanation(resolution: Resolution, dashboard: DashboardLocation | None = None) -> dict[str, object]:
    """Return the JSON form of *resolution*; *dashboard* is the one in use."""
    target = resolution.target
    return {
        "target": {"org": target.org, "app": target.app, "stage": target.stage, "region": target.region},
        "source": resolution.source,
        "region": resolution.region,
        "dashboard": None if dashboard is None else dashboard.to_json(),
        "role_arn": resolution.role_arn,
        "offline": resolution.offline,
        "error": None
        if resolution.error is None
        else {"type": type(resolution.error).__name__, "message": " ".join(str(resolution.error).split())},
        "trail": [
            {"source": source, "outcome": outcome, "reason": reason, "winner": winner}
            for source, outcome, reason, winner in resolution.rows()
        ],
    }


def handle(args: argparse.Namespace) -> int:
    """Explain how the target resolves."""
    target = target_of(args)
    resolver = make_resolver(args)
    resolution = resolver.explain(target.org, target.app, target.stage, region=target.region, offline=args.offline)
    if args.json:
        print_json(explanation(resolution, resolver.dashboard_in_use()))
    else:
        sys.stdout.write(str(resolution) + "\n")  # the same text as str(sls_access.explain(...))
    return 0
