"""``sls-access aws-config`` and ``credential-process --base-profile``, in-process and with the real AWS CLI."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import StsProxy, console_script
from test_interop import aws_cli

from sls_access.cli import aws_config, build_parser, main

__all__ = ["aws_cli"]  # the fixture, imported from the interop tests

MARKER = "# managed by sls-access aws-config"
PROD_ASSUMED = "arn:aws:sts::111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod"
WRITTEN = ("acme-shop-prod", "acme-shop-prod-eu-west-1", "solo-api-dev")
USER_CONFIG = "# my settings\n[default]\nregion = us-east-1\n\n# work account\n[profile me]\noutput = json\n"
OTHER_DASHBOARD = """
[orgs.beta.deployment_profiles.main]
role_arn = "arn:aws:iam::666666666666:role/beta"

[orgs.beta.apps.site.stages.live]
deployment_profile = "main"
"""
PROFILE_KEY_ID = "AKIAPROFILEBASE00001"

# The generated profiles carry --require-role: the access role or an error, never other keys
# (the exit code 3 when no link applies is checked in test_cli.py).


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(aws_env: Path) -> Path:
    """The AWS config file (AWS_CONFIG_FILE), not yet created."""
    return aws_env / "aws-config"


def sections(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()  # as botocore reads it
    parser.read(path)
    return {name: dict(parser[name]) for name in parser.sections()}


def command(path: Path, profile: str) -> list[str]:
    return shlex.split(sections(path)[f"profile {profile}"]["credential_process"])


# --- what is written --------------------------------------------------------------------


def test_one_profile_per_stage_and_stage_region_link(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    code, out, err = run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert (code, err) == (0, "")
    # acme's app and org defaults name no stage: they give no profile.
    assert sorted(sections(config)) == [f"profile {name}" for name in WRITTEN]
    assert out.splitlines() == [*(f"added profile {name}" for name in WRITTEN), f"wrote {config}"]


def test_every_written_block_has_the_marker_directly_above_it(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    lines = config.read_text().splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("[profile ")]
    assert [lines[i - 1] for i in headers] == [MARKER] * len(WRITTEN)


def test_credential_process_runs_this_sls_access_with_absolute_paths_and_require_role(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", os.path.relpath(dashboard))
    assert command(config, "acme-shop-prod-eu-west-1") == [
        str(console_script()),
        "credential-process",
        "--org",
        "acme",
        "--app",
        "shop",
        "--stage",
        "prod",
        "--region",
        "eu-west-1",
        "--dashboard",
        str(dashboard),
        "--require-role",
    ]


def test_arguments_are_quoted_for_the_aws_clis_shlex_split(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path, tmp_path: Path
) -> None:
    spaced = tmp_path / "my dash's #1.toml"
    spaced.write_text(dashboard.read_text())
    run(capsys, "aws-config", "--dashboard", str(spaced))
    assert command(config, "solo-api-dev")[-3:] == ["--dashboard", str(spaced), "--require-role"]


def test_region_is_the_deployment_profiles_when_it_has_one(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    written = sections(config)
    assert written["profile acme-shop-prod-eu-west-1"].get("region") == "eu-west-1"
    assert "region" not in written["profile acme-shop-prod"]  # the "prod" deployment profile has none


def test_prefix_goes_before_every_profile_name(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard), "--prefix", "sls-")
    assert sorted(sections(config)) == [f"profile sls-{name}" for name in WRITTEN]


def test_base_profile_is_passed_on_to_credential_process(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard), "--base-profile", "base")
    assert command(config, "solo-api-dev")[-5:] == [
        "--dashboard",
        str(dashboard),
        "--base-profile",
        "base",
        "--require-role",
    ]


def test_org_and_app_filters_pick_the_targets(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard), "--org", "acme", "--app", "shop")
    assert sorted(sections(config)) == ["profile acme-shop-prod", "profile acme-shop-prod-eu-west-1"]


def test_dashboard_comes_from_sls_access_dashboard(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", str(dashboard))
    code, _, _ = run(capsys, "aws-config")
    assert code == 0
    assert sorted(sections(config)) == [f"profile {name}" for name in WRITTEN]


# --- editing an existing file -------------------------------------------------------------


def test_a_second_run_changes_nothing_and_says_up_to_date(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    config.write_text(USER_CONFIG)
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    before = config.read_bytes(), config.stat().st_ino
    code, out, err = run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert (code, err) == (0, "")
    assert out == f"{config} is up to date (3 sls-access profiles)\n"
    assert (config.read_bytes(), config.stat().st_ino) == before  # not even rewritten


def test_the_users_text_is_kept_byte_for_byte(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    config.write_text(USER_CONFIG)
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert config.read_text().startswith(USER_CONFIG + "\n" + MARKER + "\n")


def test_a_users_profile_with_a_wanted_name_is_an_error_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    mine = USER_CONFIG + "\n[profile acme-shop-prod]\nregion = eu-central-1\n"
    config.write_text(mine)
    code, out, err = run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert (code, out) == (2, "")
    assert err.startswith("sls-access: error: the AWS config file already has profile(s) acme-shop-prod without")
    assert err.count("\n") == 1
    assert config.read_text() == mine


def test_a_block_whose_link_is_gone_is_removed(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    config.write_text(USER_CONFIG)
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    dashboard.write_text(
        dashboard.read_text().replace('[orgs.solo.apps.api.stages.dev]\ndeployment_profile = "only"\n', "")
    )
    code, out, _ = run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert code == 0
    assert out.splitlines() == ["removed profile solo-api-dev", f"wrote {config}"]
    assert sorted(sections(config)) == [
        "default",
        "profile acme-shop-prod",
        "profile acme-shop-prod-eu-west-1",
        "profile me",
    ]


def test_a_changed_link_rewrites_its_block_in_place(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    config.write_text(config.read_text() + "\n[profile me]\noutput = json\n")
    dashboard.write_text(
        dashboard.read_text().replace(
            'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"',
            'role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"\nregion = "us-west-2"',
        )
    )
    code, out, _ = run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert code == 0
    assert out.splitlines() == ["updated profile acme-shop-prod", f"wrote {config}"]
    assert next(iter(sections(config))) == "profile acme-shop-prod"  # where it was
    assert sections(config)["profile acme-shop-prod"]["region"] == "us-west-2"


def test_blocks_written_for_another_dashboard_file_are_left_alone(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(textwrap.dedent(OTHER_DASHBOARD))
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    run(capsys, "aws-config", "--dashboard", str(other))
    assert sorted(sections(config)) == sorted([*(f"profile {name}" for name in WRITTEN), "profile beta-site-live"])


def test_an_org_filter_leaves_the_other_orgs_blocks_alone(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    code, out, _ = run(capsys, "aws-config", "--dashboard", str(dashboard), "--org", "acme")
    assert code == 0
    assert out == f"{config} is up to date (2 sls-access profiles)\n"


def test_a_marked_block_of_another_prefix_is_left_alone(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard), "--prefix", "work-")
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert len(sections(config)) == 2 * len(WRITTEN)


def test_dry_run_prints_a_unified_diff_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    config.write_text(USER_CONFIG)
    code, out, err = run(capsys, "aws-config", "--dashboard", str(dashboard), "--dry-run")
    assert (code, err) == (0, "")
    assert out.startswith(f"--- {config}\n+++ {config} (new)\n@@ ")
    assert "+[profile acme-shop-prod]\n" in out
    assert config.read_text() == USER_CONFIG


# --- the file itself ----------------------------------------------------------------------


def test_a_new_file_is_readable_by_its_owner_only(
    capsys: pytest.CaptureFixture[str], aws_env: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = aws_env / ".aws" / "config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_an_existing_files_mode_is_kept(capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path) -> None:
    config.write_text(USER_CONFIG)
    config.chmod(0o640)
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert stat.S_IMODE(config.stat().st_mode) == 0o640


def test_the_file_is_replaced_whole_and_no_temporary_file_is_left(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    config.write_text(USER_CONFIG)
    inode = config.stat().st_ino
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert config.stat().st_ino != inode  # os.replace of a new file, not a write into the old one
    assert sorted(p.name for p in config.parent.iterdir() if p.name.startswith(".aws-config")) == []


def test_a_symlinked_config_file_stays_a_symlink(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path, tmp_path: Path
) -> None:
    real = tmp_path / "dotfiles-aws-config"
    real.write_text(USER_CONFIG)
    config.symlink_to(real)
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    assert config.is_symlink()
    assert "[profile solo-api-dev]" in real.read_text()


# --- refusals ------------------------------------------------------------------------------


def test_a_dashboard_service_url_is_refused(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "aws-config", "--dashboard", "https://dashboard.example.com")
    assert (code, out) == (2, "")
    assert "needs a local dashboard file" in err
    assert not config.exists()


def test_a_project_file_is_written_only_when_named_with_dashboard(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    project = Path.cwd() / "sls-access.toml"
    project.write_text(dashboard.read_text())
    assert main(["trust"]) == 0
    code, _, err = run(capsys, "aws-config")
    assert code == 2
    assert f"give --dashboard {project}" in err  # its later versions would be used without trust
    assert not config.exists()


def test_the_login_dashboard_is_the_default(capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path) -> None:
    assert main(["login", "--dashboard", str(dashboard)]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "aws-config")
    assert (code, err) == (0, "")
    assert command(config, "acme-shop-prod")[-3:] == ["--dashboard", str(dashboard), "--require-role"]


def test_an_org_not_in_the_dashboard_file_is_an_error(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    code, _, err = run(capsys, "aws-config", "--dashboard", str(dashboard), "--org", "acmee")
    assert code == 2
    assert "org 'acmee' is not in the dashboard file" in err
    assert not config.exists()


def test_a_base_profile_that_is_a_written_profile_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path, dashboard: Path
) -> None:
    code, _, err = run(capsys, "aws-config", "--dashboard", str(dashboard), "--base-profile", "solo-api-dev")
    assert code == 2
    assert "would call itself" in err
    assert not config.exists()


def test_aws_config_flags_are_documented() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "### `aws-config`" in reference
    flags = [
        flag
        for action in subparsers.choices["aws-config"]._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    ]
    assert [flag for flag in flags if f"`{flag}" not in reference] == []
    assert f"`{aws_config.MARKER}`" in reference


# --- credential-process --base-profile ------------------------------------------------------

# A base profile whose credential_process leaves a mark: proof that botocore's chain went
# to the profile for the caller of AssumeRole (the environment keys would have come first).
BASE_PROCESS = f"""
import json, pathlib, sys
pathlib.Path(sys.argv[1]).write_text("used")
print(json.dumps({{"Version": 1, "AccessKeyId": "{PROFILE_KEY_ID}", "SecretAccessKey": "profile-base-secret"}}))
"""


@pytest.fixture
def base_profile(aws_env: Path, tmp_path: Path) -> Path:
    """Profile ``base`` in the AWS config file, whose keys come from a process that leaves a mark; the mark."""
    script = tmp_path / "base_process.py"
    script.write_text(BASE_PROCESS)
    mark = tmp_path / "base-used"
    process = shlex.join([sys.executable, str(script), str(mark)])
    (aws_env / "aws-config").write_text(f"[profile base]\ncredential_process = {process}\n")
    return mark


def test_base_profile_gives_the_caller_instead_of_the_environment_keys(
    capsys: pytest.CaptureFixture[str], dashboard: Path, base_profile: Path, sts: StsProxy
) -> None:
    code, out, err = run(
        capsys,
        "credential-process",
        "--org",
        "acme",
        "--app",
        "shop",
        "--stage",
        "prod",
        "--dashboard",
        str(dashboard),
        "--base-profile",
        "base",
    )
    assert (code, err) == (0, "")
    assert json.loads(out)["AccessKeyId"] in sts.issued  # the role's keys
    assert base_profile.read_text() == "used"


def test_base_profile_puts_the_environment_back(
    capsys: pytest.CaptureFixture[str], dashboard: Path, base_profile: Path
) -> None:
    before = dict(os.environ)
    run(
        capsys,
        "credential-process",
        "--org",
        "acme",
        "--app",
        "shop",
        "--stage",
        "prod",
        "--dashboard",
        str(dashboard),
        "--base-profile",
        "base",
    )
    assert dict(os.environ) == before


def test_without_base_profile_the_environment_keys_are_the_caller(
    capsys: pytest.CaptureFixture[str],
    dashboard: Path,
    base_profile: Path,
    sts: StsProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "base")  # what --base-profile alone cannot beat without removing the keys
    code, _, _ = run(
        capsys, "credential-process", "--org", "acme", "--app", "shop", "--stage", "prod", "--dashboard", str(dashboard)
    )
    assert code == 0
    assert not base_profile.exists()


# --- with the real AWS CLI ------------------------------------------------------------------


@pytest.fixture
def base_keys_in_a_profile(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Move the base keys from the environment to profile ``base`` of the shared credentials file."""
    (aws_env / "aws-credentials").write_text(
        f"[base]\naws_access_key_id = {os.environ['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    return "base"


def aws(aws_cli: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(aws_cli), *argv, "--output", "json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_aws_profile_works_with_the_aws_cli_and_base_profile(
    capsys: pytest.CaptureFixture[str], aws_cli: Path, dashboard: Path, base_keys_in_a_profile: str, sts: StsProxy
) -> None:
    run(capsys, "aws-config", "--dashboard", str(dashboard), "--base-profile", base_keys_in_a_profile)
    result = aws(aws_cli, "sts", "get-caller-identity", AWS_PROFILE="acme-shop-prod")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 1


def test_aws_cli_profile_flag_works_with_base_keys_in_the_environment(
    capsys: pytest.CaptureFixture[str], aws_cli: Path, dashboard: Path, sts: StsProxy
) -> None:
    # --profile (not AWS_PROFILE) takes the environment keys out of the AWS CLI's chain;
    # sls-access, run by the profile, still finds them as its base keys.
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    result = aws(aws_cli, "sts", "get-caller-identity", "--profile", "acme-shop-prod")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == PROD_ASSUMED


def test_environment_keys_beat_aws_profile_in_the_aws_cli(
    capsys: pytest.CaptureFixture[str], aws_cli: Path, dashboard: Path, sts: StsProxy
) -> None:
    # What the how-to warns about: the env provider comes before the shared-config one, so
    # AWS_PROFILE=acme-shop-prod is ignored while AWS_ACCESS_KEY_ID is set.
    run(capsys, "aws-config", "--dashboard", str(dashboard))
    result = aws(aws_cli, "sts", "get-caller-identity", AWS_PROFILE="acme-shop-prod")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] != PROD_ASSUMED
    assert sts.calls["AssumeRole"] == 0
