from __future__ import annotations

import pytest

from sls_access import ConfigError, Target
from sls_access._target import env_prefix


def test_target_keeps_its_names_and_region() -> None:
    target = Target(org="acme", app="shop", stage="prod", region="eu-west-1")
    assert (target.org, target.app, target.stage, target.region) == ("acme", "shop", "prod", "eu-west-1")
    assert str(target) == "acme/shop/prod in eu-west-1"


def test_target_region_defaults_to_none() -> None:
    assert Target(org="a", app="b", stage="c").region is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("org", ""),
        ("app", "has space"),
        ("stage", "a/b"),
        ("org", "tab\tbed"),
        ("app", "ctl\x07"),
        ("stage", "new\nline"),
    ],
)
def test_bad_names_are_config_errors_naming_the_field(field: str, value: str) -> None:
    names = {"org": "acme", "app": "shop", "stage": "prod", field: value}
    with pytest.raises(ConfigError) as info:
        Target(**names)
    assert info.value.key == field


@pytest.mark.parametrize("region", ["EU-WEST-1", "nowhere", "eu-west-", ""])
def test_bad_region_is_a_config_error(region: str) -> None:
    with pytest.raises(ConfigError, match="region"):
        Target(org="a", app="b", stage="c", region=region)


def test_target_is_frozen_and_hashable() -> None:
    target = Target(org="a", app="b", stage="c")
    assert {target: 1}[Target(org="a", app="b", stage="c")] == 1
    with pytest.raises(AttributeError):
        target.org = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("stage", "prefix"),
    [("prod", "AWS_PROD_"), ("pre-prod", "AWS_PRE_PROD_"), ("v1.2", "AWS_V1_2_"), ("dév", "AWS_D_V_")],
)
def test_env_prefix_upper_cases_and_replaces_non_alphanumerics(stage: str, prefix: str) -> None:
    assert env_prefix(stage) == prefix


@pytest.mark.parametrize("region", ["eu-west-1\n", "eu-west-\u0661", "EU-west-1", "eu-west-1 "])
def test_a_region_is_matched_whole_and_in_ascii(region: str) -> None:
    with pytest.raises(ConfigError, match="region"):
        Target(org="acme", app="shop", stage="prod", region=region)


@pytest.mark.parametrize("region", ["xx-fake-9", "eu-fake-1", "us-east-99"])
def test_a_well_formed_region_botocore_does_not_know_is_a_config_error(region: str) -> None:
    with pytest.raises(ConfigError, match="region botocore knows"):
        Target(org="acme", app="shop", stage="prod", region=region)


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1", "eu-central-2"])
def test_regions_of_every_partition_are_accepted(region: str) -> None:
    assert Target(org="acme", app="shop", stage="prod", region=region).region == region
