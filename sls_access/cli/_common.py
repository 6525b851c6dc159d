"""What every command shares: the target and option flags, the resolver, errors and exit codes.

Exit codes (documented in ``docs/reference/cli.md``):

====  ======================================================================
0     success (``exec``: the command's own exit code is returned instead)
1     any other error (a plugin source failed, STS unreachable for ``whoami``…)
2     usage or configuration: a bad flag, a bad name, a broken dashboard file
3     no credentials: no source applied to the target
4     a dashboard link applies but its access role could not be assumed
5     the dashboard service failed or refused the access key
126   ``exec``: the command could not be run
127   ``exec``: the command was not found
130   interrupted
====  ======================================================================

Every error is one line on stderr, ``sls-access: error: …``; never a traceback unless
``--debug``, never anything on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, Protocol

from sls_access._credentials import Credentials
from sls_access._options import OptionArgs
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver
from sls_access._target import Target
from sls_access.errors import (
    AccessRoleError,
    ConfigError,
    DashboardError,
    NoCredentialsError,
    SlsAccessError,
)

__all__ = [
    "EXIT_ACCESS_ROLE",
    "EXIT_CANNOT_EXECUTE",
    "EXIT_DASHBOARD",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_NO_CREDENTIALS",
    "EXIT_USAGE",
    "PROG",
    "CliError",
    "CliParser",
    "Handler",
    "Subcommands",
    "UsageError",
    "add_option_arguments",
    "add_target_arguments",
    "credential_variables",
    "exit_code",
    "fail",
    "iso_utc",
    "make_resolver",
    "one_line",
    "option_args",
    "print_json",
    "region_variables",
    "resolve",
    "run",
    "target_of",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_CREDENTIALS = 3
EXIT_ACCESS_ROLE = 4
EXIT_DASHBOARD = 5
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]

PROG = "sls-access"

log = logging.getLogger("sls_access.cli")


class UsageError(Exception):
    """A bad command line (argparse's complaint), exit code 2."""


class CliError(Exception):
    """An error a command reports with its own exit code and one-line message."""

    def __init__(self, message: str, *, code: int = EXIT_ERROR) -> None:
        self.code = code
        super().__init__(message)


class Subcommands(Protocol):
    """What ``ArgumentParser.add_subparsers()`` returns, as a command's ``add_parser`` uses it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's keywords
        """Add the sub-command *name* and return its parser."""


class _RecordedGroup:
    """An argument group of a :class:`CliParser` that records the option strings added through it."""

    def __init__(self, group: Any, option_strings: list[str]) -> None:  # noqa: ANN401 - argparse's group types
        self._group = group
        self._option_strings = option_strings

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:  # noqa: ANN401 - argparse's arguments
        """Add an argument to the group, as ``add_argument`` of argparse's groups."""
        action: argparse.Action = self._group.add_argument(*args, **kwargs)
        self._option_strings.extend(action.option_strings)
        return action

    def add_mutually_exclusive_group(self, **kwargs: Any) -> _RecordedGroup:  # noqa: ANN401 - argparse's arguments
        """Add a mutually exclusive group inside this one, recorded alike."""
        return _RecordedGroup(self._group.add_mutually_exclusive_group(**kwargs), self._option_strings)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - whatever argparse's group has
        return getattr(self._group, name)


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (raised, not printed with usage).

    Every parser of the command tree is one (sub-commands are made with its class): each
    sets itself as the ``parser`` default, so that a command's ``args.parser`` is its own
    parser, for error hints; and each records its option strings (:attr:`option_strings`)
    and sub-commands (:attr:`commands`) as they are added, for the completion scripts
    (argparse lists a parser's arguments publicly nowhere).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - ArgumentParser's arguments
        self.option_strings: list[str] = []  # before ArgumentParser adds -h/--help
        self.commands: dict[str, argparse.ArgumentParser] = {}
        super().__init__(*args, **kwargs)
        self.set_defaults(parser=self)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:  # noqa: ANN401 - argparse's arguments
        """Add an argument, as ``ArgumentParser.add_argument``, and record its option strings."""
        action = super().add_argument(*args, **kwargs)
        self.option_strings.extend(action.option_strings)
        return action

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - argparse's group, recorded
        """Add an argument group whose arguments are recorded too."""
        return _RecordedGroup(super().add_argument_group(*args, **kwargs), self.option_strings)

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:  # noqa: ANN401 - argparse's group, recorded
        """Add a mutually exclusive group whose arguments are recorded too."""
        return _RecordedGroup(super().add_mutually_exclusive_group(**kwargs), self.option_strings)

    def add_subparsers(self, **kwargs: Any) -> Any:  # noqa: ANN401 - argparse's subparsers action
        """Add sub-commands, as ``ArgumentParser.add_subparsers``; :attr:`commands` is their parsers by name."""
        action = super().add_subparsers(**kwargs)
        self.commands = action.choices  # the action's own mapping, filled as sub-commands are added
        return action

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` naming the command and where to get help.

        Unrecognised arguments are named by their flags only: a value typed after a
        mistyped flag may be a secret, and errors end up in CI logs.
        """
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            flags = [arg.split("=", 1)[0] for arg in message[len(prefix) :].split() if arg.startswith("-")]
            message = prefix + (" ".join(flags) if flags else "(values not shown)")
        raise UsageError(f"{message} (see '{self.prog} --help')")


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--org --app --stage [--region]``; those not given come from ``./serverless.yml`` (:func:`target_of`)."""
    group = parser.add_argument_group(
        "target",
        "Each flag not given is read from ./serverless.yml: org and app (or custom.slsAccess.org/app), "
        "the stage from the command's --stage, else provider.stage, else dev; the region from the "
        "command's --region, else provider.region.",
    )
    group.add_argument("--org", help="the dashboard org")
    group.add_argument("--app", help="the app in that org")
    group.add_argument("--stage", help="the stage, e.g. dev or prod")
    group.add_argument("--region", help="the AWS region (picks a stage + region link; set for the keys' users)")


def add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the resolver options as flags (each wins over its environment variable), and ``--debug``."""
    group = parser.add_argument_group(
        "resolver options",
        "Each flag wins over its environment variable. The dashboard access key is read "
        "from SERVERLESS_ACCESS_KEY only, so that it never appears on a command line.",
    )
    group.add_argument(
        "--dashboard",
        metavar="FILE_OR_URL",
        help="local dashboard file or https:// dashboard service (SLS_ACCESS_DASHBOARD)",
    )
    group.add_argument(
        "--use-local-credentials",
        action="store_true",
        default=None,
        help="skip the dashboard source (SLS_ACCESS_USE_LOCAL_CREDENTIALS)",
    )
    group.add_argument("--profile", help="AWS profile for the profile source (AWS_PROFILE)")
    group.add_argument(
        "--sources", metavar="NAMES", help="explicit chain order, e.g. dashboard,env,profile (SLS_ACCESS_SOURCES)"
    )
    group.add_argument(
        "--disable-plugins",
        metavar="NAMES",
        help="entry-point names of plugins not to load (SLS_ACCESS_DISABLE_PLUGINS)",
    )
    group.add_argument(
        "--require-role",
        action="store_true",
        default=None,
        help="fail unless an access role applies: env keys and profiles are never used",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log the resolution to stderr and show tracebacks",
    )


def option_args(args: argparse.Namespace) -> OptionArgs:
    """Return the resolver options the flags in *args* give (None where a flag is absent)."""
    return OptionArgs(
        dashboard=args.dashboard,
        use_local_credentials=args.use_local_credentials,
        require_role=args.require_role,  # None unless given: then SLS_ACCESS_REQUIRE_ROLE applies
        profile=args.profile,
        sources=args.sources,
        disable_plugins=args.disable_plugins,
    )


def make_resolver(args: argparse.Namespace) -> Resolver:
    """Return a resolver for the option flags in *args*, merged over the environment."""
    return Resolver(**option_args(args))


def target_of(args: argparse.Namespace, cwd: Path | None = None) -> Target:
    """Return the validated target of ``--org --app --stage --region``.

    Flags not given are read from ``serverless.yml`` in *cwd* (default: the current
    directory; the agent passes its caller's) and, for ``exec``, the child's
    ``--stage``/``--region``; without that file, a missing flag is a usage error.
    """
    org, app, stage, region = args.org, args.app, args.stage, args.region
    if org is None or app is None or stage is None:
        from sls_access.cli._serverless_yml import read_service_target, service_file  # noqa: PLC0415 - rarely used

        path = service_file(Path.cwd() if cwd is None else cwd)
        if path is None:
            missing = " ".join(
                f"--{name}" for name, value in (("org", org), ("app", app), ("stage", stage)) if value is None
            )
            raise UsageError(
                f"the target needs {missing} (or a serverless.yml in the current directory that names org and app)"
            )
        service = read_service_target(
            path, org=org, app=app, stage=stage, region=region, child=getattr(args, "child", None) or ()
        )
        org, app, stage, region = service.org, service.app, service.stage, service.region
        log.debug("target %s/%s/%s (region %s) from the flags and %s", org, app, stage, region, path)
    return Target(org=org, app=app, stage=stage, region=region)


def resolve(args: argparse.Namespace) -> tuple[Resolver, Resolution, Credentials]:
    """Resolve the target in *args*; raise the library's error when that fails."""
    target = target_of(args)
    resolver = make_resolver(args)
    resolution = resolver.resolution(target.org, target.app, target.stage, region=target.region)
    credentials = resolution.credentials
    if credentials is None:  # pragma: no cover - resolution() raises instead
        raise NoCredentialsError(resolution)
    return resolver, resolution, credentials


def iso_utc(value: datetime) -> str:
    """Return *value* as ISO 8601 in UTC with a ``Z``, e.g. ``2026-01-02T03:04:05Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def region_variables(region: str | None) -> dict[str, str]:
    """Return ``AWS_REGION`` and ``AWS_DEFAULT_REGION`` (AWS CLI v1 reads only the latter) for *region*."""
    return {"AWS_REGION": region, "AWS_DEFAULT_REGION": region} if region else {}


def credential_variables(credentials: Credentials, region: str | None) -> dict[str, str]:
    """Return the ``AWS_*`` variables that carry *credentials* (and *region*, when known)."""
    return {**credentials.to_env(), **region_variables(region)}


def print_json(value: object) -> None:
    """Print *value* as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def exit_code(exc: BaseException) -> int:
    """Return the documented exit code for an error."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, UsageError | ConfigError):
        return EXIT_USAGE
    if isinstance(exc, NoCredentialsError):
        return EXIT_NO_CREDENTIALS
    if isinstance(exc, AccessRoleError):
        return EXIT_ACCESS_ROLE
    if isinstance(exc, DashboardError):
        return EXIT_DASHBOARD
    return EXIT_ERROR


def one_line(exc: BaseException) -> str:
    """Return the one-line message ``sls-access: error: …`` shows for *exc*."""
    if isinstance(exc, NoCredentialsError):
        tried = "; ".join(str(entry) for entry in exc.resolution.trail) or "no sources"
        return (
            f"no AWS credentials for {exc.resolution.target} (tried {tried}); "
            f"run '{PROG} explain' with the same flags for details"
        )
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SlsAccessError | CliError | UsageError):
        return message
    return f"{type(exc).__name__}: {message}"


def fail(exc: BaseException, *, debug: bool, code: int | None = None) -> int:
    """Report *exc* as one line on stderr (with its traceback first under ``--debug``); return its code."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"{PROG}: error: {one_line(exc)}\n")
    sys.stderr.flush()
    return exit_code(exc) if code is None else code


@contextlib.contextmanager
def _debug_logging(enabled: bool) -> Iterator[None]:
    """Log sls_access DEBUG records to stderr for one command, then put logging back.

    ``main()`` can run in-process (tests, embedding): the handler must not outlive it.
    """
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("sls_access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run(args: argparse.Namespace) -> int:
    """Run the command's handler; turn every error into its one line and exit code."""
    debug = bool(getattr(args, "debug", False))
    handler: Handler = args.handler
    try:
        with _debug_logging(debug):
            return handler(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed early (``| head``): stop quietly, and keep the exit-time flush quiet too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        return fail(exc, debug=debug)
