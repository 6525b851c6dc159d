"""Value rules, written once: names, regions, account ids, STS session fields, timestamps.

Every module that checks a target name, a region or an account id, or writes an
expiry as ``…Z``, imports it from here, so that the CLI, the dashboard file, the
service and the library can never disagree about what is valid.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

__all__ = [
    "ACCESS_KEY_ID",
    "ACCOUNT_ID",
    "EXTERNAL_ID",
    "MIN_LIFETIME",
    "PARTITIONS",
    "REGION",
    "ROLE_ARN",
    "SECRET_TEXT",
    "account_of_arn",
    "caller_principal",
    "iso_utc",
    "known_regions",
    "name_problem",
    "near_name",
    "parse_iso_utc",
    "region_problem",
    "session_field",
    "session_field_problem",
    "session_tag_value",
    "source_identity_of_arn",
]

MIN_LIFETIME = timedelta(seconds=60)
"""Keys with less time than this left when they arrive are refused, from every source: they
are expired on arrival, which means a clock that is off or an answer that is wrong."""

# Every pattern is matched whole (fullmatch: no trailing newline) and ASCII-only ([0-9], not \d).
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
"""The AWS partitions an ARN may name (those botocore's endpoint data knows)."""
_PARTITION = "|".join(re.escape(name) for name in PARTITIONS)

# The patterns are compiled on first use, not at import: the ARN patterns alone cost about a
# millisecond to compile, which every process would pay before its first resolution. The
# public ones are module attributes all the same (PEP 562 ``__getattr__`` below).
_PATTERNS: dict[str, str] = {
    "REGION": r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}",
    "ACCOUNT_ID": r"[0-9]{12}",
    "ROLE_ARN": rf"arn:(?:{_PARTITION}):iam::([0-9]{{12}}):role/[\w+=,.@/-]{{1,512}}",
    "EXTERNAL_ID": r"[\w+=,.@:/-]{2,1224}",
    "_ASSUMED_ROLE": rf"arn:({_PARTITION}):sts::([0-9]{{12}}):assumed-role/([\w+=,.@-]{{1,64}})/[^/]+",
    # moto's GetCallerIdentity names an IAM user arn:aws:sts::ACCOUNT:user/NAME: the same user.
    "_STS_USER": rf"arn:({_PARTITION}):sts::([0-9]{{12}}):user/([\w+=,.@/-]{{1,512}})",
    "_PRINCIPAL": rf"arn:(?:{_PARTITION}):iam::[0-9]{{12}}:(?:user|role)/[\w+=,.@/-]{{1,512}}"
    rf"|arn:(?:{_PARTITION}):iam::[0-9]{{12}}:root",
    "_ARN_ACCOUNT": rf"arn:(?:{_PARTITION}):(?:iam|sts)::([0-9]{{12}}):",
    "ACCESS_KEY_ID": r"[A-Za-z0-9_-]{1,128}",
    "SECRET_TEXT": r"[!-~]{1,8192}",
    # STS: RoleSessionName and SourceIdentity are 2..64 characters of [\w+=,.@-] (ASCII).
    "_SESSION_FIELD": r"[\w+=,.@-]{2,64}",
    "_SESSION_INVALID": r"[^\w+=,.@-]",
    "_ISO_UTC": r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z",
}


@functools.cache
def _pattern(name: str) -> re.Pattern[str]:
    """Return the compiled pattern *name* of :data:`_PATTERNS` (ASCII-only), compiled once."""
    return re.compile(_PATTERNS[name], re.ASCII)


if TYPE_CHECKING:
    REGION: re.Pattern[str]
    """An AWS region name like ``eu-west-1`` (use ``fullmatch``)."""
    ACCOUNT_ID: re.Pattern[str]
    """An AWS account id: twelve digits (use ``fullmatch``)."""
    ROLE_ARN: re.Pattern[str]
    """An IAM role ARN; group 1 is its account id (use ``fullmatch``)."""
    EXTERNAL_ID: re.Pattern[str]
    """An STS ``ExternalId``: 2-1224 characters of ``[\\w+=,.@:/-]`` (use ``fullmatch``)."""
    ACCESS_KEY_ID: re.Pattern[str]
    """An access key id (``AKIA…``/``ASIA…``; use ``fullmatch``)."""
    SECRET_TEXT: re.Pattern[str]
    """A secret key or session token: visible ASCII, no whitespace (use ``fullmatch``). What
    arrives from a source is checked against it, so that no value can smuggle a newline into
    an environment file or a header."""
