"""RoleAssumer: the bounds on what one assumer keeps and how long one call may take."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.config
import pytest
from conftest import BASE_KEY_ID, BASE_SECRET
from support import StsProxy, sts_error
from trickle import Trickler

from sls_access._sts_client import CallerIdentity, RoleAssumer, StsFailure
from sls_access._target import Target
from sls_access._values import known_regions
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError, ConfigError

PROFILE = DeploymentProfile(name="deploy", role_arn="arn:aws:iam::123456789012:role/deploy")
TARGET = Target(org="acme", app="shop", stage="prod")
# Socket timeouts a trickle never reaches (a byte every 0.5 s), one attempt.
TRICKLE_CONFIG = botocore.config.Config(
    connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"}
)


def test_made_up_regions_create_no_sts_client(sts: StsProxy) -> None:
    assumer = RoleAssumer()
    for number in range(100):
        profile = DeploymentProfile(name="deploy", role_arn=PROFILE.role_arn, region=f"eu-fake{number}-1")
        with pytest.raises(ConfigError, match="region"):
            assumer.assume(TARGET, profile, source=None)
    assert assumer.client_count == 0
    assert sts.calls["AssumeRole"] == 0


def test_the_clients_kept_are_bounded(sts: StsProxy) -> None:
    assumer = RoleAssumer(max_clients=4)
    regions = sorted(name for name in known_regions() if name.startswith(("eu-", "us-", "ap-")))[:10]
    for region in regions:
        assumer.assume(Target(org="acme", app="shop", stage="prod", region=region), PROFILE, source=None)
    assert sts.calls["AssumeRole"] == len(regions) == 10
    assert assumer.client_count == 4


@pytest.fixture
def trickler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trickler]:
    """STS replaced by a peer that answers one byte every half second."""
    peer = Trickler()
    monkeypatch.setenv("AWS_ENDPOINT_URL", peer.url)
    yield peer
    peer.close()


def test_a_trickled_answer_is_cut_off_at_the_deadline(trickler: Trickler) -> None:
    assumer = RoleAssumer(TRICKLE_CONFIG, deadline=3)
    started = time.monotonic()
    with pytest.raises(AccessRoleError, match="did not answer within 3 s"):
        assumer.assume(TARGET, PROFILE, source=None)
    assert 3 <= time.monotonic() - started < 5
    assert trickler.connections == 1


def test_when_every_call_is_stuck_the_next_fails_at_once(trickler: Trickler) -> None:
    assumer = RoleAssumer(TRICKLE_CONFIG, deadline=1, max_calls=1)
    with pytest.raises(AccessRoleError, match="within 1 s"):
        assumer.assume(TARGET, PROFILE, source=None)
    started = time.monotonic()
    with pytest.raises(AccessRoleError, match="1 calls are still waiting"):
        assumer.assume(TARGET, PROFILE, source=None)
    assert time.monotonic() - started < 0.5
    assert trickler.connections == 1


def test_after_an_abandoned_call_the_next_uses_a_new_session_from_the_environment_of_its_time(
    trickler: Trickler, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The abandoned call's session and clients are dropped: in the agent, that call's thread
    # may go on reading os.environ after another caller's environment was swapped in.
    assumer = RoleAssumer(TRICKLE_CONFIG, deadline=1)
    with pytest.raises(AccessRoleError, match="within 1 s"):
        assumer.assume(TARGET, PROFILE, source=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)  # the next caller's environment
    started = time.monotonic()
    keys = assumer.assume(TARGET, PROFILE, source=None)
    assert time.monotonic() - started < 1
    assert keys.access_key_id.startswith("ASIA")
    assert sts.calls["AssumeRole"] == 1
    assert trickler.connections == 1


def test_after_an_abandoned_identity_call_the_next_uses_a_new_session(
    trickler: Trickler, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    assumer = RoleAssumer(TRICKLE_CONFIG, deadline=1)
    with pytest.raises(AccessRoleError, match="could not tell who the caller is"):
        assumer.caller_arn(TARGET, PROFILE)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)
    assert assumer.caller_arn(TARGET, PROFILE).startswith("arn:aws:")
    assert sts.calls["GetCallerIdentity"] == 1


def test_an_abandoned_call_stuck_reading_the_config_file_leaves_nothing_behind(
    sts: StsProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Caller X's call is stuck in its thread reading a slow AWS config file (40,000 profiles:
    # about a second to parse) past its deadline, while it holds the assumer's lock. Its caller
    # gets the error at the deadline, not when the read ends; then caller Y's environment is
    # swapped in (as the agent does). The abandoned thread, once done reading, must not leave a
    # session or client (whose keys it would read from Y's environment) for X's next call.
    x_keys = RoleAssumer().assume(
        TARGET, DeploymentProfile(name="x", role_arn="arn:aws:iam::111111111111:role/caller-x"), source=None
    )
    slow = tmp_path / "slow-config"
    slow.write_text("".join(f"[profile p{n}]\nregion = eu-west-1\n" for n in range(40_000)))
    small = tmp_path / "config"
    small.write_text("[default]\n")

    def be_x(config: Path) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", x_keys.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", x_keys.secret_access_key)
        monkeypatch.setenv("AWS_SESSION_TOKEN", x_keys.session_token or "")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    y_key_id = os.environ["AWS_ACCESS_KEY_ID"]  # the suite's base keys: moto's default account
    y_secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)  # the region comes from the (slow) config file
    be_x(slow)
    assumer = RoleAssumer(deadline=0.3)
    started = time.monotonic()
    with pytest.raises(AccessRoleError, match=r"within 0\.3 s"):
        assumer.assume(TARGET, PROFILE, source=None)
    assert time.monotonic() - started < 0.8  # not held up by the stuck call's lock
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", y_key_id)  # caller Y's environment
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", y_secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    until = time.monotonic() + 30
    while assumer._calls.running and time.monotonic() < until:
        time.sleep(0.05)
    assert assumer._calls.running == 0
    be_x(small)  # caller X again
    assert assumer.caller_arn(TARGET, PROFILE).startswith("arn:aws:sts::111111111111:assumed-role/caller-x/")


# --- prepare: one GetCallerIdentity at a server's startup -------------------------------------


def test_prepare_returns_the_base_credentials_identity_from_one_get_caller_identity(sts: StsProxy) -> None:
    identity = RoleAssumer().prepare()
    assert isinstance(identity, CallerIdentity)
    assert identity.arn.startswith(f"arn:aws:sts::{identity.account}:") or identity.arn.startswith(
        f"arn:aws:iam::{identity.account}:"
    )
    assert identity.account.isdigit()
    assert len(identity.account) == 12
    assert sts.calls == {"GetCallerIdentity": 1}


def test_the_first_assume_role_after_prepare_uses_its_connection(sts: StsProxy) -> None:
    assumer = RoleAssumer()
    assumer.prepare()
    creds = assumer.assume(TARGET, PROFILE, source=None)
    assert creds.access_key_id.startswith("ASIA")
    assert sts.calls == {"GetCallerIdentity": 1, "AssumeRole": 1}
    assert list(sts.connections.values()) == [2]  # both calls on the one connection prepare opened


def test_a_per_key_caller_lookup_after_prepare_costs_no_second_identity_call(sts: StsProxy) -> None:
    assumer = RoleAssumer()
    identity = assumer.prepare()
    assert assumer.caller_arn(TARGET, PROFILE) == identity.arn
    assert sts.calls == {"GetCallerIdentity": 1}


def test_prepare_without_base_credentials_fails_saying_so(monkeypatch: pytest.MonkeyPatch, sts: StsProxy) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StsFailure, match="no base AWS credentials"):
        RoleAssumer().prepare()
    assert sts.calls == {}


def test_prepare_with_refused_credentials_fails_with_sts_words_and_no_secret(sts: StsProxy) -> None:
    # A stub for what moto (which takes any key) never says: the key is not valid.
    sts.fault = lambda action: (
        sts_error("InvalidClientTokenId", "The security token included in the request is invalid.")
        if action == "GetCallerIdentity"
        else None
    )
    with pytest.raises(StsFailure) as raised:
        RoleAssumer().prepare()
    assert raised.value.code == "InvalidClientTokenId"
    assert "security token included in the request is invalid" in raised.value.message
    assert BASE_SECRET not in str(raised.value)
    assert BASE_KEY_ID not in str(raised.value)


def test_prepare_fails_at_its_deadline_when_sts_trickles(trickler: Trickler) -> None:
    with pytest.raises(StsFailure, match="within 1 s"):
        RoleAssumer(TRICKLE_CONFIG).prepare(deadline=1)


def test_prepare_refuses_a_region_botocore_does_not_know(sts: StsProxy) -> None:
    with pytest.raises(ConfigError, match="region"):
        RoleAssumer().prepare("eu-fake-9")
    assert sts.calls == {}
