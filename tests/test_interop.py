"""Real AWS tools use ``sls-access credential-process``: the AWS CLI and botocore's own support.

The AWS CLI (``awscli`` from PyPI) is installed once into its own virtual environment,
so that its pinned botocore never meets ours. It lives in pytest's cache directory
(``.pytest_cache/``, ignored by git) and is reused by later runs.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, cast

import botocore.session
import pytest
from support import StsProxy, console_script, install_aws_cli, sts_error

from sls_access.cli import main

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

PROD_ASSUMED = "arn:aws:sts::111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod"
PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"


@pytest.fixture(scope="session")
def aws_cli(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``aws`` executable of the AWS CLI v1, in a virtual environment of its own."""
    cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    base = cache.mkdir("sls-access-awscli") if cache is not None else tmp_path_factory.mktemp("awscli")
    try:
        return install_aws_cli(base)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def credential_process(dashboard: Path, stage: str = "prod") -> str:
    return shlex.join(
        [
            str(console_script()),
            "credential-process",
            "--org",
            "acme",
            "--app",
            "shop",
            "--stage",
            stage,
            "--dashboard",
            str(dashboard),
        ]
    )


@pytest.fixture
def profile(aws_env: Path, dashboard: Path) -> Path:
    """An AWS config file (AWS_CONFIG_FILE) whose profile ``p`` runs sls-access for acme/shop/prod."""
    config = aws_env / "aws-config"
    config.write_text(f"[profile p]\nregion = us-east-1\ncredential_process = {credential_process(dashboard)}\n")
    return config