else:

    def __getattr__(name: str) -> re.Pattern[str]:
        """Compile a public pattern on its first access and keep it as a module attribute."""
        if name.startswith("_") or name not in _PATTERNS:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        pattern = globals()[name] = _pattern(name)
        return pattern


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data (read once, on first use)."""
    import botocore.loaders  # noqa: PLC0415 - only when a region is checked: the value rules stay light

    data = botocore.loaders.create_loader().load_data("endpoints")
    return frozenset(name for partition in data["partitions"] for name in partition.get("regions", {}))


def region_problem(value: object) -> str | None:
    """Return why *value* is not a region sls-access accepts, or None when it is.

    A region is a name like ``eu-west-1`` that botocore's endpoint data knows: a region
    botocore does not know yet needs a newer botocore. Unknown names are refused so that
    no caller (a dashboard service's ``?region=``) can make one STS client per made-up name.
    """
    if not isinstance(value, str) or not _pattern("REGION").fullmatch(value):
        return f"{value!r} is not an AWS region name like 'eu-west-1'"
    if value not in known_regions():
        return f"{value!r} is not an AWS region botocore knows (a new region needs a newer botocore)"
    return None


_SESSION_MAX = 64
# STS: a session tag's value is 0..256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@].
_TAG_VALUE_MAX = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_DIGEST = 10


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


def near_name(name: str, known: Iterable[str]) -> str | None:
    """Return the name in *known* that *name* is most likely a slip of, or None.

    A slip is a name that is not in *known* but equals one of it ignoring letter case, or
    is within a small edit distance of one (Damerau-Levenshtein: an insertion, deletion,
    substitution or swap of two neighbours each count 1; compared ignoring case): at most
    1 when the shorter of the two names has 4 characters or fewer, at most 2 otherwise.
    Names shorter than 3 characters are slips only by letter case (``qa`` and ``ci`` are
    not slips of each other). Among several, the closest wins, then the first in *known*.
    """
    folded = name.casefold()
    best: tuple[int, str] | None = None
    for candidate in known:
        if candidate == name:
            return None
        other = candidate.casefold()
        if other == folded:
            distance = 0
        elif min(len(name), len(candidate)) < 3:
            continue
        else:
            limit = 1 if min(len(name), len(candidate)) <= 4 else 2
            found = _distance_within(folded, other, limit)
            if found is None:
                continue
            distance = found
        if best is None or distance < best[0]:
            best = (distance, candidate)
    return None if best is None else best[1]


def _distance_within(a: str, b: str, limit: int) -> int | None:
    """Return the optimal-string-alignment distance of *a* and *b* when it is at most *limit*, else None.

    Only the band of cells within *limit* of the diagonal is computed, so a long name
    costs about ``len * limit`` steps, not ``len ** 2``.
    """
    if abs(len(a) - len(b)) > limit:
        return None
    over = limit + 1
    before: list[int] = []
    previous = [j if j <= limit else over for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [over] * (len(b) + 1)
        if i <= limit:
            current[0] = i
        low, high = max(1, i - limit), min(len(b), i + limit)
        for j in range(low, high + 1):
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            current[j] = min(value, over)
        if min(current[max(0, low - 1) : high + 1]) > limit:
            return None
        before, previous = previous, current
    return previous[len(b)] if previous[len(b)] <= limit else None


def session_field_problem(what: str, value: object) -> str | None:
    """Return why *value* is not a valid STS *what* (``RoleSessionName``/``SourceIdentity``), or None."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not _pattern("_SESSION_FIELD").fullmatch(value):
        return f"{what} {value[:80]!r} must be 2-64 characters of letters, digits and +=,.@_-"
    if value.lower().startswith("aws:"):
        return f"{what} must not start with 'aws:'"
    return None


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST]


