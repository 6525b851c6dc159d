"""The fault matrix: every STS fault in every phase of a key's life has a defined outcome.

Phases (by the resolver's clock; the loopback STS issues one-hour keys):

- cold: nothing cached;
- advisory: less than 15 minutes left: keep serving the current keys, retry with a
  jittered backoff, not on every call;
- mandatory: less than 10 minutes left: block, try once, raise if it fails;
- expired: past the keys' expiry: as cold.

In every phase the failure is an :class:`~sls_access.AccessRoleError` naming the
deployment profile and the role, after a bounded number of attempts, and never a
fallback to the env or profile keys that are also there. The table is in
``docs/explanation/reliability.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from conftest import BASE_KEY_ID
from faults import (
    CODES,
    FAULTS,
    MAX_ATTEMPTS,
    TEST_CLIENT_CONFIG,
    TRUNCATED_SECRET,
    TRUNCATED_TOKEN,
    Gate,
    clear,
    inject,
)
from support import FakeClock, StsProxy, in_threads, sts_error

from sls_access import AccessRoleError, Credentials, Outcome, Resolver, SlsAccessError
from sls_access._cache import BACKOFF_BASE, ExpiringCache
from sls_access._resolution import Resolution
from sls_access._target import Target

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"
TARGET = ("acme", "shop", "prod")
# Minutes to advance after a cold resolution to land in each phase of one-hour keys.
PHASES = {"advisory": 47, "mandatory": 52, "expired": 61}


@pytest.fixture
def gate(sts: StsProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """Route the library's STS calls through a gate the test can shut; shrink the timeouts."""
    gate = Gate(sts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", gate.url)
    yield gate
    gate.shut()


@pytest.fixture
def local_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keys the chain could fall back to, if it did not fail closed: stage env vars and a profile."""
    monkeypatch.setenv("AWS_PROD_ACCESS_KEY_ID", "AKIASTAGEKEY00000001")
    monkeypatch.setenv("AWS_PROD_SECRET_ACCESS_KEY", "stage-secret")
    credentials = Path(str(tmp_path / "home" / "aws-credentials"))
    credentials.write_text(
        "[default]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = profile-secret\n"
    )


def resolver_for(dashboard: Path, clock: FakeClock) -> Resolver:
    return Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, clock=clock)


def assert_fails_closed(error: AccessRoleError, fault: str) -> None:
    assert error.deployment_profile == "prod"
    assert error.role_arn == PROD_ROLE
    assert "'prod'" in str(error)
    assert PROD_ROLE in str(error)
    if fault in CODES:
        assert error.code == CODES[fault]
    for secret in (TRUNCATED_SECRET, TRUNCATED_TOKEN):
        assert secret not in str(error)
    assert error.resolution is not None
    trail = error.resolution.trail  # what explain() shows for this failure
    assert [(entry.source, entry.outcome) for entry in trail] == [("dashboard", Outcome.FAILED)]


def assume_attempts(sts: StsProxy) -> int:
    return sts.calls["AssumeRole"]


# -- cold and expired: the right error, after a bounded number of attempts, no fallback --


@pytest.mark.usefixtures("local_keys")
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("phase", ["cold", "expired"])
def test_cold_or_expired_raises_access_role_error_after_bounded_attempts(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock, fault: str, phase: str
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    old: Credentials | None = None
    if phase == "expired":
        old = resolver.credentials(*TARGET)
        clock.advance(minutes=PHASES["expired"])
    before = assume_attempts(sts)
    inject(fault, sts, gate, clock)
    with pytest.raises(AccessRoleError) as info:
        resolver.credentials(*TARGET)
    attempts = assume_attempts(sts) - before
    if fault == "unreachable":
        assert attempts == 0  # the gate refused every attempt before it reached the proxy
    else:
        assert 1 <= attempts <= (MAX_ATTEMPTS if FAULTS[fault] else 1)
    assert_fails_closed(info.value, fault)
    if old is not None:
        assert old.access_key_id not in str(info.value)


@pytest.mark.parametrize("fault", ["5xx", "throttling", "slow", "dropped"])
def test_retryable_faults_are_retried_exactly_to_the_limit(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock, fault: str
) -> None:
    inject(fault, sts, gate, clock)
    with pytest.raises(AccessRoleError):
        resolver_for(dashboard, clock).credentials(*TARGET)
    assert assume_attempts(sts) == MAX_ATTEMPTS


def test_library_limits_are_three_attempts_of_bounded_time(dashboard: Path, sts: StsProxy) -> None:
    # The real limits (no test override): a 5xx is tried three times, then raised.
    sts.fault = lambda action: sts_error("InternalFailure", "boom", 500) if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError, match="InternalFailure"):
        Resolver(dashboard=str(dashboard)).credentials(*TARGET)
    assert assume_attempts(sts) == 3
    from sls_access.plugin.sts import client_config  # noqa: PLC0415 - the limits under test

    assert getattr(client_config(), "connect_timeout", None) == 5
    assert getattr(client_config(), "read_timeout", None) == 10


def test_slow_sts_is_reported_as_a_timeout(dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock) -> None:
    inject("slow", sts, gate, clock)
    with pytest.raises(AccessRoleError, match="did not answer in time"):
        resolver_for(dashboard, clock).credentials(*TARGET)


def test_malformed_answer_is_named_without_quoting_it(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock
) -> None:
    inject("malformed", sts, gate, clock)
    with pytest.raises(AccessRoleError, match="malformed response") as info:
        resolver_for(dashboard, clock).credentials(*TARGET)
    assert TRUNCATED_SECRET not in str(info.value)
    chain = list(_exception_chain(info.value))
    # botocore's parser error quotes the body: it is in no cause or context of what is raised.
    assert [type(exc).__name__ for exc in chain] == ["AccessRoleError"] * len(chain)
    assert all(TRUNCATED_SECRET not in str(exc) for exc in chain)


def _exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def test_keys_expired_on_arrival_are_refused(dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock) -> None:
    inject("expired-on-arrival", sts, gate, clock)
    resolver = resolver_for(dashboard, clock)
    with pytest.raises(AccessRoleError, match="expired on arrival") as info:
        resolver.credentials(*TARGET)
    assert "clock" in str(info.value)
    # Nothing was cached: the next call asks STS again, and gets good keys once it is right.
    clear(sts, clock)
    assert resolver.credentials(*TARGET).expiration is not None
    assert assume_attempts(sts) == 2


def test_keys_that_expire_within_a_minute_are_expired_on_arrival(
    dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    sts.clock = lambda: clock() - timedelta(seconds=3600 - 30)  # 30 s left on arrival
    with pytest.raises(AccessRoleError, match="expired on arrival"):
        resolver_for(dashboard, clock).credentials(*TARGET)


# -- advisory window: keep serving, retry with backoff ------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS))
def test_advisory_window_keeps_serving_current_keys_and_backs_off(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock, fault: str
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    current = resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["advisory"])
    inject(fault, sts, gate, clock)
    gate_calls = assume_attempts(sts)

    assert resolver.credentials(*TARGET) == current  # tried once, failed, served the current keys
    tried = assume_attempts(sts) - gate_calls
    if fault != "unreachable":
        assert tried >= 1
    for _ in range(20):
        assert resolver.credentials(*TARGET) == current
    assert assume_attempts(sts) - gate_calls == tried  # backing off: no call on every read

    clock.advance(seconds=BACKOFF_BASE * 1.25)  # past the first (jittered) backoff
    assert resolver.credentials(*TARGET) == current
    if fault != "unreachable":
        assert assume_attempts(sts) - gate_calls > tried  # tried again


def test_advisory_refresh_succeeds_once_sts_recovers(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    current = resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["advisory"])
    inject("5xx", sts, gate, clock)
    assert resolver.credentials(*TARGET) == current
    clear(sts, clock)
    assert resolver.credentials(*TARGET) == current  # still backing off
    clock.advance(seconds=BACKOFF_BASE * 1.25)
    fresh = resolver.credentials(*TARGET)
    assert fresh.access_key_id != current.access_key_id
    assert fresh.expiration is not None
    assert current.expiration is not None
    assert fresh.expiration > current.expiration


def test_advisory_backoff_doubles_after_each_failure(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["advisory"])
    inject("access-denied", sts, gate, clock)  # not retried by botocore: one call per try
    resolver.credentials(*TARGET)
    assert assume_attempts(sts) == 2
    clock.advance(seconds=BACKOFF_BASE * 1.25)
    resolver.credentials(*TARGET)
    assert assume_attempts(sts) == 3
    clock.advance(seconds=BACKOFF_BASE * 1.25)  # the second backoff is twice the first
    resolver.credentials(*TARGET)
    assert assume_attempts(sts) == 3
    clock.advance(seconds=BACKOFF_BASE * 1.25)
    resolver.credentials(*TARGET)
    assert assume_attempts(sts) == 4


def test_advisory_backoff_is_jittered() -> None:
    # The cache alone, with a load that fails: when does each of 20 caches try again?
    start = datetime(2030, 1, 1, tzinfo=UTC)
    target = Target(org="o", app="a", stage="s")
    ok = Resolution(
        target=target,
        source="test",
        credentials=Credentials(
            access_key_id="ASIAJITTER", secret_access_key="s", expiration=start + timedelta(hours=1)
        ),
    )
    delays = []
    for _ in range(20):
        clock = FakeClock()
        clock.shift = start - datetime.now(UTC)
        cache: ExpiringCache[Resolution] = ExpiringCache(
            clock, lambda r: r.credentials.expiration if r.credentials else None
        )
        cache.get("k", lambda: ok)
        clock.advance(minutes=PHASES["advisory"])
        tries: list[datetime] = []

        def failing(tries: list[datetime] = tries, clock: FakeClock = clock) -> Resolution:
            tries.append(clock())
            raise SlsAccessError("STS is down")

        while len(tries) < 2:
            assert cache.get("k", failing) is ok
            clock.advance(seconds=0.1)
        delays.append((tries[1] - tries[0]).total_seconds())
    assert all(BACKOFF_BASE * 0.8 - 0.2 <= delay <= BACKOFF_BASE * 1.2 + 0.2 for delay in delays)
    assert len({round(delay, 1) for delay in delays}) > 3


# -- mandatory window: block, try once, raise; never expired keys -------------------------


@pytest.mark.usefixtures("local_keys")
@pytest.mark.parametrize("fault", list(FAULTS))
def test_mandatory_window_tries_once_and_raises(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock, fault: str
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    old = resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["mandatory"])
    before = assume_attempts(sts)
    inject(fault, sts, gate, clock)
    with pytest.raises(AccessRoleError) as info:
        resolver.credentials(*TARGET)
    attempts = assume_attempts(sts) - before
    assert attempts <= (MAX_ATTEMPTS if FAULTS[fault] else 1)
    assert_fails_closed(info.value, fault)
    assert old.access_key_id not in str(info.value)


def test_mandatory_window_with_many_callers_costs_one_try(
    dashboard: Path, sts: StsProxy, gate: Gate, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["mandatory"])
    inject("slow", sts, gate, clock)
    before = assume_attempts(sts)
    got, errors = in_threads(8, lambda: resolver.credentials(*TARGET))
    assert got == []
    assert len(errors) == 8
    assert all(isinstance(error, AccessRoleError) for error in errors)
    # One caller tried (with botocore's bounded retries); the others shared its error.
    assert assume_attempts(sts) - before == MAX_ATTEMPTS


def test_mandatory_window_refreshes_when_sts_answers(dashboard: Path, sts: StsProxy, clock: FakeClock) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    old = resolver.credentials(*TARGET)
    clock.advance(minutes=PHASES["mandatory"])
    new = resolver.credentials(*TARGET)
    assert new.access_key_id != old.access_key_id
    assert sts.calls["AssumeRole"] == 2


def test_session_never_signs_with_keys_in_the_mandatory_window(
    dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    sts.clock = clock
    resolver = resolver_for(dashboard, clock)
    client = cast("STSClient", resolver.session(*TARGET).create_client("sts"))
    client.get_caller_identity()
    clock.advance(minutes=PHASES["advisory"])
    sts.fault = lambda action: sts_error("AccessDenied", "denied") if action == "AssumeRole" else None
    client.get_caller_identity()  # advisory: the current keys still sign
    assert sts.calls["GetCallerIdentity"] == 2
    clock.advance(minutes=PHASES["mandatory"] - PHASES["advisory"])
    with pytest.raises(AccessRoleError):
        client.get_caller_identity()
    assert sts.calls["GetCallerIdentity"] == 2  # the request was never sent


# -- clock skew ---------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [5, -5])
def test_five_minutes_of_skew_changes_nothing(dashboard: Path, sts: StsProxy, skew: int) -> None:
    # STS runs on the real clock; this machine's clock is off by `skew` minutes.
    clock = FakeClock()
    clock.advance(minutes=skew)
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, clock=clock)
    first = resolver.credentials(*TARGET)
    assert resolver.credentials(*TARGET) == first
    assert sts.calls["AssumeRole"] == 1
    # By the local clock, the advisory window starts 15 minutes before expiry ...
    assert first.expiration is not None
    clock.shift = first.expiration - datetime.now(UTC) - timedelta(minutes=15, seconds=30)
    assert resolver.credentials(*TARGET) == first
    clock.shift = first.expiration - datetime.now(UTC) - timedelta(minutes=14, seconds=30)
    assert resolver.credentials(*TARGET) != first
    assert sts.calls["AssumeRole"] == 2


@pytest.mark.parametrize("skew", [5, -5])
def test_keys_served_under_skew_are_valid_by_the_real_clock(
    dashboard: Path, sts: StsProxy, gate: Gate, skew: int
) -> None:
    # This machine's clock is `skew` minutes off; STS (moto) runs on the real clock.
    clock = FakeClock()
    clock.advance(minutes=skew)
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, clock=clock)
    first = resolver.credentials(*TARGET)
    assert first.expiration is not None
    inject("access-denied", sts, gate, clock)
    # Time passes until the last moment before the mandatory window, by the local clock:
    clock.shift = first.expiration - datetime.now(UTC) - timedelta(minutes=11)
    served = resolver.credentials(*TARGET)
    assert served == first
    # ... and the keys served then are valid for 10 - 5 minutes more by STS's clock.
    real_now = clock() - timedelta(minutes=skew)
    assert first.expiration - real_now >= timedelta(minutes=5)
    clock.advance(seconds=61)  # mandatory window: never those keys again
    with pytest.raises(AccessRoleError):
        resolver.credentials(*TARGET)


def test_short_keys_under_skew_are_still_accepted(dashboard: Path, sts: StsProxy) -> None:
    # A 900 s role session with the local clock 5 minutes fast has 600 s left on arrival.
    text = dashboard.read_text().replace(
        'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"',
        'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"\nduration_seconds = 900',
    )
    dashboard.write_text(text)
    clock = FakeClock()
    clock.advance(minutes=5)
    resolver = Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, clock=clock)
    first = resolver.credentials(*TARGET)
    assert resolver.credentials(*TARGET) == first
    assert sts.calls["AssumeRole"] == 1


def test_a_clock_an_hour_fast_gets_expired_on_arrival(dashboard: Path, sts: StsProxy) -> None:
    clock = FakeClock()
    clock.advance(minutes=61)
    with pytest.raises(AccessRoleError, match="is the clock right"):
        Resolver(dashboard=str(dashboard), sts_config=TEST_CLIENT_CONFIG, clock=clock).credentials(*TARGET)


# -- fail closed, whatever the source -----------------------------------------------------


def test_expired_env_keys_are_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2001-01-01T00:00:00Z")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "old-token")
    with pytest.raises(SlsAccessError, match="returned keys that expire at 2001-01-01T00:00:00") as info:
        Resolver().credentials("acme", "web", "dev")
    assert BASE_KEY_ID not in str(info.value)
    assert "old-token" not in str(info.value)
