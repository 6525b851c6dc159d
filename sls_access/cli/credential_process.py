"""``sls-access credential-process``: the AWS ``credential_process`` Version 1 JSON.

Point an AWS profile at it (``credential_process = sls-access credential-process --org …``)
and the AWS CLI, Terraform, the Serverless Framework and every AWS SDK use the chain.
Only the JSON goes to stdout; errors are one line on stderr.

The ``sls-access`` entry point sends the command to the per-user agent first
(:mod:`sls_access.agent`), which runs :func:`answer` with the caller's arguments,
environment and working directory; :func:`handle` runs the same steps in this process
when no agent can be used.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._process import environ_as
from sls_access._target import Target
from sls_access.cli._common import (
    EXIT_USAGE,
    PROG,
    CliError,
    Subcommands,
    UsageError,
    add_option_arguments,
    add_target_arguments,
    exit_code,
    iso_utc,
    one_line,
    option_args,
    print_json,
    resolve,
    target_of,
)

if TYPE_CHECKING:
    from sls_access.agent.server import Agent

__all__ = ["ACTIVE_VARIABLE", "add_parser", "answer", "handle", "process_document", "process_environ"]

# The targets whose credential-process is running in this process's ancestors. An AWS
# profile that runs `sls-access credential-process` and is also the profile sls-access
# gets its own base keys from (AWS_PROFILE=that-profile) would start it again, and again.
ACTIVE_VARIABLE = "SLS_ACCESS_CREDENTIAL_PROCESS_ACTIVE"

# What botocore's env provider reads, and the profile it would prefer to AWS_PROFILE:
# none of them may pick the caller when --base-profile names it.
_BASE_KEY_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_DEFAULT_PROFILE",
)


def add_parser(subparsers: Subcommands) -> None:
    """Register ``credential-process``."""
    parser = subparsers.add_parser(
        "credential-process",
        help="print the AWS credential_process JSON for a target",
        description="Print the AWS credential_process (Version 1) JSON for the target: Version, "
        "AccessKeyId, SecretAccessKey, SessionToken and Expiration (ISO 8601, UTC). "
        "SessionToken and Expiration are left out for keys that have none.",
    )
    add_target_arguments(parser)
    add_option_arguments(parser)
    parser.add_argument(
        "--base-profile",
        metavar="NAME",
        help="take the base credentials (the caller of AssumeRole) from this AWS profile; "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN are ignored",
    )
    parser.set_defaults(handler=handle)


def process_document(credentials: Credentials) -> dict[str, object]:
    """Return the ``credential_process`` Version 1 document for *credentials*."""
    document: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
    }
    if credentials.session_token:
        document["SessionToken"] = credentials.session_token
    if credentials.expiration is not None:
        document["Expiration"] = iso_utc(credentials.expiration)
    return document


def process_environ(environ: Mapping[str, str], target: Target, base_profile: str | None) -> dict[str, str]:
    """Return the environment the resolution for *target* runs in, from the caller's *environ*.

    The loop guard: refuse to run for a target whose credential-process is already running
    above us, and name this one for the processes the resolution starts (botocore runs a
    profile's ``credential_process``). With *base_profile*, botocore's default chain finds
    the base credentials in that profile: the environment keys, which come first in that
    chain, are removed, and ``AWS_PROFILE`` is set (``AWS_DEFAULT_PROFILE``, which botocore
    reads first, is removed). The agent computes the same environment from its caller's.
    """
    key = f"{target.org}/{target.app}/{target.stage}/{target.region or ''}"
    active = environ.get(ACTIVE_VARIABLE, "").split()
    if key in active:
        raise CliError(
            f"credential_process loop for {target}: sls-access looks for its own base keys in the AWS "
            "profile that runs it; unset AWS_PROFILE or give it base keys another way",
            code=EXIT_USAGE,
        )
    env = dict(environ)
    env[ACTIVE_VARIABLE] = " ".join([*active, key])
    if base_profile is not None:
        if not base_profile or any(char.isspace() for char in base_profile):
            raise CliError(f"--base-profile {base_profile!r} is not an AWS profile name", code=EXIT_USAGE)
        for var in _BASE_KEY_VARIABLES:
            env.pop(var, None)
        env["AWS_PROFILE"] = base_profile
    return env


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and print its ``credential_process`` JSON (in this process).

    The ``sls-access`` entry point asks the agent first (:mod:`sls_access.agent.client`),
    which runs :func:`answer`: the same steps; this handler runs when the agent cannot
    be used.
    """
    with environ_as(process_environ(os.environ, target_of(args), args.base_profile)):
        _, _, credentials = resolve(args)
    print_json(process_document(credentials))
    return 0


@functools.cache
def _parser() -> argparse.ArgumentParser:
    from sls_access.cli import build_parser  # noqa: PLC0415 - the agent parses as the command does

    return build_parser()


def answer(agent: Agent, request: Mapping[str, object]) -> dict[str, object]:
    """Answer the agent's ``credential-process`` request: the steps of :func:`handle`, for the caller.

    The request carries the caller's arguments, environment and working directory. The
    resolver is the agent's for the caller's fingerprint; a cold resolution runs with the
    environment :func:`process_environ` makes from the caller's. Errors are what
    :func:`handle` would print, and its exit code; when another caller's cold resolution
    keeps the agent busy, the answer tells the client to resolve in-process.
    """
    from sls_access.agent.caller import Busy, CallerResolver, dashboard_identity, fingerprint  # noqa: PLC0415

    argv, environ, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    if not (
        isinstance(argv, list)
        and all(isinstance(arg, str) for arg in argv)
        and isinstance(environ, dict)
        and all(isinstance(value, str) for value in environ.values())
        and isinstance(cwd, str)
        and os.path.isabs(cwd)
    ):
        return {"code": EXIT_USAGE, "stdout": "", "stderr": f"{PROG}: error: malformed request to the agent\n"}
    try:
        try:
            args = _parser().parse_args(["credential-process", *argv])
        except SystemExit:  # pragma: no cover - the client keeps --help in-process
            raise UsageError("see 'sls-access credential-process --help'") from None
        target = target_of(args, cwd=Path(cwd))  # serverless.yml, if any, in the caller's directory
        process_environ(environ, target, args.base_profile)  # the loop guard, on every request
        options = option_args(args)
        dashboard = dashboard_identity(Options.from_env(environ, **options), environ, cwd)
        key = fingerprint(environ, cwd, {**options, "base_profile": args.base_profile}, dashboard)

        def make() -> CallerResolver:
            def environ_for(target: Target) -> dict[str, str]:
                return process_environ(environ, target, args.base_profile)

            return CallerResolver.from_options(Options.from_env(environ, **options)).bind(
                environ_for, cwd, timeout=agent.resolution_timeout
            )

        credentials = agent.resolver(key, make).credentials(target.org, target.app, target.stage, region=target.region)
    except Busy:  # another caller's resolution is slow: this one resolves in-process, not after it
        return {"in_process": True}
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and an exit code, as in run()
        return {"code": exit_code(exc), "stdout": "", "stderr": f"{PROG}: error: {one_line(exc)}\n"}
    return {"code": 0, "stdout": json.dumps(process_document(credentials), indent=2) + "\n", "stderr": ""}
