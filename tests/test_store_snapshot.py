"""A worker's copy of the state (:class:`StateView`): what it holds when a part of the state cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import until

from sls_access import ConfigError
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
