"""``sls-access credential-process``: the AWS ``credential_process`` Version 1 JSON.

Point an AWS profile at it (``credential_process = sls-access credential-process --org …``)
and the AWS CLI, Terraform, the Serverless Framework and every AWS SDK use the chain.
Only the JSON goes to stdout; errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sls_access._credentials import Credentials
from sls_access._target import Target
from sls_access.cli._common import (
    EXIT_USAGE,
    CliError,
    add_option_arguments,
    add_target_arguments,
    iso_utc,
    print_json,
    resolve,
    target_of,
)

__all__ = ["ACTIVE_VARIABLE", "add_parser", "handle", "process_document"]

# The targets whose credential-process is running in this process's ancestors. An AWS
# profile that runs `sls-access credential-process` and is also the profile sls-access
# gets its own base keys from (AWS_PROFILE=that-profile) would start it again, and again.
ACTIVE_VARIABLE = "SLS_ACCESS_CREDENTIAL_PROCESS_ACTIVE"

# What botocore's env provider reads, and the profile it would prefer to AWS_PROFILE:
# none of them may pick the caller when --base-profile names it.
_BASE_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                       "AWS_CREDENTIAL_EXPIRATION", "AWS_DEFAULT_PROFILE")


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
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
    parser.add_argument("--base-profile", metavar="NAME",
                        help="take the base credentials (the caller of AssumeRole) from this AWS profile; "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN are ignored")
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


@contextmanager
def _loop_guard(target: Target) -> Iterator[None]:
    """Refuse to run for a target whose credential-process is already running above us."""
    key = f"{target.org}/{target.app}/{target.stage}/{target.region or ''}"
    active = os.environ.get(ACTIVE_VARIABLE, "").split()
    if key in active:
        raise CliError(
            f"credential_process loop for {target}: sls-access looks for its own base keys in the AWS "
            "profile that runs it; unset AWS_PROFILE or give it base keys another way",
            code=EXIT_USAGE)
    previous = os.environ.get(ACTIVE_VARIABLE)
    os.environ[ACTIVE_VARIABLE] = " ".join([*active, key])
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ACTIVE_VARIABLE]
        else:
            os.environ[ACTIVE_VARIABLE] = previous


@contextmanager
def _base_profile(name: str | None) -> Iterator[None]:
    """Make botocore's default chain find the base credentials in profile *name*, for the block.

    The environment keys would come first in that chain (before any profile), so they are
    removed, and ``AWS_PROFILE`` is set (``AWS_DEFAULT_PROFILE``, which botocore reads
    first, is removed). Everything is put back afterwards: ``main()`` may run in-process.
    """
    if name is None:
        yield
        return
    if not name or any(char.isspace() for char in name):
        raise CliError(f"--base-profile {name!r} is not an AWS profile name", code=EXIT_USAGE)
    saved = {var: os.environ.get(var) for var in (*_BASE_KEY_VARIABLES, "AWS_PROFILE")}
    for var in _BASE_KEY_VARIABLES:
        os.environ.pop(var, None)
    os.environ["AWS_PROFILE"] = name
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and print its ``credential_process`` JSON."""
    with _loop_guard(target_of(args)), _base_profile(args.base_profile):
        _, _, credentials = resolve(args)
    print_json(process_document(credentials))
    return 0
