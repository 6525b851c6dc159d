"""``sls-access agent run|status|stop``: the per-user agent that holds keys in memory across processes.

``credential-process`` starts the agent on demand (unless ``SLS_ACCESS_AGENT=off``), so
``agent run`` is for running it in the foreground (a service manager, debugging).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time

from sls_access.agent.protocol import AgentUnavailable, socket_dir, socket_path, supported
from sls_access.cli._common import EXIT_ERROR, EXIT_USAGE, PROG, CliError, Subcommands, print_json

__all__ = ["add_parser", "handle_run", "handle_status", "handle_stop"]

# How long ``agent stop`` waits for the agent to be gone.
_STOP_WAIT = 10.0


def add_parser(subparsers: Subcommands) -> None:
    """Register ``agent`` and its ``run``, ``status`` and ``stop`` commands."""
    parser = subparsers.add_parser(
        "agent",
        help="the per-user agent that keeps keys in memory for credential-process",
        description="The agent holds resolvers and their cached keys in memory (never on disk) and answers "
        "'credential-process' over a Unix socket of this user's only; credential-process "
        "starts it on demand unless SLS_ACCESS_AGENT=off. Linux only.",
    )
    commands = parser.add_subparsers(
        title="agent commands", dest="agent_command", metavar="COMMAND", parser_class=type(parser)
    )
    commands.required = True
    run = commands.add_parser(
        "run",
        help="run the agent in the foreground",
        description="Run the agent in the foreground until 'agent stop', an interrupt or the idle timeout.",
    )
    run.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this many seconds without a request (default: 900)",
    )
    run.add_argument(
        "--resolution-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a resolution that takes longer, with the processes it started (an AWS "
        "profile's credential_process), and tell its caller (default: 45; at most 110)",
    )
    run.set_defaults(handler=handle_run)
    status = commands.add_parser(
        "status",
        help="print the running agent's state as JSON (exit 1: none runs)",
        description="Print the running agent's pid, uptime, request and cache counts "
        "as JSON; exit 1 when no agent runs.",
    )
    status.set_defaults(handler=handle_status)
    stop = commands.add_parser(
        "stop",
        help="stop the running agent (its keys are forgotten)",
        description="Stop the running agent; its cached keys are forgotten.",
    )
    stop.set_defaults(handler=handle_stop)
    for command in (parser, run, status, stop):
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
        )


def _ask(op: str) -> dict[str, object] | None:
    """Send *op* to the running agent; None when none runs."""
    from sls_access.agent.client import ask  # noqa: PLC0415

    try:
        return ask({"op": op}, os.environ, timeout=10.0)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None
        raise CliError(f"cannot reach the agent: {exc.strerror or exc}") from None
    except AgentUnavailable as exc:
        raise CliError(f"cannot use the agent: {exc}") from None


def handle_run(args: argparse.Namespace) -> int:
    """Run the agent in the foreground."""
    if not supported():
        raise CliError("the agent needs SO_PEERCRED (Linux); credential-process resolves in-process here")
    from sls_access.agent.caller import DEFAULT_RESOLUTION_TIMEOUT  # noqa: PLC0415
    from sls_access.agent.client import ANSWER_TIMEOUT  # noqa: PLC0415
    from sls_access.agent.server import DEFAULT_IDLE_TIMEOUT, AlreadyRunning, serve  # noqa: PLC0415
    from sls_access.cli.credential_process import answer  # noqa: PLC0415

    idle = DEFAULT_IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout
    if not idle > 0:
        raise CliError("--idle-timeout must be a positive number of seconds", code=EXIT_USAGE)
    limit = DEFAULT_RESOLUTION_TIMEOUT if args.resolution_timeout is None else args.resolution_timeout
    # The handler answers at most 5 s after the limit; clients wait ANSWER_TIMEOUT in all.
    if not 0 < limit <= ANSWER_TIMEOUT - 10:
        raise CliError(
            f"--resolution-timeout must be a number of seconds above 0 and at most {ANSWER_TIMEOUT - 10:g}",
            code=EXIT_USAGE,
        )

    def ready(path: str) -> None:
        sys.stderr.write(f"{PROG}: agent listening on {path} (pid {os.getpid()}, idle timeout {idle:g} s)\n")
        sys.stderr.flush()

    try:
        socket_path(os.environ)  # not too long for a Unix socket
        serve(socket_dir(os.environ), answer, idle_timeout=idle, ready=ready, resolution_timeout=limit)
    except (AlreadyRunning, AgentUnavailable) as exc:
        raise CliError(str(exc)) from None
    return 0


def handle_status(args: argparse.Namespace) -> int:
    """Print the running agent's state; exit 1 when none runs."""
    path = socket_path(os.environ)
    answer = _ask("status")
    if answer is None:
        print_json({"running": False, "socket": path})
        return EXIT_ERROR
    print_json({**answer, "socket": path})
    return 0


def handle_stop(args: argparse.Namespace) -> int:
    """Stop the running agent and wait until it is gone."""
    path = socket_path(os.environ)
    answer = _ask("stop")
    if answer is None:
        sys.stdout.write("no agent is running\n")
        return 0
    deadline = time.monotonic() + _STOP_WAIT
    while os.path.exists(path):
        if time.monotonic() > deadline:
            raise CliError(f"the agent (pid {answer.get('pid')}) did not stop within {_STOP_WAIT:g} s")
        time.sleep(0.05)
    sys.stdout.write(f"stopped the agent (pid {answer.get('pid')})\n")
    return 0
