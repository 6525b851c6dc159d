"""``sls-access credential-process``: the AWS ``credential_process`` Version 1 JSON.

Point an AWS profile at it (``credential_process = sls-access credential-process --org …``)
and the AWS CLI, Terraform, the Serverless Framework and every AWS SDK use the chain.
Only the JSON goes to stdout; errors are one line on stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from sls_access._credentials import Credentials
from sls_access.cli._common import add_option_arguments, add_target_arguments, iso_utc, print_json, resolve

__all__ = ["add_parser", "handle", "process_document"]


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


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and print its ``credential_process`` JSON."""
    _, _, credentials = resolve(args)
    print_json(process_document(credentials))
    return 0
