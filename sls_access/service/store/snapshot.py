"""A worker's in-memory copy of the state: what the hot path reads, refreshed when the state changes.

:class:`StateView` reads the keys and the dashboard once per change of
:meth:`Store.version <sls_access.service.store.base.Store.version>`, in a thread that waits
on :meth:`~sls_access.service.store.base.Store.wait_for_change` (a PostgreSQL notification
wakes it at once; else it polls every *poll* seconds). The same thread writes what the
requests leave behind, batched: audit events and last-used times (bounded buffers: the
stdout audit line is written per request regardless).

Fail closed: the view counts the time since its last successful read of the state; past
*max_stale* seconds, :meth:`StateView.keys` and :meth:`StateView.dashboard` raise
:class:`~sls_access.service.store.base.StateUnavailableError` (the service answers ``503
state_unavailable``) until a read succeeds again, which the thread keeps trying.

A *direct* view (the key file and dashboard file of :class:`~sls_access.service.store.files.FileStore`)
asks the store on every call instead: each read is one ``stat``, and a change is in force
from the next request on.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sls_access.dashboard.file import DashboardFile
from sls_access.errors import ConfigError
from sls_access.service.keys import KeyFile
from sls_access.service.store.base import AuditEvent, StateUnavailableError, Store

__all__ = ["DEFAULT_MAX_STALE", "DEFAULT_POLL", "StateView"]

log = logging.getLogger("sls_access.service.state")

DEFAULT_MAX_STALE = 30.0
"""Seconds without a successful read of the state after which vends answer 503 (``--state-max-stale``)."""
DEFAULT_POLL = 0.25
"""Seconds between reads of the change counter (with PostgreSQL notifications, changes arrive sooner)."""
AUDIT_BUFFER = 10_000
AUDIT_TRIES = 3
"""Writes of one batch of audit events before it is dropped (the stdout lines still hold them)."""
TOUCH_EVERY = 5.0
"""Seconds between writes of the keys' last-use times (a busy worker would otherwise write them constantly)."""
FAILURE_WRITERS = 4
"""Failed authentications a worker records in the state at once (the rest are counted locally)."""
DEFAULT_AUDIT_DAYS = 90.0
"""Days the state keeps audit events (``serve --audit-days``; 0 keeps them for ever)."""
PRUNE_EVERY = 3600.0
"""Seconds between deletions of audit events older than the retention (the first at start)."""


