"""The dashboard file: links at every level and their precedence; strict validation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sls_access import ConfigError, Target
from sls_access.dashboard.file import TargetError, load_dashboard_file
from sls_access.dashboard.model import LinkLevel, Sessions

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
def test_most_specific_link_wins(
    dashboard: Path, org: str, app: str, stage: str, region: str | None, profile: str, level: LinkLevel
) -> None:
    link = load_dashboard_file(dashboard).link(Target(org=org, app=app, stage=stage, region=region))
    assert link is not None
    assert (link.profile.name, link.level) == (profile, level)


def test_no_link_when_org_has_no_default_and_app_is_unknown(dashboard: Path) -> None:
    assert load_dashboard_file(dashboard).link(Target(org="solo", app="web", stage="dev")) is None


def test_an_org_not_in_the_file_has_no_link(dashboard: Path) -> None:
    assert load_dashboard_file(dashboard).link(Target(org="other", app="shop", stage="prod")) is None


def test_profile_fields_are_parsed_with_defaults(dashboard: Path) -> None:
    profiles = load_dashboard_file(dashboard).orgs["acme"].profiles
    assert profiles["sandbox"].external_id == "acme-7f3c"
    assert profiles["sandbox"].region == "us-east-1"
    assert profiles["prod"].duration_seconds == 3600
    assert profiles["prod"].external_id is None
    assert profiles["prod"].account_id is None
    assert profiles["prod"].sessions is Sessions.SHARED


def test_a_profile_may_ask_for_per_key_sessions(tmp_path: Path) -> None:
    profile = load_dashboard_file(write(tmp_path, HEAD + "sessions = 'per_key'\n")).orgs["acme"].profiles["p"]
    assert profile.sessions is Sessions.PER_KEY


def test_account_id_is_kept_when_the_role_is_in_it(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "account_id = '222222222222'\n")
    assert load_dashboard_file(path).orgs["acme"].profiles["p"].account_id == "222222222222"


# --- strict targets: names one slip away, protected stages ---------------------------------

PROTECTED = (
    HEAD
    + """
[orgs.acme.deployment_profiles.live]
role_arn = "arn:aws:iam::111111111111:role/live"

[orgs.acme]
deployment_profile = "p"
protected_stages = ["prod"]

[orgs.acme.apps.shop]
deployment_profile = "p"
protected_stages = ["live"]

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "live"

