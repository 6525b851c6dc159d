"""RoleAssumer: the bounds on what one assumer keeps and how long one call may take."""

from __future__ import annotations

import time
from collections.abc import Iterator

import botocore.config
import pytest
from support import StsProxy
from trickle import Trickler

from sls_access._sts import RoleAssumer
from sls_access._target import Target
from sls_access._values import known_regions
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError, ConfigError

PROFILE = DeploymentProfile(name="deploy", role_arn="arn:aws:iam::123456789012:role/deploy")
TARGET = Target(org="acme", app="shop", stage="prod")
# Socket timeouts a trickle never reaches (a byte every 0.5 s), one attempt.
TRICKLE_CONFIG = botocore.config.Config(connect_timeout=1, read_timeout=2,
                                        retries={"total_max_attempts": 1, "mode": "standard"})


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
        trickler: Trickler, sts: StsProxy, monkeypatch: pytest.MonkeyPatch) -> None:
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
        trickler: Trickler, sts: StsProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    assumer = RoleAssumer(TRICKLE_CONFIG, deadline=1)
    with pytest.raises(AccessRoleError, match="could not tell who the caller is"):
        assumer.caller_arn(TARGET, PROFILE)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)
    assert assumer.caller_arn(TARGET, PROFILE).startswith("arn:aws:")
    assert sts.calls["GetCallerIdentity"] == 1
