"""``sls-access exec -- CMD [ARGS…]``: run a command with the target's credentials.

By default the child reads *refreshing* credentials: ``exec`` serves them on loopback
for the child's lifetime (:mod:`sls_access.cli._container_server`) and gives the child
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``, which
every AWS SDK reads and refreshes from by itself, so a deploy that outlives one set of
keys keeps working. With ``--env-keys`` the child gets static ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` and ``AWS_CREDENTIAL_EXPIRATION``
instead (for tools that cannot read container credentials). Either way the child gets
``AWS_REGION`` and ``AWS_DEFAULT_REGION`` when the region is known, and both when the
parent sets only one (:func:`passed_region`); the parent's other
AWS credential variables (every stage's ``AWS_<X>_*`` keys and profile, whatever ``<X>``
holds, and its own ``AWS_CONTAINER_*``) and ``SERVERLESS_ACCESS_KEY`` are removed so that
no SDK or tool in the child picks a different identity. The child's exit code is
returned (128 + N when a signal N ended it).

Every SDK prefers a ``default`` profile with credentials in the AWS config or
credentials file over container credentials; when the child's default profile holds
any, ``exec`` gives the child environment keys instead (they win over profiles
everywhere) and says so on stderr.

Signals: SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to ``sls-access`` are passed on to the
child. SIGINT and SIGQUIT are passed on too, except when ``sls-access`` runs in the
foreground of a terminal: there Ctrl-C already reaches the child (same process group), and
a second copy would make tools like Terraform cancel hard instead of gracefully.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from sls_access._credentials import Credentials
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver
from sls_access.cli._common import (
    EXIT_CANNOT_EXECUTE,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    PROG,
    CliError,
    Subcommands,
    add_option_arguments,
    add_target_arguments,
    credential_variables,
    region_variables,
    resolve,
)
from sls_access.cli._container_server import ContainerEndpoint
from sls_access.cli._serverless_yml import framework_profile, passes_aws_profile

__all__ = [
    "FRAMEWORK_VARIABLES",
    "REMOVED_VARIABLES",
    "add_parser",
    "child_environment",
    "default_profile_credentials",
    "handle",
    "passed_region",
    "run_child",
]

log = logging.getLogger(__name__)

# The parent's variables that never reach the child (besides every AWS_<X>_* key and
# profile, see _STAGE_VARIABLE): anything that would let an SDK or tool in the child
# pick another identity, and the dashboard access key, which the child has no use for.
REMOVED_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "SERVERLESS_ACCESS_KEY",
)
# Any stage's keys and profile, whatever the stage holds: the Serverless Framework reads
# AWS_${stage.toUpperCase()}_* verbatim (AWS_PRE-PROD_ACCESS_KEY_ID) and prefers them over
# AWS_*, so not only the current stage's [A-Z0-9_] spelling has to go. The plain
# AWS_ACCESS_KEY_ID… do not match (the "_" before the suffix needs an "AWS_" before it).
# Set in the child unless the parent sets them: the Serverless Framework's telemetry and
# update notifications stay off (they call home on every command).
FRAMEWORK_VARIABLES = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"}
# The keys that make an AWS SDK take its credentials from a profile.
_PROFILE_CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
    "credential_source",
    "login_session",
)
_STAGE_VARIABLE = re.compile(r"AWS_.*_(?:ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE)", re.DOTALL)

_ALWAYS_FORWARDED = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
_TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``exec``."""
    parser = subparsers.add_parser(
        "exec",
        help="run a command with the target's credentials",
        description="Run CMD with the target's credentials: by default served to it on loopback as "
        "refreshing container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI and "
        "AWS_CONTAINER_AUTHORIZATION_TOKEN), with --env-keys as static AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; AWS_REGION/AWS_DEFAULT_REGION when the "
        "region is known. The parent's other AWS credential variables (AWS_PROFILE, every "
        "AWS_<X>_* key and profile, …) and SERVERLESS_ACCESS_KEY are removed. Without "
        "--org/--app/--stage, they are read from ./serverless.yml and CMD's --stage/--region. "
        "Exits with CMD's exit code; signals are passed on to CMD.",
        usage="%(prog)s [--org ORG --app APP --stage STAGE] [options] -- CMD [ARGS ...]",
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--env-keys",
        action="store_true",
        help="give CMD static keys in AWS_ACCESS_KEY_ID… instead of serving it refreshing "
        "credentials (for tools that cannot read container credentials)",
    )
    add_option_arguments(parser)
    parser.add_argument(
        "child", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS ...]", help="the command to run, after '--'"
    )
    parser.set_defaults(handler=handle)


