"""The STS role session an access role is entered with: its name and SourceIdentity."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from sls_access._target import Target

__all__ = ["RoleSession", "default_session_name"]

_INVALID = re.compile(r"[^\w+=,.@-]", re.ASCII)
_MAX = 64


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


def default_session_name(target: Target) -> str:
    r"""Return a ``RoleSessionName`` for *target* that always satisfies STS's rules.

    ``sls-<org>.<app>.<stage>`` with every character outside ``[\\w+=,.@-]`` (ASCII)
    replaced by ``-``; when that is longer than 64 characters it is cut and ended with
    a hash of the full name, so distinct targets keep distinct names.
    """
    name = _INVALID.sub("-", f"sls-{target.org}.{target.app}.{target.stage}")
    if len(name) > _MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX - len(digest) - 1]}-{digest}"
    return name
