"""The performance targets that are behaviour, not timings: STS call counts, bounded memory, what loads.

Timings are measured by ``nox -s bench`` (``benchmarks/``), never asserted here.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tracemalloc
from datetime import timedelta
from pathlib import Path

import botocore.config
import pytest
from support import FakeClock, StsProxy, in_threads, sts_error

import sls_access
from sls_access import Resolver
from sls_access._cache import BACKOFF_BASE

TARGET = ("acme", "shop", "prod")


def test_64_threads_cold_on_one_target_cause_one_assume_role(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    keys, errors = in_threads(64, lambda: resolver.credentials(*TARGET).access_key_id)
    assert errors == []
    assert len(keys) == 64
    assert len(set(keys)) == 1
    assert sts.calls["AssumeRole"] == 1


def test_64_threads_cold_on_sessions_cause_one_assume_role(dashboard: Path, sts: StsProxy) -> None:
    # Each thread builds its own session (sessions are not shared across threads);
    # the resolver behind them still asks STS once.
    resolver = Resolver(dashboard=str(dashboard))

    def call() -> str:
        creds = resolver.session(*TARGET).get_credentials()
        assert creds is not None
        return str(creds.get_frozen_credentials().access_key)

    keys, errors = in_threads(64, call)
    assert errors == []
    assert len(set(keys)) == 1
    assert sts.calls["AssumeRole"] == 1


def test_eight_simulated_hours_of_steady_use_cost_at_most_11_assume_roles(
    dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    session = resolver.session(*TARGET)
    botocore_creds = session.get_credentials()
    assert botocore_creds is not None
    for _ in range(8 * 60 + 1):  # one request a (simulated) minute, from minute 0 to hour 8
        for key_id in (
            resolver.credentials(*TARGET).access_key_id,
            str(botocore_creds.get_frozen_credentials().access_key),
        ):
            assert sts.issued[key_id] > clock(), "an expired key was handed out"
        clock.advance(minutes=1)
    # One key per 45 minutes (1 h keys, refreshed 15 min ahead): minutes 0, 45, ..., 450.
    assert 10 <= sts.calls["AssumeRole"] <= 11


def test_distinct_targets_beyond_the_cache_size_evict_the_least_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = Resolver(cache_size=1000, sources="env")
    for n in range(2000):
        resolver.credentials("org", "app", f"s{n}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAROTATEDKEY000001")
    # The 1000 most recent targets are served from the cache (the old key); the one before them
    # was evicted, and resolves again (the new key).
    kept = {resolver.credentials("org", "app", f"s{n}").access_key_id for n in range(1000, 2000)}
    assert "AKIAROTATEDKEY000001" not in kept
    assert resolver.credentials("org", "app", "s999").access_key_id == "AKIAROTATEDKEY000001"


def test_memory_stays_bounded_by_the_cache_size_however_many_targets() -> None:
    # Entries, their read index and their per-key locks all go with eviction: a second batch of
    # 10,000 targets through a full cache keeps no more than the first did (an env entry is ~1.2 KB;
    # anything kept per target, even a lock, would be tens of bytes times 10,000).
    resolver = Resolver(cache_size=500, sources="env")

    def batch(start: int) -> None:
        for n in range(start, start + 10_000):
            resolver.credentials("org", "app", f"s{n}")
        gc.collect()

    batch(0)
    tracemalloc.start()
    try:
        batch(10_000)
        after_first = tracemalloc.get_traced_memory()[0]
        batch(20_000)
        grown = tracemalloc.get_traced_memory()[0] - after_first
    finally:
        tracemalloc.stop()
    assert grown < 10_000 * 10, f"{grown} bytes more after 10,000 more targets through a 500-entry cache"


# botocore's own retries (3 attempts, with real sleeps) would multiply each count
# by up to 3 and cost seconds; with one attempt, a refresh try is one STS request.
ONE_TRY = botocore.config.Config(
    connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1, "mode": "standard"}
)


def _sts_down(action: str) -> tuple[int, bytes] | None:
    return sts_error("ServiceUnavailable", "STS is down", 503) if action == "AssumeRole" else None


def test_sts_down_in_the_advisory_window_costs_backoff_tries_not_one_per_request(
    dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = Resolver(dashboard=str(dashboard), clock=clock, sts_config=ONE_TRY)
    current = resolver.credentials(*TARGET)
    clock.advance(minutes=46)  # fresh until 45 min, usable until 50 min
    sts.fault = _sts_down
    requests = 0
    for _ in range(3 * 60 * 10):  # ten requests a simulated second for three minutes
        assert resolver.credentials(*TARGET) == current  # the old keys keep serving
        requests += 1
        clock.advance(seconds=0.1)
    tries = sts.calls["AssumeRole"] - 1
    # Backoff from BACKOFF_BASE s, doubling, jittered by at most 20 %: tries near
    # 0, 5, 15, 35, 75, 155 s -> at most 7 in 180 s, against 1800 requests.
    assert requests == 1800
    assert 4 <= tries <= 7
    assert BACKOFF_BASE == 5.0
    # STS back: by the mandatory window at the latest (50 min), new keys come.
    sts.fault = None
    clock.advance(minutes=1.5)
    fresh = resolver.credentials(*TARGET)
    assert fresh.access_key_id != current.access_key_id
    assert sts.issued[fresh.access_key_id] - clock() > timedelta(minutes=50)


def test_sts_down_in_the_advisory_window_with_64_threads_costs_one_try(
    dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = Resolver(dashboard=str(dashboard), clock=clock, sts_config=ONE_TRY)
    current = resolver.credentials(*TARGET).access_key_id
    clock.advance(minutes=46)
    sts.fault = _sts_down
    keys, errors = in_threads(64, lambda: resolver.credentials(*TARGET).access_key_id)
    assert errors == []
    assert keys == [current] * 64  # nobody waits for, or fails with, the refresh
    assert sts.calls["AssumeRole"] == 2  # the cold load, then one refresh try for all 64


# --- the warm paths: no resolution, and changes still seen -------------------------------------


def test_a_warm_read_does_not_resolve(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    first = resolver.credentials(*TARGET)
    module_first = sls_access.credentials(*TARGET, dashboard=str(dashboard))
    calls = sts.calls["AssumeRole"]
    dashboard.unlink()  # a resolution now would fail: the warm reads do not resolve

    assert resolver.credentials(*TARGET) is first
    assert sls_access.credentials(*TARGET, dashboard=str(dashboard)) is module_first
    assert sts.calls["AssumeRole"] == calls


def test_the_module_function_sees_a_variable_set_and_unset_after_warm_calls(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        assert sls_access.credentials(*TARGET, dashboard=str(dashboard)).source == "dashboard"
    monkeypatch.setenv("SLS_ACCESS_USE_LOCAL_CREDENTIALS", "1")
    assert sls_access.credentials(*TARGET, dashboard=str(dashboard)).source == "env"
    monkeypatch.delenv("SLS_ACCESS_USE_LOCAL_CREDENTIALS")
    assert sls_access.credentials(*TARGET, dashboard=str(dashboard)).source == "dashboard"


def test_the_module_function_tells_options_apart_after_warm_calls(dashboard: Path) -> None:
    for _ in range(3):
        assert sls_access.credentials(*TARGET, dashboard=str(dashboard)).source == "dashboard"
    assert sls_access.credentials(*TARGET, dashboard=str(dashboard), sources="env").source == "env"
    assert sls_access.credentials(*TARGET, dashboard=str(dashboard)).source == "dashboard"


# Loaded with the first dashboard file, service or failure, never to build the chain.
_NOT_ON_THE_FIRST_PATH = [
    "difflib",
    "sls_access._redact",
    "sls_access.dashboard.file",
    "sls_access.dashboard.http",
    "tomllib",
]


def _loaded_after(code: str, cwd: Path) -> list[str]:
    """Run *code* in a new interpreter and return which of _NOT_ON_THE_FIRST_PATH it loaded."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {_NOT_ON_THE_FIRST_PATH!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, check=True, capture_output=True, text=True).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_building_the_first_chain_loads_no_dashboard_parser_client_or_redaction(tmp_path: Path) -> None:
    assert _loaded_after("import sls_access; sls_access.Resolver().chain", tmp_path) == []


def test_a_resolution_without_a_dashboard_loads_no_dashboard_parser_or_client(tmp_path: Path) -> None:
    code = "import sls_access; assert sls_access.Resolver().credentials('acme', 'shop', 'prod').source == 'env'"

    assert _loaded_after(code, tmp_path) == []


def test_a_resolution_with_a_dashboard_file_loads_its_parser(tmp_path: Path, dashboard: Path) -> None:
    code = (
        f"import sls_access; sls_access.Resolver(dashboard={str(dashboard)!r})"
        ".explain('acme', 'shop', 'prod', offline=True)"
    )

    assert "sls_access.dashboard.file" in _loaded_after(code, tmp_path)
