"""The dashboard source against a real STS (moto on loopback): links, AssumeRole, fail closed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from conftest import BASE_KEY_ID
from support import StsProxy, assume_role_answer, free_port, sts_error

import sls_access
from sls_access import AccessRoleError, ConfigError, Outcome, Resolver, Target
from sls_access._role_session import default_session_name as role_session_name
from sls_access.dashboard.trust import trust

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient


def caller_arn(resolver: Resolver, org: str, app: str, stage: str, region: str | None = None) -> str:
    client = cast("STSClient", resolver.session(org, app, stage, region=region).create_client("sts"))
    return str(client.get_caller_identity()["Arn"])


@pytest.mark.parametrize(
    ("org", "app", "stage", "region", "role"),
    [
        ("acme", "shop", "prod", "eu-west-1", "333333333333:assumed-role/sls-access-eu/"),
        ("acme", "shop", "prod", None, "111111111111:assumed-role/sls-access-prod/"),
        ("acme", "shop", "dev", None, "444444444444:assumed-role/sls-access-shop/"),
        ("acme", "blog", "dev", None, "222222222222:assumed-role/sls-access-sandbox/"),
    ],
)
def test_linked_role_is_assumed_at_every_level(
    dashboard: Path, sts: StsProxy, org: str, app: str, stage: str, region: str | None, role: str
) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    arn = caller_arn(resolver, org, app, stage, region)
    assert role in arn
    assert arn.endswith("/" + role_session_name(Target(org=org, app=app, stage=stage)))
    assert sts.calls["AssumeRole"] == 1


def test_dashboard_link_wins_over_env_keys(dashboard: Path, sts: StsProxy) -> None:
    creds = sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard))
    assert creds.source == "dashboard"
    assert creds.access_key_id != BASE_KEY_ID
    assert creds.session_token
    assert creds.expiration is not None


def test_external_id_duration_and_session_name_are_sent(dashboard: Path, sts: StsProxy) -> None:
    Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")
    (request,) = [r for r in sts.requests if r.get("Action") == "AssumeRole"]
    assert request["RoleArn"] == "arn:aws:iam::222222222222:role/sls-access-sandbox"
    assert request["ExternalId"] == "acme-7f3c"
    assert request["DurationSeconds"] == "3600"
    assert request["RoleSessionName"] == "sls-acme.blog.dev"


def test_no_external_id_is_sent_when_none_is_set(dashboard: Path, sts: StsProxy) -> None:
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    (request,) = [r for r in sts.requests if r.get("Action") == "AssumeRole"]
    assert "ExternalId" not in request


def test_session_region_comes_from_the_deployment_profile(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    assert resolver.session("acme", "blog", "dev").get_config_variable("region") == "us-east-1"
    assert resolver.session("acme", "blog", "dev", region="ap-south-1").get_config_variable("region") == "ap-south-1"


def test_sts_refusing_raises_access_role_error_not_env_fallback(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "not authorized to assume") if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError) as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    error = info.value
    assert error.deployment_profile == "prod"
    assert error.role_arn == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert error.code == "AccessDenied"
    assert "prod" in str(error)
    assert "arn:aws:iam::111111111111:role/sls-access-prod" in str(error)


def test_sts_unreachable_raises_access_role_error(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(AccessRoleError, match="could not be reached"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")


def test_no_base_credentials_is_access_role_error(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AccessRoleError, match="no base AWS credentials"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")


def test_use_local_credentials_skips_the_dashboard(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard), use_local_credentials=True)
    resolution = resolver.explain("acme", "shop", "prod")
    assert resolution.source == "env"
    assert resolution.trail[0].reason == "use_local_credentials is set"
    assert sts.calls["AssumeRole"] == 0


def test_use_local_credentials_from_env_var(dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy) -> None:
    monkeypatch.setenv("SLS_ACCESS_USE_LOCAL_CREDENTIALS", "true")
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    assert Resolver().credentials("acme", "shop", "prod").access_key_id == BASE_KEY_ID


def test_unlinked_target_falls_through_with_reason(dashboard: Path) -> None:
    resolution = Resolver(dashboard=str(dashboard)).explain("solo", "web", "dev")
    assert resolution.source == "env"
    assert "no deployment profile is linked" in resolution.trail[0].reason


def test_unknown_org_falls_through_with_reason(dashboard: Path) -> None:
    resolution = Resolver(dashboard=str(dashboard)).explain("other", "web", "dev")
    assert resolution.trail[0].reason.startswith("org 'other' is not in")


def test_trusted_dashboard_file_in_cwd_is_found(dashboard: Path) -> None:
    Path("sls-access.toml").write_text(dashboard.read_text())
    trust("sls-access.toml")
    assert Resolver().credentials("acme", "shop", "prod").source == "dashboard"


def test_the_keys_name_their_role_and_the_dashboard(dashboard: Path) -> None:
    creds = Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    assert creds.role_arn == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert creds.dashboard == f"{dashboard} (the dashboard option / --dashboard / SLS_ACCESS_DASHBOARD)"


def test_the_trail_says_the_role_and_the_dashboard_file(dashboard: Path) -> None:
    entry = Resolver(dashboard=str(dashboard)).explain("acme", "shop", "prod").trail[0]
    assert entry.reason.startswith(f"role arn:aws:iam::111111111111:role/sls-access-prod from {dashboard} (")


def test_no_dashboard_anywhere_is_skipped_naming_where_it_looked() -> None:
    resolution = Resolver().explain("acme", "shop", "prod")
    assert resolution.source == "env"
    assert resolution.trail[0].reason.startswith("no dashboard (")
    assert f"no sls-access.toml in {Path.cwd()} or a parent" in resolution.trail[0].reason


def test_an_untrusted_project_file_fails_closed_instead_of_env_keys(dashboard: Path, sts: StsProxy) -> None:
    Path("sls-access.toml").write_text(dashboard.read_text())
    with pytest.raises(ConfigError, match="not trusted"):
        Resolver().credentials("acme", "shop", "prod")
    assert sts.calls["AssumeRole"] == 0


def test_broken_dashboard_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[orgs.acme]\ndeployment_profile = 'missing'\n")
    with pytest.raises(ConfigError, match="missing"):
        Resolver(dashboard=str(path)).credentials("acme", "shop", "prod")


@pytest.mark.parametrize(
    ("org", "app", "stage"),
    [
        ("a", "b", "c"),
        ("ünïcødé", "☃", "日本"),
        ("x" * 200, "y" * 200, "z" * 200),
        ("a:b", "c;d", "e|f"),
        ("acme", "shop", "prod"),
    ],
)
def test_role_session_name_always_satisfies_sts(org: str, app: str, stage: str) -> None:
    name = role_session_name(Target(org=org, app=app, stage=stage))
    assert 2 <= len(name) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_+=,.@-]+", name)


def test_long_names_keep_distinct_session_names() -> None:
    one = role_session_name(Target(org="o" * 80, app="a", stage="one"))
    two = role_session_name(Target(org="o" * 80, app="a", stage="two"))
    assert one != two


def test_odd_names_are_accepted_by_real_sts(dashboard: Path, sts: StsProxy) -> None:
    text = dashboard.read_text().replace("[orgs.solo.apps.api.stages.dev]", '[orgs.solo.apps.api.stages."日本-β"]')
    dashboard.write_text(text)
    creds = Resolver(dashboard=str(dashboard)).credentials("solo", "api", "日本-β")
    assert creds.source == "dashboard"


def test_failing_base_credential_process_is_named_as_such(
    dashboard: Path, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (aws_env / "aws-config").write_text("[default]\ncredential_process = false\n")
    with pytest.raises(AccessRoleError, match=r"base AWS credentials .* could not be loaded"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")


# --- strict targets: the right account or nothing ------------------------------------------

STAGE_KEY_ID = "AKIAPRODSTAGEKEY0001"
OTHER_ACCOUNT_ARN = "arn:aws:sts::999999999999:assumed-role/sls-access-prod/sls-acme.shop.prod"


@pytest.fixture
def prod_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local keys for stage prod, which a slip or an unlinked protected stage must never reach."""
    monkeypatch.setenv("AWS_PROD_ACCESS_KEY_ID", STAGE_KEY_ID)
    monkeypatch.setenv("AWS_PROD_SECRET_ACCESS_KEY", "prod-stage-secret-0123456789abcdefghijkl")


