"""Web UI sessions: a random token in a cookie, the session itself kept server-side.

The cookie holds only a random token (never the access key); the admin records keep the
session under the token's SHA-256, with the org, the admin key's id, a CSRF token and the
expiry. A session ends when it expires (8 hours by default), when the user signs out, and
as soon as its key is revoked (checked on every request). Cookies are ``HttpOnly``,
``SameSite=Strict``, ``Path=/ui/``, and ``Secure`` when the request came over TLS (``https``
scheme, which uvicorn takes from a trusted proxy's ``X-Forwarded-Proto``).

Before sign-in, the sign-in form's CSRF token is a second random cookie (double submit),
so that another site cannot sign a browser in with a key of its choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import attrs

from sls_access.service.admin.ops import Admin

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "Session", "Sessions", "cookie"]

SESSION_COOKIE = "sls_access_session"
CSRF_COOKIE = "sls_access_csrf"
_KIND = "ui-session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def cookie(name: str, value: str, *, secure: bool, max_age: int) -> tuple[bytes, bytes]:
    """Return the ``Set-Cookie`` header of a UI cookie (an empty *value* and ``max_age=0`` clear it)."""
    flags = f"{name}={value}; Path=/ui/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return b"set-cookie", (flags + ("; Secure" if secure else "")).encode("latin-1")


def same(expected: str, given: str | None) -> bool:
    """Return whether *given* is *expected*, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


@attrs.frozen(kw_only=True)
class Session:
    """A signed-in user: the org, the admin key (name, id) and the form's CSRF token."""

    org: str
    key_id: str
    key_name: str
    csrf: str = attrs.field(repr=False)
    token: str = attrs.field(repr=False)


class Sessions:
    """Sessions in *admin*'s records lasting *lifetime*."""

    def __init__(self, admin: Admin, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        self.admin = admin
        self.lifetime = lifetime
        self._clock = clock

    def start(self, org: str, key_id: str, key_name: str) -> Session:
        """Start a session; return it (its token goes in the cookie)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.admin.records.put(
            _KIND,
            _digest(token),
            {"org": org, "key_id": key_id, "key_name": key_name, "csrf": csrf},
            expires=self._clock() + self.lifetime,
        )
        return Session(org=org, key_id=key_id, key_name=key_name, csrf=csrf, token=token)

    def find(self, cookies: Mapping[str, str]) -> Session | None:
        """Return the session of the request's cookie while it lasts and its key is a live admin key."""
        token = cookies.get(SESSION_COOKIE)
        if not token or len(token) > 128:
            return None
        record = self.admin.records.get(_KIND, _digest(token))
        if record is None:
            return None
        key = self.admin.key(str(record.get("key_id")))
        if key is None or key.revoked is not None or key.role != "admin" or key.org != record.get("org"):
            self.admin.records.delete(_KIND, _digest(token))
            return None
        return Session(org=key.org, key_id=key.id, key_name=key.name, csrf=str(record["csrf"]), token=token)

    def end(self, session: Session) -> None:
        """Sign out."""
        self.admin.records.delete(_KIND, _digest(session.token))
