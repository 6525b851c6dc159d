"""``sls-access whoami``: STS ``GetCallerIdentity`` with the target's keys.

Prints the account, the ARN and the user id AWS sees, and the source that gave the
keys; ``--json`` for machines. Prints no secret.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, cast

import botocore.exceptions

from sls_access.cli._common import (
    CliError,
    Subcommands,
    add_option_arguments,
    add_target_arguments,
    print_json,
    resolve,
)

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

__all__ = ["add_parser", "handle"]

# STS answers GetCallerIdentity in every region; this one is used when neither the
# target, the deployment profile nor botocore's configuration names a region.
FALLBACK_REGION = "us-east-1"


def add_parser(subparsers: Subcommands) -> None:
    """Register ``whoami``."""
    parser = subparsers.add_parser(
        "whoami",
        help="show the AWS identity the target's keys belong to",
        description="Call STS GetCallerIdentity with the target's keys and print the account, ARN, "
        "user id and the source of the keys.",
    )
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_option_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and ask STS who its keys belong to."""
    resolver, resolution, _ = resolve(args)
    target = resolution.target
    session = resolver.session(target.org, target.app, target.stage, region=target.region)
    region = resolution.region or session.get_config_variable("region") or FALLBACK_REGION
    try:
        client = cast("STSClient", session.create_client("sts", region_name=region))
        identity = client.get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise CliError(f"STS GetCallerIdentity with the keys from {resolution.source} failed: {exc}") from exc
    result = {
        "Account": identity["Account"],
        "Arn": identity["Arn"],
        "UserId": identity["UserId"],
        "Source": resolution.source,
        "Region": region,
    }
    if args.json:
        print_json(result)
    else:
        width = max(map(len, result))
        sys.stdout.write("".join(f"{key + ':':<{width + 1}} {value}\n" for key, value in result.items()))
    return 0