def test_the_console_script_is_installed() -> None:
    result = subprocess.run([str(console_script()), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("sls-access ")


@pytest.mark.usefixtures("profile")
def test_aws_cli_gets_the_assumed_role_through_credential_process(aws_cli: Path, sts: StsProxy) -> None:
    result = subprocess.run(
        [str(aws_cli), "sts", "get-caller-identity", "--profile", "p", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == PROD_ASSUMED
    assert identity["Account"] == "111111111111"
    assert sts.calls["AssumeRole"] == 1  # sls-access, for the AWS CLI
    assert sts.calls["GetCallerIdentity"] == 1  # the AWS CLI, with the role's keys


@pytest.mark.usefixtures("profile", "agent")
def test_aws_cli_runs_share_one_assume_role_through_the_agent(aws_cli: Path, sts: StsProxy) -> None:
    for _ in range(3):
        result = subprocess.run(
            [str(aws_cli), "sts", "get-caller-identity", "--profile", "p", "--output", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Arn"] == PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 1  # the agent's, shared by the three runs
    assert sts.calls["GetCallerIdentity"] == 3


@pytest.mark.usefixtures("profile")
def test_aws_cli_fails_closed_with_sls_access_error_line(aws_cli: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    result = subprocess.run(
        [str(aws_cli), "sts", "get-caller-identity", "--profile", "p"], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "sls-access: error: cannot assume access role" in result.stderr
    assert PROD_ROLE in result.stderr
    assert sts.calls["GetCallerIdentity"] == 0  # never fell back to the base keys in the environment


@pytest.mark.usefixtures("profile")
def test_botocore_credential_process_support_in_process(sts: StsProxy) -> None:
    session = botocore.session.Session(profile="p")
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.method == "custom-process"
    identity = cast("STSClient", session.create_client("sts")).get_caller_identity()
    assert identity["Arn"] == PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 1


def test_aws_profile_pointing_at_its_own_credential_process_does_not_loop(
    aws_env: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    # Without base keys, sls-access's own AssumeRole call looks in AWS_PROFILE, which is
    # the profile that runs sls-access: the second level refuses instead of recursing.
    (aws_env / "aws-config").write_text(f"[profile p]\ncredential_process = {credential_process(dashboard)}\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "p")
    result = subprocess.run(shlex.split(credential_process(dashboard)), capture_output=True, text=True, check=False)
    assert result.returncode == 4
    assert result.stdout == ""
    assert "credential_process loop" in result.stderr
    assert result.stderr.count("\n") == 1
    assert sts.calls["AssumeRole"] == 0


def create_access_key(dashboard: Path, org: str = "acme") -> str:
    created = subprocess.run(
        [str(console_script()), "keys", "create", "--dashboard", str(dashboard), "--org", org, "--name", "aws-cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    return created.stdout.splitlines()[-1]


def test_aws_cli_through_the_dashboard_service_with_the_key_in_the_environment(
    request: pytest.FixtureRequest,
    aws_cli: Path,
    aws_env: Path,
    dashboard: Path,
    monkeypatch: pytest.MonkeyPatch,
    sts: StsProxy,
) -> None:
    key = create_access_key(dashboard)
    server = request.getfixturevalue("dashboard_server")
    command = shlex.join(
        [
            str(console_script()),
            "credential-process",
            "--org",
            "acme",
            "--app",
            "shop",
            "--stage",
            "prod",
            "--dashboard",
            server.url,
        ]
    )
    (aws_env / "aws-config").write_text(f"[profile p]\nregion = us-east-1\ncredential_process = {command}\n")
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", key)  # the key is never on a command line
    ok = subprocess.run(
        [str(aws_cli), "sts", "get-caller-identity", "--profile", "p", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["Arn"] == PROD_ASSUMED
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", key[:-4] + "XXXX")
    refused = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    assert refused.returncode == 5
    assert refused.stdout == ""
    assert refused.stderr.startswith("sls-access: error: the dashboard service refused the access key")
    assert key[-12:-4] not in refused.stderr


def test_the_readme_credential_process_example_works(
    aws_env: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("```ini\n", 1)[1].split("```", 1)[0]
    (aws_env / "aws-config").write_text(example.replace("/path/to/sls-access", str(console_script())))
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))  # the process inherits the environment
    session = botocore.session.Session(profile="acme-shop-prod")
    identity = cast("STSClient", session.create_client("sts")).get_caller_identity()
    assert identity["Arn"] == PROD_ASSUMED


# -- the README's profile, without --dashboard: the account never depends on the directory --

README_PROFILE = "acme-shop-prod"
EU_ASSUMED = "arn:aws:sts::333333333333:assumed-role/sls-access-eu/sls-acme.shop.prod"
PLANTED = """
[orgs.acme.deployment_profiles.evil]
role_arn = "arn:aws:iam::999999999999:role/planted"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "evil"
"""


def readme_profile(config: Path, *extra: str) -> None:
    """The README's ``[profile acme-shop-prod]``: no --dashboard, so the dashboard is located."""
    argv = [str(console_script()), "credential-process", "--org", "acme", "--app", "shop", "--stage", "prod", *extra]
    config.write_text(f"[profile {README_PROFILE}]\nregion = us-east-1\ncredential_process = {shlex.join(argv)}\n")


def caller_identity(aws_cli: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(aws_cli), "sts", "get-caller-identity", "--profile", README_PROFILE, "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def acme(tmp_path: Path, dashboard: Path) -> Path:
    """A project directory whose sls-access.toml is the demo dashboard, not yet trusted."""
    directory = tmp_path / "acme"
    (directory / "src" / "handlers").mkdir(parents=True)
    (directory / "sls-access.toml").write_text(dashboard.read_text())
    return directory


def test_the_readme_profile_gives_the_access_role_from_every_directory(
    aws_cli: Path, aws_env: Path, acme: Path, dashboard: Path, sts: StsProxy
) -> None:
    readme_profile(aws_env / "aws-config")
    assert main(["trust", str(acme / "sls-access.toml")]) == 0
    mine = dashboard.with_name("mine.toml")  # the user's own dashboard, linking prod elsewhere
    mine.write_text(
        dashboard.read_text().replace(
            'stages.prod]\ndeployment_profile = "prod"', 'stages.prod]\ndeployment_profile = "eu"'
        )
    )
    assert main(["login", "--dashboard", str(mine)]) == 0
    for cwd, expected in ((acme, PROD_ASSUMED), (acme / "src" / "handlers", PROD_ASSUMED), (Path("/"), EU_ASSUMED)):
        result = caller_identity(aws_cli, cwd)
        assert result.returncode == 0, (cwd, result.stderr)
        assert json.loads(result.stdout)["Arn"] == expected, cwd
    assert sts.calls["AssumeRole"] == 3


def test_the_readme_profile_with_require_role_fails_clearly_where_there_is_no_dashboard(
    aws_cli: Path, aws_env: Path, sts: StsProxy
) -> None:
    readme_profile(aws_env / "aws-config", "--require-role")
    result = caller_identity(aws_cli, Path("/"))
    assert result.returncode != 0
    assert result.stdout == ""
    assert "sls-access: error: no AWS credentials for acme/shop/prod" in result.stderr
    assert "no dashboard (" in result.stderr
    assert sts.calls["GetCallerIdentity"] == 0  # never the base identity


def test_a_planted_project_file_fails_with_the_trust_message(
    aws_cli: Path, aws_env: Path, acme: Path, sts: StsProxy
) -> None:
    readme_profile(aws_env / "aws-config")
    (acme / "sls-access.toml").write_text(PLANTED)
    result = caller_identity(aws_cli, acme / "src")
    assert result.returncode != 0
    assert f"sls-access trust {acme / 'sls-access.toml'}" in result.stderr
    assert sts.calls["AssumeRole"] == 0
    assert sts.calls["GetCallerIdentity"] == 0


def test_a_trusted_project_file_changed_afterwards_fails_again(
    aws_cli: Path, aws_env: Path, acme: Path, sts: StsProxy
) -> None:
    readme_profile(aws_env / "aws-config")
    assert main(["trust", str(acme / "sls-access.toml")]) == 0
    with (acme / "sls-access.toml").open("a") as handle:
        handle.write('\n[orgs.other.deployment_profiles.x]\nrole_arn = "arn:aws:iam::999999999999:role/x"\n')
    result = caller_identity(aws_cli, acme)
    assert result.returncode != 0
    assert "changed since you trusted it" in result.stderr
    assert sts.calls["GetCallerIdentity"] == 0