def child_environment(parent: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """Return *parent* without its AWS credential variables, then with *variables* set.

    *variables* are set after the removal, so the child's own keys are never stripped.
    """
    env = {
        name: value
        for name, value in parent.items()
        if name not in REMOVED_VARIABLES and not _STAGE_VARIABLE.fullmatch(name)
    }
    for name, value in FRAMEWORK_VARIABLES.items():
        env.setdefault(name, value)
    env.update(variables)
    return env


def passed_region(parent: Mapping[str, str], region: str | None) -> dict[str, str]:
    """Return the region variables the child gets: both ``AWS_REGION`` and ``AWS_DEFAULT_REGION``.

    With *region* known, both are set to it. Otherwise the parent's region is passed on,
    and when the parent sets only one of the two the other is set to the same value: the
    AWS SDK for JavaScript v3 reads only ``AWS_REGION``, the AWS CLI v1 and botocore only
    ``AWS_DEFAULT_REGION``, and a child must not see a region in one SDK and none in the
    other. Both set (even differently) are left as the parent has them.
    """
    if region:
        return region_variables(region)
    current, default = parent.get("AWS_REGION"), parent.get("AWS_DEFAULT_REGION")
    if current and not default:
        return {"AWS_DEFAULT_REGION": current}
    if default and not current:
        return {"AWS_REGION": default}
    return {}


def default_profile_credentials(env: Mapping[str, str]) -> str | None:
    """Return where the ``default`` AWS profile seen with *env* holds credentials, or None.

    An SDK whose environment has no keys and no ``AWS_PROFILE`` takes the ``default``
    profile's credentials before container credentials: such a profile would shadow
    the endpoint ``exec`` serves.
    """
    import botocore.configloader  # noqa: PLC0415 - botocore is loaded by the resolution already

    files = (
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", ("default",)),
        ("AWS_CONFIG_FILE", "~/.aws/config", ("default", "profile default")),
    )
    for variable, fallback, sections in files:
        path = os.path.expanduser(env.get(variable) or fallback)
        if not os.path.isfile(path):
            continue
        try:
            parsed = botocore.configloader.raw_config_parse(path, parse_subsections=False)
        except Exception:  # noqa: BLE001 - a file the SDKs cannot read either shadows nothing
            log.debug("cannot parse %s; it cannot shadow the endpoint", path)
            continue
        for section in sections:
            found = [key for key in _PROFILE_CREDENTIAL_KEYS if key in parsed.get(section, {})]
            if found:
                return f"{path} [{section}] has {found[0]}"
    return None


def _in_terminal_foreground() -> bool:
    """Whether this process group is a terminal's foreground group (it gets the terminal's Ctrl-C)."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError, AttributeError):
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
    return False


class _Forwarder:
    """Passes the signals sls-access receives on to the child, once the child exists."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []

    def forward(self, signum: int, frame: FrameType | None = None) -> None:
        """Send *signum* to the child, or keep it until the child exists."""
        if self.child is None:
            self._pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(signum)

    def started(self, child: subprocess.Popen[bytes]) -> None:
        """Record the child and pass on the signals that arrived before it existed."""
        self.child = child
        pending, self._pending = self._pending, []
        for signum in pending:
            self.forward(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Install the handlers for the duration of the block (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set in the main thread
            return
        terminal = _in_terminal_foreground()
        previous: dict[int, Any] = {}
        try:
            for name in (*_ALWAYS_FORWARDED, *_TERMINAL_SIGNALS):
                signum = getattr(signal, name, None)
                if signum is not None:
                    ignore = terminal and name in _TERMINAL_SIGNALS
                    previous[signum] = signal.signal(signum, _ignore if ignore else self.forward)
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Do nothing: the child got this signal from the terminal itself; keep waiting for it."""


def run_child(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run *command* with *env*, passing signals on; return its exit code (128 + N for signal N)."""
    forwarder = _Forwarder()
    with forwarder.installed():
        try:
            child = subprocess.Popen(list(command), env=dict(env))  # noqa: S603 - the user's command
        except FileNotFoundError:
            raise CliError(f"command not found: {command[0]}", code=EXIT_NOT_FOUND) from None
        except OSError as exc:
            raise CliError(f"cannot run {command[0]}: {exc.strerror or exc}", code=EXIT_CANNOT_EXECUTE) from None
        forwarder.started(child)
        returncode = child.wait()
    return 128 - returncode if returncode < 0 else returncode


def _command(args: argparse.Namespace) -> list[str]:
    command = list(args.child)
    if command and command[0] == "--":
        command = command[1:]
    if not command:  # as aws-vault does: a shell with the credentials
        shell = os.environ.get("SHELL") or "/bin/sh"
        return [shell]
    return command


def _serve(command: list[str], resolver: Resolver, resolution: Resolution, credentials: Credentials) -> int:
    target = resolution.target
    endpoint = ContainerEndpoint(
        lambda: resolver.credentials(target.org, target.app, target.stage, region=target.region),
        clock=resolver.options.clock,
        first=credentials,
    )
    with endpoint:
        env = child_environment(os.environ, {**endpoint.variables(), **passed_region(os.environ, resolution.region)})
        log.debug("serving %s's credentials to the child on 127.0.0.1:%s", target, endpoint.port)
        sys.stdout.flush()
        return run_child(command, env)


def handle(args: argparse.Namespace) -> int:
    """Resolve the target, then run the command with its credentials (served, or in the environment)."""
    command = _command(args)
    if passes_aws_profile(command):
        # The Framework takes --aws-profile before environment keys too: nothing exec can
        # give it would be used.
        raise CliError(
            "the command passes --aws-profile, which the Serverless Framework uses instead of "
            "the credentials sls-access gives it; remove it",
            code=EXIT_USAGE,
        )
    resolver, resolution, credentials = resolve(args)
    if not args.env_keys:
        shadow = framework_profile(Path.cwd(), command) or default_profile_credentials(
            child_environment(os.environ, {})
        )
        if shadow is None:
            return _serve(command, resolver, resolution, credentials)
        sys.stderr.write(
            f"{PROG}: warning: {shadow}, which AWS SDKs prefer over the credentials exec "
            "serves; passing environment keys instead (see --env-keys)\n"
        )
        sys.stderr.flush()
    env = child_environment(
        os.environ, {**credential_variables(credentials, None), **passed_region(os.environ, resolution.region)}
    )
    sys.stdout.flush()
    return run_child(command, env)
