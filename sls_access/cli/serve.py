"""``sls-access serve``: run the dashboard service on uvicorn (needs the ``server`` extra)."""

from __future__ import annotations

import argparse
import math

from sls_access._install import install_hint
from sls_access.cli._common import EXIT_USAGE, CliError, Subcommands
from sls_access.cli._state import given_state

__all__ = ["add_parser", "handle"]


def add_parser(subparsers: Subcommands) -> None:
    """Register ``serve``."""
    parser = subparsers.add_parser(
        "serve",
        help=f"run the dashboard service; needs the server extra: {install_hint('server')}",
        description="Serve GET /v1/orgs/{org}/apps/{app}/stages/{stage}/credentials in the AWS "
        "container-credentials format, for the keys made with 'sls-access keys'. Audit "
        "lines (JSON) go to stdout, logs to stderr. Put a TLS terminator in front.",
    )
    parser.add_argument(
        "--state",
        metavar="URL",
        help="where keys, failure counts, audit events, profiles and links live: sqlite:///ABS/PATH "
        "or postgresql://... (default: $SLS_ACCESS_STATE, else the key file beside --dashboard "
        "when there is one, else sqlite:///$XDG_STATE_HOME/sls-access/service.db)",
    )
    parser.add_argument(
        "--state-max-stale",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a worker that has not read the state for this long answers vends 503 state_unavailable (default: 30)",
    )
    parser.add_argument(
        "--audit-days",
        type=float,
        default=90.0,
        metavar="DAYS",
        help="days the state keeps audit events; older ones are deleted hourly (0: keep them; default: 90)",
    )
    parser.add_argument(
        "--dashboard",
        metavar="FILE",
        help="a dashboard file: the source of truth for profiles and links (read-only in the admin "
        "API); without it they come from the state",
    )
    parser.add_argument(
        "--keys",
        metavar="FILE",
        help="the key file of earlier releases, without a state (default: <dashboard stem>.keys.json "
        "beside the dashboard)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRS",
        help="comma-separated addresses of proxies whose X-Forwarded-For is trusted",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="open connections per worker; past it, the one that has waited longest for its "
        "request is closed (default: 1000, or what the file descriptor limit fits)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds a request's headers may take, from the connection or the request's first "
        "byte; then 408 and close (default: 10)",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="seconds an idle kept-alive connection stays open (default: 15)",
    )
    parser.add_argument(
        "--http",
        default="auto",
        choices=("auto", "httptools", "h11"),
        help="uvicorn's HTTP parser (default: auto, httptools when installed)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="level of the server's own log (default: info)",
    )
    parser.add_argument(
        "--no-ui",
        dest="ui",
        action="store_false",
        help="do not serve the web UI at /ui/ (the admin API under /v1/admin/ stays)",
    )
    parser.add_argument(
        "--template-bucket",
        metavar="S3_URL",
        help="s3://BUCKET[/PREFIX] where Connect AWS uploads templates for the console's quick-create link",
    )
    parser.add_argument(
        "--session-hours", type=float, default=None, metavar="H", help="how long a web UI session lasts (default: 8)"
    )
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of startup errors"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port} is not a TCP port", code=EXIT_USAGE)
    if args.workers < 1:
        raise CliError("--workers must be at least 1", code=EXIT_USAGE)
    if args.template_bucket is not None and not args.template_bucket.startswith("s3://"):
        raise CliError(f"--template-bucket {args.template_bucket!r} is not s3://BUCKET[/PREFIX]", code=EXIT_USAGE)
    if args.session_hours is not None and not 0 < args.session_hours <= 24 * 7:
        raise CliError("--session-hours must be above 0 and at most 168", code=EXIT_USAGE)
    if args.max_connections is not None and args.max_connections < 1:
        raise CliError("--max-connections must be at least 1", code=EXIT_USAGE)
    if not args.state_max_stale > 0:
        raise CliError("--state-max-stale must be a positive number of seconds", code=EXIT_USAGE)
    if not (math.isfinite(args.audit_days) and args.audit_days >= 0):
        raise CliError("--audit-days must be 0 (keep every event) or a positive number of days", code=EXIT_USAGE)
    for name, value in (("--header-timeout", args.header_timeout), ("--keep-alive-timeout", args.keep_alive_timeout)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CliError(f"{name} must be a positive number of seconds", code=EXIT_USAGE)
    from sls_access.service.run import serve  # noqa: PLC0415 - keep the CLI import light

    serve(
        args.dashboard,
        host=args.host,
        port=args.port,
        workers=args.workers,
        keys=args.keys,
        log_level=args.log_level,
        forwarded_allow_ips=args.forwarded_allow_ips,
        http=args.http,
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        state=given_state(args),
        state_max_stale=args.state_max_stale,
        audit_days=args.audit_days,
        ui=args.ui,
        template_bucket=args.template_bucket,
        session_hours=args.session_hours,
    )
    return 0
