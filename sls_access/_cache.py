"""The credential cache: bounded, expiry-aware, single flight per key.

An entry is *fresh* until its keys' expiry minus the advisory window, *stale* until
expiry minus the mandatory window, and gone after that:

- fresh: served with no I/O;
- stale: still served; one caller refreshes (others do not wait), and a failed
  refresh is retried after a jittered backoff, not on every call;
- gone (or cold): callers block on the key's lock; one loads, the others get its result;
  a failure is raised, expired keys are never handed out.

Keys without an expiry (static keys) are fresh for ``static_ttl`` and then reloaded.
"""

from __future__ import annotations

import logging
import random
import threading
import weakref
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta

import attrs
from cachetools import TLRUCache

from sls_access._resolution import Resolution

__all__ = ["ADVISORY", "MANDATORY", "CredentialCache", "windows"]

log = logging.getLogger("sls_access.cache")

ADVISORY = timedelta(minutes=15)
MANDATORY = timedelta(minutes=10)
STATIC_TTL = timedelta(seconds=10)
BACKOFF_BASE = 5.0
BACKOFF_MAX = 120.0


@attrs.define(slots=True)
class _Entry:
    resolution: Resolution
    fresh_until: float
    usable_until: float
    retry_at: float = 0.0
    failures: int = 0


class _KeyLock:
    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


def windows(lifetime: float, advisory: float = ADVISORY.total_seconds(),
            mandatory: float = MANDATORY.total_seconds()) -> tuple[float, float]:
    """Return the advisory and mandatory windows, in seconds, for keys valid *lifetime* s more.

    The windows shrink for short-lived keys (a 900 s role session would otherwise be
    stale on arrival): at most half and a third of the lifetime.
    """
    return min(advisory, lifetime / 2), min(mandatory, lifetime / 3)


class CredentialCache:
    """Resolutions by key, within the bounds above.

    :param clock: returns the current aware datetime (the resolver's clock).
    :param maxsize: the most keys held; the least recently used go first.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        maxsize: int = 4096,
        advisory: timedelta = ADVISORY,
        mandatory: timedelta = MANDATORY,
        static_ttl: timedelta = STATIC_TTL,
    ) -> None:
        self._clock = clock
        self._advisory = advisory.total_seconds()
        self._mandatory = mandatory.total_seconds()
        self._static_ttl = static_ttl.total_seconds()
        self._lock = threading.Lock()
        self._entries: TLRUCache[Hashable, _Entry] = TLRUCache(
            maxsize=maxsize, ttu=lambda _k, entry, _now: entry.usable_until, timer=self._now
        )
        self._key_locks: weakref.WeakValueDictionary[Hashable, _KeyLock] = weakref.WeakValueDictionary()

    def _now(self) -> float:
        return self._clock().timestamp()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def get(self, key: Hashable, load: Callable[[], Resolution]) -> Resolution:
        """Return the resolution for *key*, calling *load* (which may raise) when needed."""
        now = self._now()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now < entry.fresh_until:
            return entry.resolution
        return self._slow(key, load, entry, now)

    def _key_lock(self, key: Hashable) -> _KeyLock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = _KeyLock()
            return lock

    def _slow(self, key: Hashable, load: Callable[[], Resolution], entry: _Entry | None,
              now: float) -> Resolution:
        holder = self._key_lock(key)
        if entry is not None and now < entry.usable_until:
            if now < entry.retry_at or not holder.lock.acquire(blocking=False):
                return entry.resolution
            try:
                return self._refresh(key, load, entry)
            finally:
                holder.lock.release()
        with holder.lock:
            now = self._now()
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None and now < entry.fresh_until:
                return entry.resolution
            resolution = load()
            self._store(key, resolution)
            return resolution

    def _refresh(self, key: Hashable, load: Callable[[], Resolution], entry: _Entry) -> Resolution:
        try:
            resolution = load()
        except Exception as exc:  # noqa: BLE001 - any failure: keep serving, retry later
            entry.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (entry.failures - 1))
            entry.retry_at = self._now() + delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
            log.warning("refreshing credentials for %s failed (%s); serving the current keys, "
                        "next try in %.0f s", entry.resolution.target, exc, delay)
            return entry.resolution
        self._store(key, resolution)
        return resolution

    def _store(self, key: Hashable, resolution: Resolution) -> None:
        creds = resolution.credentials
        if creds is None:
            return
        now = self._now()
        if creds.expiration is None:
            fresh = usable = now + self._static_ttl
        else:
            expiry = creds.expiration.timestamp()
            advisory, mandatory = windows(expiry - now, self._advisory, self._mandatory)
            fresh, usable = expiry - advisory, expiry - mandatory
        if usable <= now:
            return
        with self._lock:
            self._entries[key] = _Entry(resolution=resolution, fresh_until=fresh, usable_until=usable)