def edit(dashboard: Path, old: str, new: str) -> None:
    text = dashboard.read_text()
    assert old in text
    dashboard.write_text(text.replace(old, new, 1))


def protect_prod(dashboard: Path) -> None:
    """Protect stage prod org-wide: acme/shop has its own prod link, acme/blog has none."""
    edit(dashboard, 'deployment_profile = "sandbox"\n', 'deployment_profile = "sandbox"\nprotected_stages = ["prod"]\n')


def pin_prod_account(dashboard: Path, account: str = "111111111111") -> None:
    edit(
        dashboard,
        'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"\n',
        f'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"\naccount_id = "{account}"\n',
    )


@pytest.mark.parametrize(
    ("org", "app", "stage", "near"),
    [
        ("acmee", "shop", "prod", "acme"),
        ("acme", "shpo", "prod", "shop"),
        ("acme", "shop", "PROD", "prod"),
        ("Solo", "api", "dev", "solo"),
    ],
)
def test_a_target_one_slip_away_is_a_config_error_not_local_keys(
    dashboard: Path, sts: StsProxy, prod_keys: None, org: str, app: str, stage: str, near: str
) -> None:
    with pytest.raises(ConfigError, match=f"did you mean {near!r}") as info:
        Resolver(dashboard=str(dashboard)).credentials(org, app, stage)
    assert info.value.path == str(dashboard)
    assert info.value.resolution is not None
    assert [entry.source for entry in info.value.resolution.trail] == ["dashboard"]  # env never consulted
    assert sts.calls["AssumeRole"] == 0


