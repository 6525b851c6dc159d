"""RoleAssumer: the bounds on what one assumer keeps and how long one call may take."""

from __future__ import annotations

import pytest
from support import StsProxy

from sls_access._sts import RoleAssumer
from sls_access._target import Target
from sls_access._values import known_regions
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import ConfigError

PROFILE = DeploymentProfile(name="deploy", role_arn="arn:aws:iam::123456789012:role/deploy")
TARGET = Target(org="acme", app="shop", stage="prod")


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
