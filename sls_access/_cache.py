"""The expiring cache: bounded, expiry-aware, single flight per key.

It holds values that carry keys with an expiry: the resolver's resolutions, the
dashboard service's credentials. An entry is *fresh* until its keys' expiry minus the
advisory window, *stale* until expiry minus the mandatory window, and gone after that:

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
import time
import weakref
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from cachetools import TLRUCache

from sls_access._options import utc_now

__all__ = ["ADVISORY", "MANDATORY", "ExpiringCache", "windows"]

V = TypeVar("V")

log = logging.getLogger("sls_access.cache")

ADVISORY = timedelta(minutes=15)
MANDATORY = timedelta(minutes=10)
STATIC_TTL = timedelta(seconds=10)
BACKOFF_BASE = 5.0
BACKOFF_MAX = 120.0


class _Entry(Generic[V]):
    # A plain slotted class, not attrs: one is built per load, and the import stays light.
    __slots__ = ("failures", "fresh_until", "retry_at", "usable_until", "value")

    def __init__(self, value: V, fresh_until: float, usable_until: float) -> None:
        self.value = value
        self.fresh_until = fresh_until
        self.usable_until = usable_until
        self.retry_at = 0.0
        self.failures = 0


class _Bounded(TLRUCache[Hashable, "_Entry[V]"], Generic[V]):
    """A TLRU cache that mirrors its entries into a plain dict, for reads without a lock.

    The TLRU part decides what is kept (expired entries first, then the least recently
    stored); every removal it makes is mirrored into :attr:`index`, so ``index`` never
    holds more than ``maxsize`` entries. All mutation happens under the owner's lock;
    ``index.get`` is one atomic dict read, safe without it.
    """

    def __init__(self, maxsize: int, timer: Callable[[], float]) -> None:
        super().__init__(maxsize=maxsize, ttu=lambda _k, entry, _now: entry.usable_until, timer=timer)
        self.index: dict[Hashable, _Entry[V]] = {}

    def __setitem__(self, key: Hashable, value: _Entry[V]) -> None:
        super().__setitem__(key, value)
        if key in self:
            self.index[key] = value
        else:  # already past its usable time: TLRUCache dropped it
            self.index.pop(key, None)

    def __delitem__(self, key: Hashable) -> None:
        self.index.pop(key, None)
        super().__delitem__(key)

    def expire(self, time: float | None = None) -> list[tuple[Hashable, _Entry[V]]]:
        expired = list(super().expire(time))
        for key, _ in expired:
            self.index.pop(key, None)
        return expired


class _KeyLock:
    """A key's lock, and the outcome of the last load made under it.

    ``loads`` counts finished loads and ``failure`` is the last one's error (None when
    it succeeded): a caller that waited on the lock while a load failed gets that
    error instead of trying again, so N callers behind a failing STS cost one try,
    not N tries one after the other.
    """

    __slots__ = ("__weakref__", "failure", "loads", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loads = 0
        self.failure: BaseException | None = None

    def load(self, load: Callable[[], V]) -> V:
        """Call *load* (with the lock held) and record how it ended."""
        try:
            value = load()
        except BaseException as exc:
            self.failure = exc
            self.loads += 1
            raise
        self.failure = None
        self.loads += 1
        return value


def windows(
    lifetime: float, advisory: float = ADVISORY.total_seconds(), mandatory: float = MANDATORY.total_seconds()
) -> tuple[float, float]:
    """Return the advisory and mandatory windows, in seconds, for keys valid *lifetime* s more.

    The windows shrink for short-lived keys (a 900 s role session would otherwise be
    stale on arrival): at most half and a third of the lifetime.
    """
    return min(advisory, lifetime / 2), min(mandatory, lifetime / 3)


class ExpiringCache(Generic[V]):
    """Values by key, within the bounds above.

    :param clock: returns the current aware datetime (the resolver's clock).
    :param expiry: returns when a value's keys expire (None: they do not; a static TTL
        applies), or raises ``ValueError`` for a value that must not be stored.
    :param maxsize: the most keys held; the least recently used go first.
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        expiry: Callable[[V], datetime | None],
        *,
        maxsize: int = 4096,
        advisory: timedelta = ADVISORY,
        mandatory: timedelta = MANDATORY,
        static_ttl: timedelta = STATIC_TTL,
    ) -> None:
        self._clock = clock
        self._expiry = expiry
        # The default clock is the wall clock: read it as a float directly (the same
        # instant as utc_now().timestamp(), without building a datetime per read).
        self._now: Callable[[], float] = time.time if clock is utc_now else self._clock_seconds
        self._advisory = advisory.total_seconds()
        self._mandatory = mandatory.total_seconds()
        self._static_ttl = static_ttl.total_seconds()
        self._lock = threading.Lock()
        self._entries: _Bounded[V] = _Bounded(maxsize, self._now)
        self._index = self._entries.index
        self.index: Mapping[Hashable, _Entry[V]] = self._index
        """The entries by key, for a caller's own warm path: read-only, safe without the lock.
        An entry's ``value`` may be served while ``now() < entry.fresh_until``."""
        self.now = self._now
        """The cache's clock, in seconds since the epoch."""
        self._key_locks: weakref.WeakValueDictionary[Hashable, _KeyLock] = weakref.WeakValueDictionary()

    def _clock_seconds(self) -> float:
        return self._clock().timestamp()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """Return the value for *key*, calling *load* (which may raise) when needed.

        A fresh entry costs one dict read and one clock read: no lock, no I/O.
        """
        entry = self._index.get(key)
        now = self._now()
        if entry is not None and now < entry.fresh_until:
            return entry.value
        return self._slow(key, load, entry, now)

    def _key_lock(self, key: Hashable) -> _KeyLock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = _KeyLock()
            return lock

    def _slow(self, key: Hashable, load: Callable[[], V], entry: _Entry[V] | None, now: float) -> V:
        holder = self._key_lock(key)
        if entry is not None and now < entry.usable_until:
            if now < entry.retry_at or not holder.lock.acquire(blocking=False):
                return entry.value
            try:
                # Between our read and the lock, another caller may have refreshed, or
                # failed and set a backoff: then there is nothing to do.
                current = self._index.get(key)
                if current is not None and current is not entry:
                    return current.value
                if self._now() < entry.retry_at:
                    return entry.value
                return self._refresh(key, holder, load, entry)
            finally:
                holder.lock.release()
        seen = holder.loads
        with holder.lock:
            if holder.loads != seen and holder.failure is not None:
                # The load we waited for failed just now: share its error (single flight).
                raise holder.failure
            now = self._now()
            entry = self._index.get(key)
            if entry is not None and now < entry.fresh_until:
                return entry.value
            value = holder.load(load)
            self._store(key, value)
            return value

    def _refresh(self, key: Hashable, holder: _KeyLock, load: Callable[[], V], entry: _Entry[V]) -> V:
        try:
            value = holder.load(load)
        except Exception as exc:  # noqa: BLE001 - any failure: keep serving, retry later
            entry.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (entry.failures - 1))
            entry.retry_at = self._now() + delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
            log.warning(
                "refreshing credentials for %s failed (%s); serving the current keys, next try in %.0f s",
                _describe_key(key),
                exc,
                delay,
            )
            return entry.value
        self._store(key, value)
        return value

    def _store(self, key: Hashable, value: V) -> None:
        expiration = self._expiry(value)
        now = self._now()
        if expiration is None:
            fresh = usable = now + self._static_ttl
        else:
            expiry = expiration.timestamp()
            advisory, mandatory = windows(expiry - now, self._advisory, self._mandatory)
            fresh, usable = expiry - advisory, expiry - mandatory
        if usable <= now:
            return
        with self._lock:
            self._entries[key] = _Entry(value, fresh_until=fresh, usable_until=usable)


def _describe_key(key: Hashable) -> str:
    """Name a cache key in a log line: a target's fields joined by ``/``, never a secret."""
    parts = key if isinstance(key, tuple) else (key,)
    names = [part for part in parts if isinstance(part, str)]
    return "/".join(names) if names else str(parts[0])