def session_field(raw: str) -> str:
    r"""Return *raw* as a ``RoleSessionName``/``SourceIdentity`` STS accepts (the one sanitising rule).

    A valid value (2-64 characters of ``[\w+=,.@-]``, ASCII) is returned as it is. Any
    other has each character outside that set replaced by ``-``, is cut to fit, and ends
    with ``-`` and 10 hex characters of the SHA-256 of *raw*: deterministic, and two
    names that differ get different values (short of a 40-bit hash collision, or a valid
    name typed to equal another's changed one). The result never starts with ``aws:``
    (``:`` is not in the set). :func:`session_field_problem` holds for every result.
    """
    if _pattern("_SESSION_FIELD").fullmatch(raw):
        return raw
    clean = _pattern("_SESSION_INVALID").sub("-", raw)
    return f"{clean[: _SESSION_MAX - _DIGEST - 1]}-{_digest(raw)}"


def _tag_character(ch: str) -> bool:
    # Stricter than STS's pattern on purpose: of \p{Z} only spaces (Zs; no line or paragraph
    # separators), and no character outside the BMP (STS counts UTF-16 units, not characters).
    if ch in _TAG_PUNCTUATION:
        return True
    category = unicodedata.category(ch)
    return ord(ch) <= 0xFFFF and (category[0] in "LN" or category == "Zs")


def session_tag_value(raw: str) -> str:
    r"""Return *raw* as a session tag value STS accepts: at most 256 of ``[\p{L}\p{Z}\p{N}_.:/=+\-@]``.

    A valid value is returned as it is; any other has each character outside the set
    replaced by ``_``, is cut to fit, and ends with ``-`` and 10 hex characters of the
    SHA-256 of *raw* (as :func:`session_field` does).
    """
    if len(raw) <= _TAG_VALUE_MAX and all(_tag_character(ch) for ch in raw):
        return raw
    clean = "".join(ch if _tag_character(ch) else "_" for ch in raw)
    return f"{clean[: _TAG_VALUE_MAX - _DIGEST - 1]}-{_digest(raw)}"


def source_identity_of_arn(arn: str) -> str:
    """Return the ``SourceIdentity`` that names the caller *arn* (a ``GetCallerIdentity`` ARN).

    The last ``/`` part of the ARN's resource: an IAM user's name
    (``arn:aws:iam::1…:user/ops/alice`` → ``alice``), a role session's name
    (``…:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com`` → ``alice@example.com``,
    ``…:assumed-role/ci/i-0abc`` → ``i-0abc``), a federated user's name; ``root`` for an
    account's root user. Made valid with :func:`session_field`.
    """
    resource = arn.split(":", 5)[-1]
    return session_field(resource.rsplit("/", 1)[-1])


def account_of_arn(arn: str) -> str | None:
    """Return the account id of an IAM or STS ARN, or None when *arn* is not one."""
    match = _pattern("_ARN_ACCOUNT").match(arn)
    return match.group(1) if match else None


def caller_principal(arn: str) -> str | None:
    """Return the IAM principal ARN a trust policy names for the caller *arn*, or None when it has none.

    ``GetCallerIdentity`` answers an assumed role as ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``;
    a trust policy names the role, ``arn:aws:iam::ACCOUNT:role/ROLE`` (a role with a path is
    named here without it: STS drops the path from the assumed-role ARN, so re-check it).
    IAM user, role and root ARNs are returned as they are; anything else (a federated user) is None.
    """
    assumed = _pattern("_ASSUMED_ROLE").fullmatch(arn)
    if assumed is not None:
        partition, account, role = assumed.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    user = _pattern("_STS_USER").fullmatch(arn)
    if user is not None:
        partition, account, name = user.groups()
        return f"arn:{partition}:iam::{account}:user/{name}"
    return arn if _pattern("_PRINCIPAL").fullmatch(arn) else None


def iso_utc(value: datetime) -> str:
    """Return *value* as ISO 8601 in UTC with a ``Z``, e.g. ``2026-01-02T03:04:05Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> datetime:
    """Return the aware UTC datetime :func:`iso_utc` wrote as *text* (``2026-01-02T03:04:05Z`` exactly).

    Raises :class:`ValueError` for any other text, a date that does not exist included;
    :class:`TypeError` when *text* is not a string. A regular expression, not
    ``strptime``: the first ``strptime`` of a process imports and compiles its locale's
    tables (about 2 ms), which the service would pay on a request.
    """
    found = _pattern("_ISO_UTC").fullmatch(text)
    if found is None:
        raise ValueError(f"not a UTC time of the form 2026-01-02T03:04:05Z: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(part) for part in found.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
