"""Vending: the dashboard file's links, AssumeRole behind a single-flight cache, ready-made bodies.

The hot path (keys cached and fresh) runs on the event loop and does no I/O beyond one
``stat`` of the dashboard file: a dict lookup returns the JSON body encoded when the keys
were fetched. Anything else goes to a thread pool, into the library's
:class:`~sls_access._cache.ExpiringCache` (one STS call per target however many
requests wait for it; stale keys served while one request refreshes them) and the
library's :class:`~sls_access._sts_client.RoleAssumer` (botocore's default chain is the
server's own identity).

Windows: keys are fresh until 20 minutes before expiry and never handed out with less
than 16 minutes left (for a deployment profile of at least 48 minutes; shorter ones keep
a third of their lifetime).

Sessions: a deployment profile's role is entered once per target and key lifetime
(``sessions = "shared"``, the default: every access key gets the same keys), or, with
``sessions = "per_key"``, once per (target, access key) and key lifetime, the session named
after the access key (:func:`~sls_access._role_session.key_session`, session tags
``sls-org``/``sls-app``/``sls-stage``/``sls-key``). Never once per request. The caches hold at
most *maxsize* entries each (the least recently stored dropped first: a dropped entry
costs one more ``AssumeRole``, never memory without bound). A revoked key never gets here:
the app refuses it before it asks for keys.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial

import attrs
from cachetools import LRUCache

from sls_access._cache import ExpiringCache
from sls_access._container import container_json
from sls_access._credentials import Credentials
from sls_access._role_session import RoleSession, default_session_name, key_session, key_session_tags
from sls_access._sts_client import CallerIdentity, RoleAssumer
from sls_access._target import Target
from sls_access._watched import WatchedFile
from sls_access.dashboard.file import DashboardFile, load_dashboard_file
from sls_access.dashboard.model import DeploymentProfile, Link, Sessions
from sls_access.errors import AccessRoleError, ConfigError

__all__ = [
    "FAILURE_TTL",
    "SERVICE_ADVISORY",
    "SERVICE_MANDATORY",
    "Caller",
    "CallerIdentity",
    "Vended",
    "Vendor",
    "WatchedDashboard",
]

SERVICE_ADVISORY = timedelta(minutes=20)
"""The service's own refresh windows: wider than a client's (15 and 10 minutes), so that
keys it vends are still fresh for the client's whole advisory window."""
SERVICE_MANDATORY = timedelta(minutes=16)
FAILURE_TTL = 5.0


