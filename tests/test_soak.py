"""Soak: 16 threads resolve a mix of targets thousands of times while simulated hours pass.

Six dashboard targets (their keys refresh as the injected clock moves), a stage-env
target and a profile target. Proved: no errors and never an expired key; no AssumeRole
wasted (every one issued keys that a caller got) and at most one per target per key
lifetime (a key is used until its advisory window, 45 of its 60 minutes); memory flat:
a second round, traced by tracemalloc, holds on to less than 256 KiB when it ends.
"""

from __future__ import annotations

import gc
import random
import threading
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID, BASE_SECRET
from support import FakeClock, StsProxy

from sls_access import Resolver

THREADS = 16
# Resolutions per thread, and how often thread 0 moves the clock on by a minute: a long
# round, then a shorter one under tracemalloc (which slows every allocation down a lot).
SOAK = (2500, 25)
TRACED = (600, 6)
LINKED = [
    ("acme", "shop", "prod", None),
    ("acme", "shop", "prod", "eu-west-1"),
    ("acme", "shop", "dev", None),
    ("acme", "blog", "dev", None),
    ("acme", "shop", "staging", None),
    ("solo", "api", "dev", None),
]
ENV_TARGET = ("other", "web", "dev", None)
PROFILE_TARGET = ("other", "web", "qa", None)
TARGETS = [*LINKED, ENV_TARGET, PROFILE_TARGET]
KEY_USE = 45  # minutes a one-hour key is served before the advisory window asks for a new one


@pytest.fixture
def mixed_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Base keys in the default profile (so the profile target has one); stage keys for dev."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "home" / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {BASE_KEY_ID}\naws_secret_access_key = {BASE_SECRET}\n"
    )
    monkeypatch.setenv("AWS_DEV_ACCESS_KEY_ID", "AKIASOAKSTAGE0000001")
    monkeypatch.setenv("AWS_DEV_SECRET_ACCESS_KEY", "soak-stage-secret")


class Round:
    """One round of THREADS x PER_THREAD resolutions; collects what the callers saw."""

    def __init__(self, resolver: Resolver, clock: FakeClock, seed: int, shape: tuple[int, int]) -> None:
        self.resolver = resolver
        self.clock = clock
        self.seed = seed
        self.per_thread, self.minute_every = shape
        self.errors: list[str] = []
        self.keys: dict[tuple[str, str, str, str | None], set[str]] = defaultdict(set)
        self.sources: dict[tuple[str, str, str, str | None], set[str | None]] = defaultdict(set)
        self.minutes = 0
        self._lock = threading.Lock()

    def worker(self, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)  # noqa: S311 - a reproducible mix, not a secret
        seen: list[tuple[tuple[str, str, str, str | None], str, str | None]] = []
        for i in range(self.per_thread):
            if index == 0 and i % self.minute_every == 0:
                self.clock.advance(minutes=1)
                self.minutes += 1
            target = rng.choice(TARGETS)
            org, app, stage, region = target
            try:
                creds = self.resolver.credentials(org, app, stage, region=region)
            except Exception as exc:
                with self._lock:
                    self.errors.append(f"{target}: {type(exc).__name__}: {exc}")
                continue
            if creds.expiration is not None and creds.expiration <= self.clock():
                with self._lock:
                    self.errors.append(f"{target}: an expired key was handed out")
            seen.append((target, creds.access_key_id, creds.source))
        with self._lock:
            for target, key, source in seen:
                self.keys[target].add(key)
                self.sources[target].add(source)

    def run(self) -> None:
        threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def test_soak_many_threads_many_targets_refreshing(
    dashboard: Path, sts: StsProxy, clock: FakeClock, mixed_sources: None
) -> None:
    sts.clock = clock  # keys expire an hour after the simulated now
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    warm = {
        resolver.credentials(org, app, stage, region=region).access_key_id  # clients, plugins, keys
        for org, app, stage, region in TARGETS
    }

    first = Round(resolver, clock, seed=1, shape=SOAK)
    first.run()
    gc.collect()
    # What the second round allocates and still holds when it ends: its own few new keys,
    # and nothing per resolution.
    tracemalloc.start()
    try:
        second = Round(resolver, clock, seed=2, shape=TRACED)
        second.run()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    for done in (first, second):
        assert done.errors == []
        assert done.sources[ENV_TARGET] == {"env"}
        assert done.sources[PROFILE_TARGET] == {"profile"}
        for target in LINKED:
            assert done.sources[target] == {"dashboard"}
    minutes = first.minutes + second.minutes
    assert minutes >= 3 * KEY_USE  # several refreshes per target happened

    # Every AssumeRole issued keys that some caller received: none was wasted ...
    issued = sts.calls["AssumeRole"]
    received = warm.union(*(first.keys[t] | second.keys[t] for t in LINKED))
    assert issued == len(received) - 2  # the env and profile targets' warm keys are not STS's
    # ... and no target got more than one per key lifetime (45 minutes of use each).
    per_role: Counter[tuple[str, str]] = Counter(
        (r["RoleArn"], r["RoleSessionName"]) for r in sts.requests if r.get("Action") == "AssumeRole"
    )
    assert len(per_role) == len(LINKED)
    for count in per_role.values():
        assert count <= minutes // KEY_USE + 1

    # Memory is flat: the round holds about 100 KiB when it ends whether it makes 4,800 or
    # 19,200 resolutions; a leak of 16 bytes per resolution would cross the bound.
    assert retained < 256 * 1024
