"""The STS role session a deployment profile's access role is entered with."""

from __future__ import annotations

import re

import attrs

__all__ = ["RoleSession", "check_session_field"]

# STS: RoleSessionName and SourceIdentity are 2..64 characters of [\w+=,.@-] (ASCII).
_VALID = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)


def check_session_field(what: str, value: object) -> str | None:
    """Return why *value* is not a valid STS *what* (``RoleSessionName``/``SourceIdentity``), or None."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not _VALID.match(value):
        return f"{what} {value[:80]!r} must be 2-64 characters of letters, digits and +=,.@_-"
    if value.lower().startswith("aws:"):
        return f"{what} must not start with 'aws:'"
    return None


@attrs.frozen(kw_only=True)
class RoleSession:
    r"""How an access role's session is named in STS and CloudTrail.

    :ivar name: the ``RoleSessionName`` (2-64 characters of ``[\w+=,.@-]``); the
        default is ``sls-<org>.<app>.<stage>``.
    :ivar source_identity: the ``SourceIdentity`` to set with ``AssumeRole``, or None
        (the default) to set none. Same character rules as the name.
    """

    name: str
    source_identity: str | None = None