def test_a_protected_stage_without_its_own_link_is_a_config_error(
    dashboard: Path, sts: StsProxy, prod_keys: None
) -> None:
    protect_prod(dashboard)
    resolution = Resolver(dashboard=str(dashboard)).explain("acme", "blog", "prod")
    assert resolution.credentials is None
    assert isinstance(resolution.error, ConfigError)
    assert resolution.error.key == "orgs.acme.protected_stages"
    assert [(e.source, e.outcome) for e in resolution.trail] == [("dashboard", Outcome.FAILED)]
    assert sts.calls["AssumeRole"] == 0


def test_a_protected_stage_is_served_by_its_own_link(dashboard: Path, sts: StsProxy, prod_keys: None) -> None:
    protect_prod(dashboard)
    creds = Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    assert creds.source == "dashboard"
    assert creds.access_key_id not in {BASE_KEY_ID, STAGE_KEY_ID}


@pytest.mark.parametrize(
    ("app", "protected_at"), [("blog", "orgs.acme.protected_stages"), ("shop", "orgs.acme.apps.shop.protected_stages")]
)
def test_use_local_credentials_is_refused_for_a_protected_stage(
    dashboard: Path, sts: StsProxy, prod_keys: None, app: str, protected_at: str
) -> None:
    # Protected means "only its own link": never local keys, even when asked for them.
    if app == "blog":
        protect_prod(dashboard)
    else:
        edit(dashboard, 'deployment_profile = "shop"\n', 'deployment_profile = "shop"\nprotected_stages = ["prod"]\n')
    with pytest.raises(ConfigError, match="stage 'prod' is protected: use_local_credentials") as info:
        Resolver(dashboard=str(dashboard), use_local_credentials=True).credentials("acme", app, "prod")
    assert (info.value.path, info.value.key) == (str(dashboard), protected_at)
    assert info.value.resolution is not None
    assert [entry.source for entry in info.value.resolution.trail] == ["dashboard"]  # env never consulted
    assert sts.calls["AssumeRole"] == 0


