"""Value rules, written once: names, regions, account ids, STS session fields, timestamps.

Every module that checks a target name, a region or an account id, or writes an
expiry as ``…Z``, imports it from here, so that the CLI, the dashboard file, the
service and the library can never disagree about what is valid.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = [
    "ACCESS_KEY_ID",
    "ACCOUNT_ID",
    "MIN_LIFETIME",
    "PARTITIONS",
    "REGION",
    "ROLE_ARN",
    "SECRET_TEXT",
    "account_of_arn",
    "iso_utc",
    "name_problem",
    "session_field_problem",
]

MIN_LIFETIME = timedelta(seconds=60)
"""Keys with less time than this left when they arrive are refused, from every source: they
are expired on arrival, which means a clock that is off or an answer that is wrong."""

# Every pattern is matched whole (fullmatch: no trailing newline) and ASCII-only ([0-9], not \d).
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
"""The AWS partitions an ARN may name (those botocore's endpoint data knows)."""
_PARTITION = "|".join(re.escape(name) for name in PARTITIONS)

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)
"""An AWS region name like ``eu-west-1`` (use ``fullmatch``)."""

ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)
"""An AWS account id: twelve digits (use ``fullmatch``)."""

ROLE_ARN = re.compile(rf"arn:(?:{_PARTITION}):iam::([0-9]{{12}}):role/[\w+=,.@/-]{{1,512}}", re.ASCII)
"""An IAM role ARN; group 1 is its account id (use ``fullmatch``)."""

_ARN_ACCOUNT = re.compile(rf"arn:(?:{_PARTITION}):(?:iam|sts)::([0-9]{{12}}):", re.ASCII)

ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)
"""An access key id (``AKIA…``/``ASIA…``; use ``fullmatch``)."""

SECRET_TEXT = re.compile(r"[!-~]{1,8192}", re.ASCII)
"""A secret key or session token: visible ASCII, no whitespace (use ``fullmatch``). What
arrives from a source is checked against it, so that no value can smuggle a newline into
an environment file or a header."""

# STS: RoleSessionName and SourceIdentity are 2..64 characters of [\w+=,.@-] (ASCII).
_SESSION_FIELD = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


def name_problem(value: object) -> str | None:
    """Return why *value* is not a valid org, app or stage name, or None when it is.

    A name is printable, non-empty, without whitespace or ``/``, and not ``.`` or ``..``
    (it is a path segment of the dashboard service's URLs).
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if "/" in value or not value.isprintable() or any(ch.isspace() for ch in value) or value in {".", ".."}:
        return f"{value!r} must not contain '/', whitespace or control characters, nor be '.' or '..'"
    return None


def session_field_problem(what: str, value: object) -> str | None:
    """Return why *value* is not a valid STS *what* (``RoleSessionName``/``SourceIdentity``), or None."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not _SESSION_FIELD.fullmatch(value):
        return f"{what} {value[:80]!r} must be 2-64 characters of letters, digits and +=,.@_-"
    if value.lower().startswith("aws:"):
        return f"{what} must not start with 'aws:'"
    return None


def account_of_arn(arn: str) -> str | None:
    """Return the account id of an IAM or STS ARN, or None when *arn* is not one."""
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else None


def iso_utc(value: datetime) -> str:
    """Return *value* as ISO 8601 in UTC with a ``Z``, e.g. ``2026-01-02T03:04:05Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
