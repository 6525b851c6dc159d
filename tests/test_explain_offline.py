"""``explain(offline=True)`` / ``explain --offline``: the plan, with no network call at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import StsProxy, free_port

import sls_access
from sls_access import Outcome, Resolver
from sls_access.cli import main


def test_the_plan_names_the_role_link_and_dashboard_and_calls_nothing(dashboard: Path, sts: StsProxy) -> None:
    plan = Resolver(dashboard=str(dashboard)).explain("acme", "shop", "prod", region="eu-west-1", offline=True)
    assert plan.offline
    assert (plan.source, plan.credentials) == ("dashboard", None)
    (entry,) = plan.trail
    assert entry.outcome is Outcome.PLANNED
    assert "arn:aws:iam::333333333333:role/sls-access-eu" in entry.reason
    assert "'eu'" in entry.reason
    assert "stage+region" in entry.reason
    assert str(dashboard) in entry.reason
    assert sum(sts.calls.values()) == 0


def test_the_plan_shows_the_sources_that_would_not_be_tried(dashboard: Path) -> None:
    plan = sls_access.explain("acme", "shop", "prod", dashboard=str(dashboard), offline=True)
    assert [(source, outcome) for source, outcome, _, _ in plan.rows()] == [
        ("dashboard", "would be used"),
        ("env", "not tried"),
        ("profile", "not tried"),
    ]
    assert str(plan).startswith(
        "acme/shop/prod: offline plan, nothing was asked: credentials would come from dashboard"
    )


def test_without_a_link_the_plan_falls_to_env_keys_without_reading_them_out(dashboard: Path) -> None:
    plan = Resolver(dashboard=str(dashboard)).explain("other", "web", "dev", offline=True)
    assert plan.source == "env"
    assert plan.trail[-1].reason.startswith("would use keys ****")


def test_a_name_slip_is_the_plans_error(dashboard: Path, sts: StsProxy) -> None:
    plan = Resolver(dashboard=str(dashboard)).explain("acmee", "shop", "prod", offline=True)
    assert plan.source is None
    assert plan.error is not None
    assert "did you mean 'acme'?" in str(plan.error)
    assert sum(sts.calls.values()) == 0


def test_a_dashboard_service_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request would fail
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", "sls_000000000000_" + "k" * 43)
    plan = Resolver(dashboard=closed).explain("acme", "shop", "prod", offline=True)
    assert (plan.source, plan.error) == ("dashboard", None)
    assert f"would ask the dashboard service {closed}" in plan.trail[0].reason


def test_an_aws_profile_is_named_but_its_keys_are_not_loaded(home_with_profile: Path) -> None:
    plan = Resolver(sources="profile", profile="deploy").explain("any", "app", "dev", offline=True)
    assert plan.source == "profile"
    assert plan.trail[0].reason.startswith("would use AWS profile 'deploy' (from the profile option")


@pytest.fixture
def home_with_profile(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # A credential_process that would fail loudly if it ran: offline, it must not.
    config = aws_env / "aws-config"
    config.write_text("[profile deploy]\ncredential_process = /bin/false\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def test_the_cli_prints_the_plan_as_json(dashboard: Path, sts: StsProxy, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explain",
            "--org",
            "acme",
            "--app",
            "shop",
            "--stage",
            "prod",
            "--dashboard",
            str(dashboard),
            "--offline",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (data["offline"], data["source"]) == (True, "dashboard")
    assert "arn:aws:iam::111111111111:role/sls-access-prod" in data["trail"][0]["reason"]
    assert sum(sts.calls.values()) == 0
