"""The cache: single flight, expiry-aware refresh, static keys, bounded size."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from support import FakeClock, StsProxy, in_threads, sts_error

from sls_access import AccessRoleError, Resolver


def test_32_threads_cold_cause_one_assume_role_and_share_one_key(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    keys, errors = in_threads(32, lambda: resolver.credentials("acme", "shop", "prod").access_key_id)
    assert errors == []
    assert len(keys) == 32
    assert len(set(keys)) == 1
    assert sts.calls["AssumeRole"] == 1


def test_warm_reads_do_no_sts_call_and_no_file_read(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    first = resolver.credentials("acme", "shop", "prod")
    dashboard.unlink()  # a warm read must not need the file
    for _ in range(100):
        assert resolver.credentials("acme", "shop", "prod") == first
    assert sts.calls["AssumeRole"] == 1


def test_targets_are_cached_separately(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    prod = resolver.credentials("acme", "shop", "prod")
    eu = resolver.credentials("acme", "shop", "prod", region="eu-west-1")
    assert prod.access_key_id != eu.access_key_id
    assert sts.calls["AssumeRole"] == 2


def test_refresh_over_three_simulated_hours(dashboard: Path, sts: StsProxy, clock: FakeClock) -> None:
    sts.clock = clock
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    keys = []
    for _ in range(0, 3 * 60 + 1, 5):
        creds = resolver.credentials("acme", "shop", "prod")
        remaining = sts.issued[creds.access_key_id] - clock()
        # New keys come before expiry: never less than the mandatory window left.
        assert remaining > timedelta(minutes=10), remaining
        keys.append(creds.access_key_id)
        clock.advance(minutes=5)
    # A new key every 45 minutes (1 h minus the 15 min advisory window): 0, 45, 90, 135, 180.
    assert sts.calls["AssumeRole"] == 5
    assert len(set(keys)) == 5


def test_static_keys_are_reread_after_a_short_time(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    resolver = Resolver(clock=clock)
    assert resolver.credentials("a", "b", "c").access_key_id.startswith("AKIABASE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAROTATED")
    assert resolver.credentials("a", "b", "c").access_key_id != "AKIAROTATED"  # still cached
    clock.advance(seconds=11)
    assert resolver.credentials("a", "b", "c").access_key_id == "AKIAROTATED"


def test_cache_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = Resolver(cache_size=50, sources="env")
    for n in range(500):
        resolver.credentials("org", "app", f"s{n}")
    assert len(resolver._cache) <= 50


def test_failed_resolutions_are_not_cached(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    sts.fault = lambda action: sts_error("AccessDenied", "no") if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError):
        resolver.credentials("acme", "shop", "prod")
    sts.fault = None
    assert resolver.credentials("acme", "shop", "prod").source == "dashboard"
