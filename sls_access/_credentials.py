"""The credentials value object."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from sls_access._public import publish
from sls_access._values import ACCESS_KEY_ID, REGION, SECRET_TEXT, iso_utc

__all__ = ["Credentials"]


def _key_id(instance: Credentials, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not ACCESS_KEY_ID.fullmatch(value):
        raise ValueError("access_key_id must be 1-128 ASCII letters, digits, _ and -")


def _secret(instance: Credentials, attribute: attrs.Attribute[Any], value: object) -> None:
    # The value itself is never named: it is a secret.
    if value is not None and (not isinstance(value, str) or not SECRET_TEXT.fullmatch(value)):
        raise ValueError(f"{attribute.name} must be visible ASCII characters without whitespace")


def _region(instance: Credentials, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not REGION.fullmatch(value)):
        raise ValueError(f"region {str(value)[:40]!r} is not an AWS region name")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError("expiration must be a timezone-aware datetime")
    return value


@attrs.frozen(kw_only=True)
class Credentials:
    """AWS keys, with their expiry and the source that produced them.

    The secret key and the session token are left out of ``repr`` and ``str``. Every field
    is checked (``ValueError``, never naming a secret): an access key id of ASCII letters
    and digits, a secret key and token of visible ASCII without whitespace, an aware
    expiry, a region name; so no source can smuggle a newline into an environment file.
    ``region`` is the default region that came with the keys (a deployment profile's),
    if any. ``role_arn`` is the access role the keys are of, when they came from one (the
    deployment profile's role, or the role a dashboard service names); ``dashboard``
    says which dashboard linked the target to it (its path or URL and how it was found,
    as ``explain`` shows it). Neither is a secret.
    """

    access_key_id: str = attrs.field(validator=_key_id)
    secret_access_key: str = attrs.field(repr=False, validator=_secret)
    session_token: str | None = attrs.field(default=None, repr=False, validator=_secret)
    expiration: datetime | None = attrs.field(default=None, converter=_aware)
    source: str | None = None
    region: str | None = attrs.field(default=None, validator=_region)
    role_arn: str | None = None
    dashboard: str | None = None

    @property
    def key_hint(self) -> str:
        """The access key id cut to ``****`` and its last four characters, to tell keys apart in output."""
        return f"****{self.access_key_id[-4:]}"

    def remaining(self, now: datetime) -> timedelta | None:
        """Return the time left until expiry at *now*, or None for keys that do not expire."""
        return None if self.expiration is None else self.expiration - now

    def to_env(self) -> dict[str, str]:
        """Return the ``AWS_*`` environment variables that carry these keys."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        if self.expiration is not None:
            env["AWS_CREDENTIAL_EXPIRATION"] = iso_utc(self.expiration)
        return env


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
