"""The ``sls-access`` command line: the resolver's chain for the AWS CLI, Terraform and any SDK.

``main(argv)`` parses the arguments, runs one command and returns the exit code; it
never raises for an error it knows (see :mod:`sls_access.cli._common` for the exit
codes). Each command lives in its own module, listed in :data:`COMMANDS`, with an
``add_parser(subparsers)`` that registers it and sets its handler.

Nothing here is imported by ``import sls_access``: argparse and the command modules
load only when the CLI runs. ``credential-process`` asks the per-user agent first
(:mod:`sls_access.agent.client`, standard library only) and loads the rest only when
the agent cannot be used, so this module imports nothing at its top.
"""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # not typing's: the credential-process fast path does not import it
if TYPE_CHECKING:
    from sls_access.cli._common import CliParser

__all__ = ["COMMANDS", "build_parser", "main"]

# The command modules, in the order ``--help`` lists them. Each module under
# sls_access/cli/ exposes add_parser(subparsers) -> None.
COMMANDS: tuple[str, ...] = (
    "credentials",
    "credential_process",
    "exec",
    "explain",
    "whoami",
    "plugins",
    "aws_config",
    "trust",
    "login",
    "serve",
    "keys",
    "dashboard",
    "agent",
    "link",
    "completion",
)


def build_parser() -> CliParser:
    """Return the ``sls-access`` parser with every command of :data:`COMMANDS`."""
    import importlib  # noqa: PLC0415 - see the module docstring

    from sls_access._version import __version__  # noqa: PLC0415 - keep the CLI import light
    from sls_access.cli._common import CliParser  # noqa: PLC0415

    parser = CliParser(
        prog="sls-access",
        description="AWS credentials for a Serverless Dashboard org / app / stage: the dashboard's "
        "access role (fail closed), else AWS_<STAGE>_*/AWS_* variables, else AWS profiles.",
        epilog="The dashboard access key is read from SERVERLESS_ACCESS_KEY only, never from a flag. "
        "Exit codes: 0 ok, 1 other error, 2 usage or configuration, 3 no credentials, "
        "4 access role, 5 dashboard service.",
    )
    parser.add_argument("--version", action="version", version=f"sls-access {__version__}")
    parser.add_argument(
        "--debug", action="store_true", default=False, help="log the resolution to stderr and show tracebacks"
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", parser_class=CliParser)
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"sls_access.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``sls-access`` with *argv* (default ``sys.argv[1:]``) and return the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["credential-process"]:
        from sls_access.agent.client import credential_process  # noqa: PLC0415 - standard library only

        reply = credential_process(arguments[1:], os.environ)
        if reply is not None:
            sys.stdout.write(reply.stdout)
            sys.stderr.write(reply.stderr)
            return reply.code
    from sls_access.cli._common import EXIT_USAGE, UsageError, fail, run  # noqa: PLC0415

    parser = build_parser()
    if not arguments:  # a bare `sls-access`: what it can do
        parser.print_help()
        return 0
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:  # reported by the command's own parser, so the hint names the command's --help
            command: argparse.ArgumentParser = getattr(args, "parser", parser)
            command.error("unrecognized arguments: " + " ".join(extras))
    except UsageError as exc:
        return fail(exc, debug=False, code=EXIT_USAGE)
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else 0
    return run(args)