@pytest.mark.parametrize("sources", ["env,profile", "env,dashboard", "profile"])
def test_a_sources_order_without_the_dashboard_first_is_refused_for_a_protected_stage(
    dashboard: Path, sts: StsProxy, prod_keys: None, sources: str
) -> None:
    # SLS_ACCESS_SOURCES=env,profile skips the dashboard as use_local_credentials does:
    # a protected stage still gets only its own link, never the local keys asked first.
    protect_prod(dashboard)
    with pytest.raises(ConfigError, match="stage 'prod' is protected") as info:
        Resolver(dashboard=str(dashboard), sources=sources).credentials("acme", "shop", "prod")
    assert (info.value.path, info.value.key) == (str(dashboard), "orgs.acme.protected_stages")
    assert info.value.resolution is not None
    assert [entry.source for entry in info.value.resolution.trail] == ["dashboard"]  # env never consulted
    assert sts.calls["AssumeRole"] == 0


def test_a_sources_order_without_the_dashboard_still_serves_a_stage_not_protected(
    dashboard: Path, prod_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    protect_prod(dashboard)
    monkeypatch.setenv("AWS_DEV_ACCESS_KEY_ID", "AKIADEVSTAGEKEY00001")
    monkeypatch.setenv("AWS_DEV_SECRET_ACCESS_KEY", "dev-stage-secret-0123456789abcdefghijklm")
    creds = Resolver(dashboard=str(dashboard), sources="env,profile").credentials("acme", "blog", "dev")
    assert creds.access_key_id == "AKIADEVSTAGEKEY00001"


def test_use_local_credentials_still_skips_the_dashboard_for_a_stage_not_protected(
    dashboard: Path, prod_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    protect_prod(dashboard)
    monkeypatch.setenv("AWS_DEV_ACCESS_KEY_ID", "AKIADEVSTAGEKEY00001")
    monkeypatch.setenv("AWS_DEV_SECRET_ACCESS_KEY", "dev-stage-secret-0123456789abcdefghijklm")
    creds = Resolver(dashboard=str(dashboard), use_local_credentials=True).credentials("acme", "blog", "dev")
    assert creds.access_key_id == "AKIADEVSTAGEKEY00001"


def test_use_local_credentials_with_no_dashboard_found_protects_nothing(prod_keys: None) -> None:
    # No dashboard option, project file, login or default file: nothing says prod is protected.
    creds = Resolver(use_local_credentials=True).credentials("acme", "blog", "prod")
    assert creds.access_key_id == STAGE_KEY_ID


def test_an_account_id_that_matches_the_assumed_role_is_accepted(dashboard: Path, sts: StsProxy) -> None:
    pin_prod_account(dashboard)
    arn = caller_arn(Resolver(dashboard=str(dashboard)), "acme", "shop", "prod")
    assert arn.startswith("arn:aws:sts::111111111111:assumed-role/sls-access-prod/")
    assert sts.calls["AssumeRole"] == 1


def test_keys_of_a_role_in_another_account_are_refused(dashboard: Path, sts: StsProxy) -> None:
    # A stub answer: a real STS cannot enter a role in another account than its ARN names;
    # this stands for a wrong endpoint or a tampered answer.
    pin_prod_account(dashboard)
    secret = "other-account-secret-0123456789abcdefghij"
    sts.fault = lambda action: assume_role_answer(OTHER_ACCOUNT_ARN, secret=secret) if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError, match="not in the deployment profile's account 111111111111") as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    assert info.value.deployment_profile == "prod"
    assert secret not in str(info.value)
    assert sts.calls["AssumeRole"] == 1  # the answer's own ARN is checked: no GetCallerIdentity
    assert sts.calls["GetCallerIdentity"] == 0


def test_an_answer_without_the_assumed_role_is_refused_when_an_account_is_pinned(
    dashboard: Path, sts: StsProxy
) -> None:
    # A stub answer: real STS always says which role it entered.
    pin_prod_account(dashboard)
    sts.fault = lambda action: assume_role_answer(None) if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError, match=r"no AssumedRoleUser\.Arn"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")


def test_without_an_account_id_the_assumed_roles_account_is_not_checked(dashboard: Path, sts: StsProxy) -> None:
    # The same stub answer, and no account_id: the keys are taken as before.
    sts.fault = lambda action: assume_role_answer(OTHER_ACCOUNT_ARN) if action == "AssumeRole" else None
    assert (
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod").access_key_id == "ASIAANSWER0000000001"
    )