[orgs.acme.apps.shop.stages.live.regions.eu-west-1]
deployment_profile = "live"
"""
)


def lookup(path: Path, org: str, app: str, stage: str, region: str | None = None) -> TargetError:
    with pytest.raises(TargetError) as info:
        load_dashboard_file(path).link(Target(org=org, app=app, stage=stage, region=region))
    return info.value


@pytest.mark.parametrize(
    ("org", "app", "stage", "region", "profile", "level"),
    [
        ("acme", "shop", "prod", None, "live", LinkLevel.STAGE),
        ("acme", "shop", "live", "eu-west-1", "live", LinkLevel.STAGE_REGION),
        ("acme", "shop", "dev", None, "p", LinkLevel.APP),
    ],
)
def test_a_protected_stage_is_served_by_its_own_link(
    tmp_path: Path, org: str, app: str, stage: str, region: str | None, profile: str, level: LinkLevel
) -> None:
    link = load_dashboard_file(write(tmp_path, PROTECTED)).link(Target(org=org, app=app, stage=stage, region=region))
    assert link is not None
    assert (link.profile.name, link.level) == (profile, level)


def test_an_org_protected_stage_is_never_served_by_the_org_default(tmp_path: Path) -> None:
    path = write(tmp_path, PROTECTED)
    error = lookup(path, "acme", "blog", "prod")
    assert (error.code, error.key, error.path) == ("protected_stage", "orgs.acme.protected_stages", str(path))
    assert "link orgs.acme.apps.blog.stages.prod to a deployment profile" in str(error)


def test_an_app_protected_stage_is_never_served_by_the_app_default_in_another_region(tmp_path: Path) -> None:
    error = lookup(write(tmp_path, PROTECTED), "acme", "shop", "live", "us-west-2")
    assert (error.code, error.key) == ("protected_stage", "orgs.acme.apps.shop.protected_stages")
    assert "for region us-west-2" in error.reason


def test_the_refusal_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, PROTECTED)
    error = lookup(path, "acme", "blog", "prod")
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"{path}: orgs.acme.protected_stages: ")
    assert str(path) not in error.reason  # what the service may tell its clients


@pytest.mark.parametrize(
    ("org", "app", "stage", "key", "near"),
    [
        ("acmee", "shop", "prod", "orgs", "acme"),
        ("ACME", "shop", "prod", "orgs", "acme"),
        ("acme", "shpo", "prod", "orgs.acme.apps", "shop"),
        ("acme", "shop", "PROD", "orgs.acme.apps.shop.stages", "prod"),
        ("acme", "shop", "prd", "orgs.acme.apps.shop.stages", "prod"),
        ("acme", "shop", "Live", "orgs.acme.apps.shop.stages", "live"),
        ("acme", "blog", "Prod", "orgs.acme.apps.blog.stages", "prod"),  # an org-protected name, any app
    ],
)
def test_a_name_one_slip_away_is_refused_with_a_hint(
    tmp_path: Path, org: str, app: str, stage: str, key: str, near: str
) -> None:
    error = lookup(write(tmp_path, PROTECTED), org, app, stage)
    assert (error.code, error.key) == ("unknown_target", key)
    assert f"did you mean {near!r}?" in error.reason


def test_a_far_away_name_still_takes_the_defaults(tmp_path: Path) -> None:
    link = load_dashboard_file(write(tmp_path, PROTECTED)).link(Target(org="acme", app="blog", stage="test"))
    assert link is not None
    assert link.level == LinkLevel.ORG


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[orgs.acme]\ndeployment_profile = 'nope'\n" + HEAD, "orgs.acme.deployment_profile", "not defined"),
        (
            HEAD + "[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = 'q'\n",
            "orgs.acme.apps.shop.stages.prod.deployment_profile",
            "not defined",
        ),
        (HEAD + "duration_seconds = 60\n", "orgs.acme.deployment_profiles.p.duration_seconds", "900..43200"),
        (HEAD + "duration_seconds = 50000\n", "orgs.acme.deployment_profiles.p.duration_seconds", "900..43200"),
        (HEAD + "duration_seconds = '3600'\n", "orgs.acme.deployment_profiles.p.duration_seconds", "integer"),
        (
            "[orgs.acme.deployment_profiles.p]\nrole_arn = 'arn:aws:iam::12:role/r'\n",
            "orgs.acme.deployment_profiles.p.role_arn",
            "IAM role ARN",
        ),
        (
            "[orgs.acme.deployment_profiles.p]\nexternal_id = 'abc'\n",
            "orgs.acme.deployment_profiles.p.role_arn",
            "required",
        ),
        (HEAD + "role_name = 'x'\n", "orgs.acme.deployment_profiles.p.role_name", "unknown key"),
        (HEAD + "regoin = 'eu-west-1'\n", "orgs.acme.deployment_profiles.p.regoin", "did you mean 'region'"),
        (HEAD + "region = 'Europe'\n", "orgs.acme.deployment_profiles.p.region", "AWS region"),
        (HEAD + "external_id = 'x'\n", "orgs.acme.deployment_profiles.p.external_id", "2-1224"),
        ("[org.acme]\n", "org", "did you mean 'orgs'"),
        ("orgs = 3\n", "orgs", "must be a table"),
        (
            HEAD + "[orgs.acme.apps.shop.stages.prod.regions.mars]\ndeployment_profile = 'p'\n",
            "orgs.acme.apps.shop.stages.prod.regions.mars",
            "AWS region",
        ),
        (
            HEAD + "[orgs.acme.apps.shop.stages.prod.regions.eu-west-1]\n",
            "orgs.acme.apps.shop.stages.prod.regions.eu-west-1.deployment_profile",
            "required",
        ),
        (
            HEAD + "account_id = '111111111111'\n",
            "orgs.acme.deployment_profiles.p.role_arn",
            "in account 222222222222, not in the profile's account_id 111111111111",
        ),
        (HEAD + "account_id = 222222222222\n", "orgs.acme.deployment_profiles.p.account_id", "quoted"),
        (HEAD + "account_id = '2222'\n", "orgs.acme.deployment_profiles.p.account_id", "12 digits"),
        (HEAD + "sessions = 'per-key'\n", "orgs.acme.deployment_profiles.p.sessions", "did you mean 'per_key'"),
        (HEAD + "sessions = 'Shared'\n", "orgs.acme.deployment_profiles.p.sessions", "did you mean 'shared'"),
        (HEAD + "sessions = 'per_request'\n", "orgs.acme.deployment_profiles.p.sessions", "not a session mode"),
        (HEAD + "sessions = true\n", "orgs.acme.deployment_profiles.p.sessions", "must be a string"),
        ("[orgs.acme]\nprotected_stages = 'prod'\n", "orgs.acme.protected_stages", "array of stage names"),
        ("[orgs.acme]\nprotected_stages = ['prod', 3]\n", "orgs.acme.protected_stages", "must be a string"),
        ("[orgs.acme]\nprotected_stages = ['']\n", "orgs.acme.protected_stages", "must not be empty"),
        ("[orgs.acme]\nprotected_stages = ['prod', 'prod']\n", "orgs.acme.protected_stages", "twice"),
        (
            HEAD + "[orgs.acme.apps.shop]\nprotected_stages = ['prod']\n",
            "orgs.acme.apps.shop.protected_stages",
            "'prod' is protected but has no link of its own",
        ),
        (
            HEAD + "[orgs.acme.apps.shop]\nprotected_stages = ['prod']\n[orgs.acme.apps.shop.stages.prod]\n",
            "orgs.acme.apps.shop.protected_stages",
            "'prod' is protected but has no link of its own",
        ),
    ],
)
def test_malformed_files_are_config_errors_naming_file_and_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
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


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::111111111111:role/x\n",
        "arn:aws-evil:iam::111111111111:role/x",
        "arn:aws:iam::\u0661\u0661\u0661111111111:role/x",
    ],
)
def test_role_arns_are_matched_whole_in_known_partitions(tmp_path: Path, arn: str) -> None:
    path = tmp_path / "d.toml"
    path.write_text(f"[orgs.acme.deployment_profiles.p]\nrole_arn = {json.dumps(arn)}\n")
    with pytest.raises(ConfigError, match="role_arn"):
        load_dashboard_file(path)
