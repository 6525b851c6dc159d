"""The STS role session an access role is entered with: its name, SourceIdentity and tags.

Every value is made valid for STS by the one rule of :mod:`sls_access._values`
(:func:`~sls_access._values.session_field`, :func:`~sls_access._values.session_tag_value`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from sls_access._values import session_field, session_tag_value

if TYPE_CHECKING:
    from sls_access._target import Target

__all__ = ["SESSION_TAG_KEYS", "RoleSession", "default_session_name", "key_session", "key_session_tags"]

SESSION_TAG_KEYS = ("sls-org", "sls-app", "sls-stage", "sls-key")
"""The session tags a per-key session carries (none of them transitive)."""


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
    """Return a ``RoleSessionName`` for *target* that always satisfies STS's rules.

    ``sls-<org>.<app>.<stage>``, made valid by :func:`~sls_access._values.session_field`
    (a name it has to change ends with a hash of the full name, so distinct targets keep
    distinct names).
    """
    return session_field(f"sls-{target.org}.{target.app}.{target.stage}")


def key_session(key_name: str, key_id: str) -> RoleSession:
    """Return the per-key session of the dashboard service's access key *key_name* (id *key_id*).

    ``RoleSessionName`` is ``<key name>.<key id>`` (the id joins a CloudTrail event to
    the key record even when a name is reused), ``SourceIdentity`` the key's name; both
    made valid by :func:`~sls_access._values.session_field`, never passed through.
    """
    return RoleSession(name=session_field(f"{key_name}.{key_id}"), source_identity=session_field(key_name))


def key_session_tags(target: Target, key_name: str) -> dict[str, str]:
    """Return the session tags of a per-key session (:data:`SESSION_TAG_KEYS`), values made valid."""
    values = (target.org, target.app, target.stage, key_name)
    return {tag: session_tag_value(value) for tag, value in zip(SESSION_TAG_KEYS, values, strict=True)}
