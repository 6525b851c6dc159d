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


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and print its ``credential_process`` JSON."""
    with _loop_guard(target_of(args)):
        _, _, credentials = resolve(args)
    print_json(process_document(credentials))
    return 0