class WatchedDashboard:
    """The dashboard file, parsed once and again whenever it changes (one ``stat`` a call).

    A file that no longer parses raises :class:`~sls_access.ConfigError` until it is
    fixed: links are never guessed from an older version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = WatchedFile(path, load_dashboard_file)
        self.path = self._file.path
        self.current()

    def current(self) -> DashboardFile:
        """Return the dashboard as the file holds it now.

        :raises ~sls_access.ConfigError: the file does not parse, or is gone or unreadable
            (its links are refused then too, never served from an older read).
        """
        try:
            return self._file.current()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the dashboard file: {exc.strerror or type(exc).__name__}", path=str(self.path)
            ) from None

    def link(self, target: Target) -> Link | None:
        """Return the link for *target*, or None when the org or the link is not there.

        :raises TargetError: for a target the file refuses (see :meth:`DashboardFile.link`).
        """
        return self.current().link(target)


@attrs.frozen
class Vended:
    """A vend's result: the response body, its keys' expiry, and what CloudTrail will show of them.

    :ivar access_key_id: the temporary access key id in *body* (``ASIA…``; not a secret).
    :ivar session: the role session's name (``RoleSessionName``).
    :ivar source_identity: the session's ``SourceIdentity``, or None.
    """

    body: bytes = attrs.field(repr=False)
    expiration: datetime | None
    access_key_id: str | None = None
    session: str | None = None
    source_identity: str | None = None


@attrs.frozen(kw_only=True)
class Caller:
    """The access key a request was made with (what a per-key session is named after)."""

    id: str
    name: str


_Key = tuple[Target, DeploymentProfile, Caller | None]
"""A cache key: the caller is None for a shared session."""


class Vendor:
    """Keys for (target, deployment profile) pairs, cached with single flight.

    :param clock: the current aware datetime (injectable for tests).
    :param threads: the most STS calls in flight at once.

    :ivar vending_identity: who the service enters roles as (its base credentials, checked
        by :meth:`prepare` with STS ``GetCallerIdentity``): the principal a deployment
        profile's role must trust. None until :meth:`prepare` has run.
    """

    def __init__(self, *, clock: Callable[[], datetime], threads: int = 16, maxsize: int = 4096) -> None:
        self._clock = clock
        self._assumer = RoleAssumer()
        self._cache: ExpiringCache[Credentials] = ExpiringCache(
            clock,
            lambda creds: creds.expiration,
            maxsize=maxsize,
            advisory=SERVICE_ADVISORY,
            mandatory=SERVICE_MANDATORY,
        )
        # The answers in force, looked up on every vend: a plain dict (a C lookup), bounded by
        # dropping the oldest entry; one dropped is rebuilt from the credential cache above.
        self._hot: dict[_Key, tuple[float, Vended]] = {}
        self._maxsize = maxsize
        self._failed: LRUCache[_Key, tuple[float, AccessRoleError]] = LRUCache(maxsize)
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self.vending_identity: CallerIdentity | None = None

    def prepare(self) -> CallerIdentity:
        """Check the base credentials and make ready for the first vend, at startup; return who vends.

        One STS ``GetCallerIdentity`` through the client of the server's region (which
        vends without a region of their own use): the base credentials are checked, the
        identity is kept as :attr:`vending_identity`, and the connection and thread the call
        used stay open for the first vend; the thread pool is started too.

        :raises ~sls_access._sts_client.StsFailure: the base credentials are missing or
            refused, or STS cannot be reached (the message quotes no secret).
        """
        identity = self._assumer.prepare()
        self.vending_identity = identity
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="sls-access-sts")
            self._pool.submit(int).result()  # its first thread started now, not by the first vend
        return identity

    def close(self) -> None:
        """Stop the thread pool (running calls finish)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def vend(self, target: Target, profile: DeploymentProfile, caller: Caller | None = None) -> Vended:
        """Return the keys of *profile*'s role for *target*; raise :class:`AccessRoleError`.

        *caller* is the access key asking: with ``sessions = "per_key"`` the role is
        entered in a session of its own (a per-key profile without a caller is refused).
        A failure is remembered for a few seconds, so that a broken link does not turn
        every request into an STS call.
        """
        per_key = profile.sessions is Sessions.PER_KEY
        if per_key and caller is None:
            raise AccessRoleError(
                "a per_key deployment profile's keys are vended only to an access key",
                target=target,
                deployment_profile=profile.name,
                role_arn=profile.role_arn,
            )
        key: _Key = (target, profile, caller if per_key else None)
        now = self._clock().timestamp()
        hot = self._hot.get(key)
        if hot is not None and now < hot[0]:
            return hot[1]
        failed = self._failed.get(key)
        if failed is not None and now < failed[0]:
            raise failed[1]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="sls-access-sts")
        loop = asyncio.get_running_loop()
        if key[2] is None:
            session, tags = RoleSession(name=default_session_name(target)), None
        else:
            session, tags = key_session(key[2].name, key[2].id), key_session_tags(target, key[2].name)
        try:
            creds = await loop.run_in_executor(
                self._pool,
                self._cache.get,
                key,
                partial(
                    self._assumer.assume,
                    target,
                    profile,
                    source="dashboard",
                    session_name=session.name,
                    source_identity=session.source_identity,
                    tags=tags,
                ),
            )
        except AccessRoleError as exc:
            self._failed[key] = (self._clock().timestamp() + FAILURE_TTL, exc)
            raise
        vended = Vended(
            body=container_json(creds, profile.role_arn),
            expiration=creds.expiration,
            access_key_id=creds.access_key_id,
            session=session.name,
            source_identity=session.source_identity,
        )
        if creds.expiration is not None:
            if key not in self._hot and len(self._hot) >= self._maxsize:
                del self._hot[next(iter(self._hot))]
            self._hot[key] = (creds.expiration.timestamp() - SERVICE_ADVISORY.total_seconds(), vended)
        self._failed.pop(key, None)
        return vended
