"""The credentials value object."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from sls_access._values import iso_utc

__all__ = ["Credentials"]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError("expiration must be a timezone-aware datetime")
    return value


@attrs.frozen(kw_only=True)
class Credentials:
    """AWS keys, with their expiry and the source that produced them.

    The secret key and the session token are left out of ``repr`` and ``str``.
    ``region`` is the default region that came with the keys (a deployment profile's),
    if any.
    """

    access_key_id: str
    secret_access_key: str = attrs.field(repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    expiration: datetime | None = attrs.field(default=None, converter=_aware)
    source: str | None = None
    region: str | None = None

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

# Shown, documented and pickled under the path users import it from, ``sls_access`` (as httpx does).
Credentials.__module__ = "sls_access"
