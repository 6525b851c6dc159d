"""A worker's copy of the state (:class:`StateView`): what it holds when a part of the state cannot be read."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import until

from sls_access import ConfigError
from sls_access.service.store.base import AuditEvent, StateUnavailableError
from sls_access.service.store.snapshot import StateView
from sls_access.service.store.sql import SqlStore


def test_a_dashboard_file_gone_refuses_its_links_and_keys_revocations_still_arrive(
    dashboard: Path, tmp_path: Path
) -> None:
    # With --dashboard FILE the file is the source of truth for links. Its removal used to
    # abort the whole refresh (an OSError, not a ConfigError): the worker kept the old links
    # and the old keys, a revoked key included, until --state-max-stale (30 s) ran out.
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}", managed_by_file=dashboard)
    view = StateView(store, poll=0.02)
    record, key = store.create_key("acme", "ci")
    try:
        view.start()
        assert view.dashboard().orgs
        assert view.keys().match(key) == record
        dashboard.unlink()
        store.revoke_key("acme", "ci")
        until(lambda: view.keys().keys[record.id].revoked is not None, 5, "the revocation seen by the worker")
        with pytest.raises(ConfigError):
            view.dashboard()
    finally:
        view.stop()


class RefusesOneEvent(SqlStore):
    """A stub for a fault a healthy database gives only for some data: it refuses any batch
    holding an event whose path is ``/poison`` (a real database might refuse one value)."""

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if any(event.path == "/poison" for event in events):
            raise StateUnavailableError("the state refused the batch")
        super().append_audit(events)


def test_an_audit_batch_the_state_keeps_refusing_is_dropped_not_retried_for_ever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # One event the database will never take used to be retried first, for ever: no audit
    # row and no last-used time was written again. It is dropped after AUDIT_TRIES writes.
    store = RefusesOneEvent(f"sqlite:///{tmp_path / 'state.db'}")
    view = StateView(store, poll=0.02)
    fields = {"org": "acme", "app": "shop", "stage": "prod", "method": "GET", "client": "127.0.0.1"}
    try:
        view.start()
        with caplog.at_level(logging.WARNING, logger="sls_access"):
            view.audit({**fields, "path": "/poison"}, 400, "bad_request", 1.0)
            until(lambda: "audit events dropped" in caplog.text, 5, "the refused batch dropped")
        view.audit({**fields, "path": "/fine"}, 200, "ok", 1.0)
        until(lambda: [e.path for e in store.audit("acme")] == ["/fine"], 5, "the next event written")
    finally:
        view.stop()


def test_requests_that_name_no_org_leave_no_audit_row(tmp_path: Path) -> None:
    # Health probes and junk would fill the disk at the request rate; rows are read per org.
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    view = StateView(store, poll=0.02)
    try:
        view.start()
        view.audit({"method": "GET", "path": "/healthz", "client": "127.0.0.1"}, 200, "health", 0.1)
        view.audit({"method": "GET", "path": "/nope", "client": "127.0.0.1"}, 404, "not_found", 0.1)
        view.audit({"org": "acme", "method": "GET", "path": "/v1/orgs/acme", "client": "127.0.0.1"}, 401, "x", 0.1)
        until(lambda: len(store.audit("acme")) == 1, 5, "the org's event written")
    finally:
        view.stop()
    reopened = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:  # every event in the table: only the org's one
        assert [event.path for event in reopened.audit("acme", limit=1000)] == ["/v1/orgs/acme"]
        assert reopened.audit("", limit=1000) == []
    finally:
        reopened.close()


def test_a_worker_deletes_audit_events_older_than_the_retention_at_start(tmp_path: Path) -> None:
    # serve --audit-days: rows would otherwise grow at the request rate for ever.
    url = f"sqlite:///{tmp_path / 'state.db'}"
    seed = SqlStore(url)
    now = datetime.now(UTC)
    old = {
        "org": "acme",
        "method": "GET",
        "path": "/old",
        "client": "127.0.0.1",
        "status": 200,
        "outcome": "vended",
        "ms": 1.0,
    }
    seed.append_audit([AuditEvent.from_fields(old, now - timedelta(days=40))])
    seed.append_audit([AuditEvent.from_fields({**old, "path": "/recent"}, now - timedelta(days=5))])
    seed.close()
    store = SqlStore(url)
    view = StateView(store, poll=0.02, audit_days=30)
    try:
        view.start()
        until(lambda: [e.path for e in store.audit("acme")] == ["/recent"], 5, "the old event deleted")
    finally:
        view.stop()
