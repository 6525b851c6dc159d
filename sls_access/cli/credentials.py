"""``sls-access credentials``: the target's keys for people and scripts (json, env, dotenv)."""

from __future__ import annotations

import argparse
import re
import shlex
import sys

from sls_access.cli._common import (
    Subcommands,
    add_option_arguments,
    add_target_arguments,
    credential_variables,
    iso_utc,
    print_json,
    resolve,
)

__all__ = ["FORMATS", "add_parser", "handle"]

FORMATS = ("json", "env", "dotenv")
STALE_IN_SHELL = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE")


def add_parser(subparsers: Subcommands) -> None:
    """Register ``credentials``."""
    parser = subparsers.add_parser(
        "credentials",
        help="print the keys for a target (json, env or dotenv)",
        description="Print the target's AWS keys. json: one object (AccessKeyId, SecretAccessKey, "
        "SessionToken, Expiration, Region, Source); env: 'export' lines for eval; dotenv: "
        "KEY=value lines. Region variables are printed when the region is known; env also unsets "
        "AWS_PROFILE and any session token or expiry the keys do not have.",
    )
    add_target_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="json", help="output format (default: json)")
    add_option_arguments(parser)
    parser.set_defaults(handler=handle)


_PLAIN = re.compile(r"[A-Za-z0-9+/=_.:-]*", re.ASCII)


def handle(args: argparse.Namespace) -> int:
    """Resolve the target and print its keys in the chosen format."""
    _, resolution, credentials = resolve(args)
    if args.format == "json":
        print_json(
            {
                "AccessKeyId": credentials.access_key_id,
                "SecretAccessKey": credentials.secret_access_key,
                "SessionToken": credentials.session_token,
                "Expiration": None if credentials.expiration is None else iso_utc(credentials.expiration),
                "Region": resolution.region,
                "Source": resolution.source,
            }
        )
        return 0
    variables = credential_variables(credentials, resolution.region)
    if args.format == "env":
        lines = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
        # A shell that eval's this may hold an older session's token: keys without one must not pick it up.
        stale = [name for name in STALE_IN_SHELL if name not in variables]
        if stale:
            lines.append("unset " + " ".join(stale))
    else:
        lines = [f"{name}={_dotenv_quote(value)}" for name, value in variables.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _dotenv_quote(value: str) -> str:
    r"""Return *value* as a dotenv value: as it is when plain, else double-quoted and escaped.

    Real AWS keys, tokens, expiries and regions are plain (letters, digits, ``+/=_.:-``) and
    stay unquoted, so that ``docker run --env-file``, which takes values literally, keeps
    working; anything else (a plugin's odd token) is quoted with ``\\``, ``"``, ``$`` and
    backtick escaped, so that no dotenv loader expands or splits it. Values never hold
    whitespace or control characters: :class:`~sls_access.Credentials` refuses them.
    """
    if _PLAIN.fullmatch(value):
        return value
    escaped = "".join("\\" + char if char in '\\"$`' else char for char in value)
    return f'"{escaped}"'