class StateView:
    """The state as this worker knows it; see the module docstring.

    :param store: the store to read.
    :param max_stale: seconds without a successful read before the view refuses to answer.
    :param direct: read the store on every call (a file store) instead of a refreshed copy.
    :param audit_days: delete audit events older than this many days (at start, then hourly);
        0 keeps them for ever.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_stale: float = DEFAULT_MAX_STALE,
        poll: float = DEFAULT_POLL,
        direct: bool = False,
        audit_days: float = DEFAULT_AUDIT_DAYS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_stale = max_stale
        self.poll = poll
        self.direct = direct
        self._timer = timer
        self._held: tuple[KeyFile, DashboardFile | ConfigError] | None = None
        self._version: int | None = None
        self._fresh = float("-inf")
        self._audit_tries = 0
        self._events: collections.deque[tuple[Mapping[str, Any], int, str, float, float]] = collections.deque(
            maxlen=AUDIT_BUFFER
        )
        self._used: dict[str, float] = {}
        self._next_touch = 0.0
        self.audit_days = audit_days
        self._next_prune = 0.0
        self._failure_slots = threading.BoundedSemaphore(FAILURE_WRITERS)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._down = False

    # -- the hot path

    def _current(self) -> tuple[KeyFile, DashboardFile | ConfigError]:
        held = self._held
        if held is None or self._timer() - self._fresh > self.max_stale:
            if self._thread is None:
                self.start()
                held = self._held
                if held is not None and self._timer() - self._fresh <= self.max_stale:
                    return held
            raise StateUnavailableError(f"the state has not been read for over {self.max_stale:g} s")
        return held

    def keys(self) -> KeyFile:
        """Return the key records in force.

        :raises StateUnavailableError: the state has not been read for *max_stale* seconds.
        :raises ~sls_access.ConfigError: (direct) the key file cannot be read or parsed.
        """
        if self.direct:
            return self.store.keys()
        return self._current()[0]

    def dashboard(self) -> DashboardFile:
        """Return the profiles and links in force.

        :raises StateUnavailableError: the state has not been read for *max_stale* seconds.
        :raises ~sls_access.ConfigError: the dashboard (file) cannot be read or parsed.
        """
        if self.direct:
            return self.store.dashboard()
        dashboard = self._current()[1]
        if isinstance(dashboard, ConfigError):
            raise dashboard
        return dashboard

    @property
    def fresh(self) -> bool:
        """Whether the view may answer now (read within *max_stale* seconds, or direct)."""
        return self.direct or (self._held is not None and self._timer() - self._fresh <= self.max_stale)

    def used(self, key_id: str) -> None:
        """Note that the key *key_id* was used now (written with the next batch)."""
        self._used[key_id] = time.time()

    def audit(self, fields: Mapping[str, Any], status: int, outcome: str, ms: float) -> None:
        """Queue a request's audit record (the audit line's *fields*) for the store, made into an event later.

        Cheap on the hot path: the conversion happens in the thread that writes the batch.
        The oldest are dropped past a bound while the state is down. A direct view (files)
        keeps none: the stdout line is the record. Nor does a request that names no org
        (``/healthz`` probes, unknown routes, malformed requests): rows are read per org
        (the admin API, the UI), so those would only fill the disk at the request rate.
        """
        if not self.direct and fields.get("org") is not None:
            self._events.append((fields, status, outcome, ms, time.time()))

    def record_failure(self, subjects: list[str], window: float) -> int:
        """Count a failure in the store (shared by replicas); return the most any subject had before it.

        At most :data:`FAILURE_WRITERS` at once per worker: a flood of failures must not take
        the connections the refresh needs (past it, the failure is counted by this worker
        only, which throttles the flood anyway).
        """
        if self.direct or not self._failure_slots.acquire(blocking=False):
            return 0
        try:
            return self.store.record_failure(subjects, window=window)
        finally:
            self._failure_slots.release()

    # -- the refresh thread

    def start(self) -> None:
        """Read the state now (once) and start the thread that keeps the copy fresh."""
        if self.direct or self._thread is not None:
            return
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - the thread tries again; until then the view refuses
            log.error("cannot read the state %s: %s", self.store.url, exc)  # noqa: TRY400 - no traceback
            self._down = True
        self._thread = threading.Thread(target=self._run, name="sls-access-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after writing what is queued) and close the store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self._flush(final=True)
        except Exception as exc:  # noqa: BLE001 - shutting down: say so, do not raise
            log.warning("audit events not written to the state at shutdown: %s", exc)
        self.store.close()

    def wait_version(self, version: int, timeout: float) -> bool:
        """Wait until the copy is of *version* or later (tests and benchmarks); return whether it is."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._version is None or self._version < version:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _refresh(self) -> None:
        """Read the counter (waiting for a change when a copy is held) and the state when it changed."""
        since = self._version
        version = self.store.version() if since is None else self.store.wait_for_change(since, self.poll)
        if version != since or self._held is None:
            keys = self.store.keys()
            dashboard: DashboardFile | ConfigError
            try:
                dashboard = self.store.dashboard()
            except ConfigError as exc:
                dashboard = exc
            self._held = (keys, dashboard)
            with self._changed:
                self._version = version
                self._changed.notify_all()
        self._fresh = self._timer()

    def _flush(self, *, final: bool = False) -> None:
        queued = []
        while self._events:
            queued.append(self._events.popleft())
        if queued:
            events = [
                AuditEvent.from_fields(
                    {**fields, "status": status, "outcome": outcome, "ms": round(ms, 2)},
                    datetime.fromtimestamp(at, UTC),
                )
                for fields, status, outcome, ms, at in queued
            ]
            try:
                self.store.append_audit(events)
            except Exception:
                self._audit_tries += 1
                if self._audit_tries < AUDIT_TRIES:
                    # Kept, in order, for the next try; past the bound the newest queued are dropped.
                    self._events.extendleft(reversed(queued))
                    raise
                # A batch the state refused AUDIT_TRIES times in a row is dropped, so that one
                # event the database will never take does not block every later one for ever.
                log.warning(  # no traceback, no event values: the stdout lines have them
                    "%d audit events dropped after %d failed writes to the state %s",
                    len(queued),
                    AUDIT_TRIES,
                    self.store.url,
                )
                self._audit_tries = 0
            else:
                self._audit_tries = 0
        if self.audit_days > 0 and not final and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY
            pruned = self.store.prune_audit(datetime.now(UTC) - timedelta(days=self.audit_days))
            if pruned:
                log.info("%d audit events older than %g days deleted from the state", pruned, self.audit_days)
        if self._used and (final or time.monotonic() >= self._next_touch):
            self._next_touch = time.monotonic() + TOUCH_EVERY
            used, self._used = self._used, {}
            self.store.touch_keys({key: datetime.fromtimestamp(at, UTC) for key, at in used.items()})

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._refresh()
                self._flush()
            except Exception as exc:  # noqa: BLE001 - any failure: try again; the staleness clock decides
                if not self._down:
                    log.error("cannot read the state %s: %s", self.store.url, exc)  # noqa: TRY400 - no traceback
                    self._down = True
                self._stop.wait(self.poll)
            else:
                if self._down:
                    log.warning("the state %s can be read again", self.store.url)
                    self._down = False
