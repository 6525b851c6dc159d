"""The public API: module functions, options, errors and the trail."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID
from support import StsProxy, sts_error

import sls_access
from sls_access import ConfigError, NoCredentialsError, Outcome, Resolver


def test_public_names_are_exported() -> None:
    for name in (
        "session",
        "boto3_session",
        "credentials",
        "explain",
        "register",
        "Resolver",
        "Target",
        "Credentials",
        "Resolution",
        "SlsAccessError",
        "NoCredentialsError",
        "ConfigError",
        "AccessRoleError",
        "DashboardError",
        "registry",
    ):
        assert name in sls_access.__all__
        assert hasattr(sls_access, name)


def test_no_credentials_error_lists_every_source_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(NoCredentialsError) as info:
        sls_access.credentials("acme", "shop", "prod")
    message = str(info.value)
    assert "no AWS credentials for acme/shop/prod" in message
    assert "dashboard: skipped (no dashboard (" in message
    assert "env: skipped (neither AWS_PROD_ACCESS_KEY_ID nor AWS_ACCESS_KEY_ID is set)" in message
    assert "profile: skipped (no AWS profile named 'default'" in message
    assert [e.outcome for e in info.value.resolution.trail] == [Outcome.SKIPPED] * 3


def test_explain_returns_the_trail_with_the_winner(dashboard: Path) -> None:
    resolution = sls_access.explain("acme", "blog", "dev", dashboard=str(dashboard))
    assert resolution.source == "dashboard"
    assert resolution.region == "us-east-1"
    assert [(e.source, e.outcome) for e in resolution.trail] == [("dashboard", Outcome.USED)]
    assert "acme/blog/dev: credentials from dashboard" in str(resolution)


def test_explain_shows_a_failure_instead_of_raising(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROD_ACCESS_KEY_ID", "AKIAHALF")
    resolution = Resolver(use_local_credentials=True).explain("acme", "shop", "prod")
    assert resolution.credentials is None
    assert resolution.trail[-1].outcome == Outcome.FAILED
    assert "AWS_PROD_SECRET_ACCESS_KEY" in resolution.trail[-1].reason
    assert isinstance(resolution.error, ConfigError)


def test_module_functions_share_a_resolver_per_options(dashboard: Path) -> None:
    first = sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard))
    assert sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard)) is first
    assert sls_access.credentials("acme", "shop", "prod").access_key_id == BASE_KEY_ID


def test_bad_target_names_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        sls_access.credentials("acme", "sh op", "prod")


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        Resolver(dashbord="x")  # type: ignore[call-arg]


def test_bad_boolean_env_var_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLS_ACCESS_USE_LOCAL_CREDENTIALS", "maybe")
    with pytest.raises(ConfigError, match="use_local_credentials"):
        Resolver()


def test_argument_wins_over_environment_variable(monkeypatch: pytest.MonkeyPatch, dashboard: Path) -> None:
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", "/nonexistent.toml")
    monkeypatch.setenv("SLS_ACCESS_SOURCES", "env")
    resolver = Resolver(dashboard=str(dashboard), sources=["dashboard", "env"])
    assert resolver.options.dashboard == str(dashboard)
    assert resolver.chain.names == ("dashboard", "env")


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, sls_access; "
        "assert 'sls_access.sources.dashboard' not in sys.modules; "
        "import logging; assert not logging.getLogger('botocore.parsers').filters"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_functions_see_option_variables_change(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    assert sls_access.credentials("acme", "shop", "prod").source == "dashboard"
    monkeypatch.setenv("SLS_ACCESS_USE_LOCAL_CREDENTIALS", "1")
    assert sls_access.credentials("acme", "shop", "prod").source == "env"


def test_module_functions_accept_unhashable_option_values(dashboard: Path) -> None:
    creds = sls_access.credentials("acme", "shop", "prod", sources=["env"])
    assert creds.source == "env"


# --- require_role: an access role or nothing ------------------------------------------------

NOT_CONSULTED = "not consulted: require_role is set (only an access role may apply)"


def test_require_role_without_a_link_is_no_credentials_and_never_the_env_keys(dashboard: Path) -> None:
    with pytest.raises(NoCredentialsError) as info:
        Resolver(dashboard=str(dashboard), require_role=True).credentials("solo", "web", "dev")
    trail = [(entry.source, entry.outcome, entry.reason) for entry in info.value.resolution.trail]
    assert trail[1:] == [("env", Outcome.SKIPPED, NOT_CONSULTED), ("profile", Outcome.SKIPPED, NOT_CONSULTED)]
    assert trail[0][:2] == ("dashboard", Outcome.SKIPPED)
    assert info.value.resolution.credentials is None  # the base keys in AWS_ACCESS_KEY_ID were there


def test_require_role_from_the_environment_variable(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLS_ACCESS_REQUIRE_ROLE", "true")
    with pytest.raises(NoCredentialsError, match="env: skipped \\(not consulted"):
        sls_access.credentials("other", "web", "dev", dashboard=str(dashboard))


def test_require_role_still_enters_a_linked_role(dashboard: Path) -> None:
    creds = Resolver(dashboard=str(dashboard), require_role=True).credentials("acme", "shop", "prod")
    assert creds.source == "dashboard"
    assert creds.access_key_id != BASE_KEY_ID


def test_str_of_explain_shows_the_cli_tables_rows(dashboard: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sls_access.cli import main  # noqa: PLC0415 - the CLI the text must agree with

    text = str(sls_access.explain("acme", "shop", "prod", dashboard=str(dashboard)))
    assert main(["explain", "--org", "acme", "--app", "shop", "--stage", "prod", "--dashboard", str(dashboard)]) == 0
    printed = capsys.readouterr().out

    def rows_of(table: str) -> list[str]:  # two resolutions: different keys, and expiries a second apart maybe
        return [
            re.sub(r"\*{4}\w{4} until \S+", "**** until …", line)
            for line in table.splitlines()
            if line.startswith(("*", " "))
        ]

    rows = rows_of(text)
    assert rows_of(printed) == rows
    assert any("not tried" in line for line in rows)  # env and profile, after the dashboard applied


def test_str_of_a_failed_explain_says_failed_and_which_error(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "no") if action == "AssumeRole" else None
    text = str(sls_access.explain("acme", "shop", "prod", dashboard=str(dashboard)))
    assert text.splitlines()[0] == "acme/shop/prod: FAILED (AccessRoleError); no credentials"


def test_registry_clear_makes_the_module_functions_resolve_anew(dashboard: Path, sts: StsProxy) -> None:
    # The way out that the "dashboard changed" error names: sls_access.registry.clear().
    first = sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard))
    calls = sts.calls["AssumeRole"]
    assert sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard)) is first
    assert sts.calls["AssumeRole"] == calls

    sls_access.registry.clear()

    again = sls_access.credentials("acme", "shop", "prod", dashboard=str(dashboard))
    assert again is not first
    assert sts.calls["AssumeRole"] == calls + 1
