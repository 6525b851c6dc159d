"""The dashboard file: links at every level and their precedence; strict validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sls_access import ConfigError, Target
from sls_access.dashboard.file import load_dashboard_file
from sls_access.dashboard.model import LinkLevel

HEAD = """
[orgs.acme.deployment_profiles.p]
role_arn = "arn:aws:iam::222222222222:role/r"
"""


def write(tmp_path: Path, text: str, name: str = "dash.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("org", "app", "stage", "region", "profile", "level"),
    [
        ("acme", "shop", "prod", "eu-west-1", "eu", LinkLevel.STAGE_REGION),
        ("acme", "shop", "prod", "us-west-2", "prod", LinkLevel.STAGE),
        ("acme", "shop", "prod", None, "prod", LinkLevel.STAGE),
        ("acme", "shop", "dev", "eu-west-1", "shop", LinkLevel.APP),
        ("acme", "blog", "prod", None, "sandbox", LinkLevel.ORG),
        ("solo", "api", "dev", None, "only", LinkLevel.STAGE),
    ],
)
def test_most_specific_link_wins(dashboard: Path, org: str, app: str, stage: str,
                                 region: str | None, profile: str, level: LinkLevel) -> None:
    link = load_dashboard_file(dashboard).link(Target(org=org, app=app, stage=stage, region=region))
    assert link is not None
    assert (link.profile.name, link.level) == (profile, level)


def test_no_link_when_org_has_no_default_and_app_is_unknown(dashboard: Path) -> None:
    assert load_dashboard_file(dashboard).link(Target(org="solo", app="web", stage="dev")) is None


def test_profile_fields_are_parsed_with_defaults(dashboard: Path) -> None:
    profiles = load_dashboard_file(dashboard).orgs["acme"].profiles
    assert profiles["sandbox"].external_id == "acme-7f3c"
    assert profiles["sandbox"].region == "us-east-1"
    assert profiles["prod"].duration_seconds == 3600
    assert profiles["prod"].external_id is None


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[orgs.acme]\ndeployment_profile = 'nope'\n" + HEAD, "orgs.acme.deployment_profile", "not defined"),
        (HEAD + "[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = 'q'\n",
         "orgs.acme.apps.shop.stages.prod.deployment_profile", "not defined"),
        (HEAD + "duration_seconds = 60\n", "orgs.acme.deployment_profiles.p.duration_seconds", "900..43200"),
        (HEAD + "duration_seconds = 50000\n", "orgs.acme.deployment_profiles.p.duration_seconds", "900..43200"),
        (HEAD + "duration_seconds = '3600'\n", "orgs.acme.deployment_profiles.p.duration_seconds", "integer"),
        ("[orgs.acme.deployment_profiles.p]\nrole_arn = 'arn:aws:iam::12:role/r'\n",
         "orgs.acme.deployment_profiles.p.role_arn", "IAM role ARN"),
        ("[orgs.acme.deployment_profiles.p]\nexternal_id = 'abc'\n",
         "orgs.acme.deployment_profiles.p.role_arn", "required"),
        (HEAD + "role_name = 'x'\n", "orgs.acme.deployment_profiles.p.role_name", "unknown key"),
        (HEAD + "regoin = 'eu-west-1'\n", "orgs.acme.deployment_profiles.p.regoin", "did you mean 'region'"),
        (HEAD + "region = 'Europe'\n", "orgs.acme.deployment_profiles.p.region", "AWS region"),
        (HEAD + "external_id = 'x'\n", "orgs.acme.deployment_profiles.p.external_id", "2-1224"),
        ("[org.acme]\n", "org", "did you mean 'orgs'"),
        ("orgs = 3\n", "orgs", "must be a table"),
        (HEAD + "[orgs.acme.apps.shop.stages.prod.regions.mars]\ndeployment_profile = 'p'\n",
         "orgs.acme.apps.shop.stages.prod.regions.mars", "AWS region"),
        (HEAD + "[orgs.acme.apps.shop.stages.prod.regions.eu-west-1]\n",
         "orgs.acme.apps.shop.stages.prod.regions.eu-west-1.deployment_profile", "required"),
    ],
)
def test_malformed_files_are_config_errors_naming_file_and_key(tmp_path: Path, text: str, key: str,
                                                               message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_dashboard_file(path)
    assert info.value.path == str(path)
    assert info.value.key == key
    assert str(path) in str(info.value)
    assert key in str(info.value)


def test_invalid_toml_is_a_config_error_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[orgs.acme\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_dashboard_file(path)
    assert info.value.path == str(path)


def test_duplicate_tables_are_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + HEAD)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_dashboard_file(path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_bytes(b"[orgs.\xff]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_dashboard_file(path)
