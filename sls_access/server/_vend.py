"""Vending: the dashboard file's links, AssumeRole behind a single-flight cache, ready-made bodies.

The hot path (keys cached and fresh) runs on the event loop and does no I/O beyond one
``stat`` of the dashboard file: a dict lookup returns the JSON body encoded when the keys
were fetched. Anything else goes to a thread pool, into the library's
:class:`~sls_access._cache.ExpiringCache` (one STS call per target however many
requests wait for it; stale keys served while one request refreshes them) and the
library's :class:`~sls_access._sts.RoleAssumer` (botocore's default chain is the
server's own identity).

Windows: keys are fresh until 20 minutes before expiry and never handed out with less
than 16 minutes left (for a deployment profile of at least 48 minutes; shorter ones keep
a third of their lifetime).
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
from sls_access._sts import RoleAssumer
from sls_access._target import Target
from sls_access._watched import WatchedFile
from sls_access.dashboard.file import DashboardFile, load_dashboard_file
from sls_access.dashboard.model import DeploymentProfile, Link
from sls_access.errors import AccessRoleError

__all__ = [
    "FAILURE_TTL",
    "SERVICE_ADVISORY",
    "SERVICE_MANDATORY",
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
        """Return the dashboard as the file holds it now."""
        return self._file.current()

    def link(self, target: Target) -> Link | None:
        """Return the link for *target*, or None when the org or the link is not there.

        :raises TargetError: for a target the file refuses (see :meth:`DashboardFile.link`).
        """
        return self.current().link(target)


@attrs.frozen
class Vended:
    """A vend's result: the response body and its keys' expiry."""

    body: bytes = attrs.field(repr=False)
    expiration: datetime | None


class Vendor:
    """Keys for (target, deployment profile) pairs, cached with single flight.

    :param clock: the current aware datetime (injectable for tests).
    :param threads: the most STS calls in flight at once.
    """

    def __init__(self, *, clock: Callable[[], datetime], threads: int = 16, maxsize: int = 4096) -> None:
        self._clock = clock
        self._assumer = RoleAssumer()
        self._cache: ExpiringCache[Credentials] = ExpiringCache(
            clock, lambda creds: creds.expiration, maxsize=maxsize, advisory=SERVICE_ADVISORY,
            mandatory=SERVICE_MANDATORY)
        self._hot: LRUCache[tuple[Target, DeploymentProfile], tuple[float, Vended]] = LRUCache(maxsize)
        self._failed: LRUCache[tuple[Target, DeploymentProfile], tuple[float, AccessRoleError]] = LRUCache(maxsize)
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def prepare(self) -> None:
        """Create the STS client of the server's region and the thread pool now, at startup.

        So that the first vend does not pay for them.
        """
        self._assumer.prepare()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="sls-access-sts")

    def close(self) -> None:
        """Stop the thread pool (running calls finish)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def vend(self, target: Target, profile: DeploymentProfile) -> Vended:
        """Return the keys of *profile*'s role for *target*; raise :class:`AccessRoleError`.

        A failure is remembered for a few seconds, so that a broken link does not turn
        every request into an STS call.
        """
        key = (target, profile)
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
        try:
            creds = await loop.run_in_executor(self._pool, self._cache.get, key,
                                               partial(self._assumer.assume, target, profile, source="dashboard"))
        except AccessRoleError as exc:
            self._failed[key] = (self._clock().timestamp() + FAILURE_TTL, exc)
            raise
        vended = Vended(body=container_json(creds, profile.role_arn), expiration=creds.expiration)
        if creds.expiration is not None:
            self._hot[key] = (creds.expiration.timestamp() - SERVICE_ADVISORY.total_seconds(), vended)
        self._failed.pop(key, None)
        return vended
