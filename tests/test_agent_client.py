"""``credential-process`` through the agent: one AssumeRole for many processes, a thin client, fail closed.

Every test runs the installed ``sls-access`` console script in a subprocess, as the AWS
CLI does; the agent it starts on demand is a real detached process (killed after the
test by the ``agent`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import AgentProcesses, StsProxy, console_script, sts_error

TARGET = ("--org", "acme", "--app", "shop", "--stage", "prod")


def credential_process(
    dashboard: Path, *extra: str, env: dict[str, str] | None = None, python_flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    script = [str(console_script())] if not python_flags else [sys.executable, *python_flags, str(console_script())]
    return subprocess.run(
        [*script, "credential-process", *TARGET, "--dashboard", str(dashboard), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=dict(os.environ) if env is None else env,
    )


def test_twenty_runs_cost_one_assume_role(agent: AgentProcesses, dashboard: Path, sts: StsProxy) -> None:
    keys = set()
    for _ in range(20):
        result = credential_process(dashboard)
        assert result.returncode == 0, result.stderr
        keys.add(json.loads(result.stdout)["AccessKeyId"])
    assert sts.calls["AssumeRole"] == 1
    assert len(keys) == 1
    assert agent.pid() is not None  # started on demand, still running


def test_the_agent_answers_the_same_document_as_in_process(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    through_agent = credential_process(dashboard)
    in_process = credential_process(dashboard, env={**os.environ, "SLS_ACCESS_AGENT": "off"})
    assert through_agent.returncode == in_process.returncode == 0
    assert through_agent.stderr == in_process.stderr == ""
    agent_doc, local_doc = json.loads(through_agent.stdout), json.loads(in_process.stdout)
    assert (
        sorted(agent_doc)
        == sorted(local_doc)
        == ["AccessKeyId", "Expiration", "SecretAccessKey", "SessionToken", "Version"]
    )
    assert agent_doc["Version"] == local_doc["Version"] == 1
    assert sts.calls["AssumeRole"] == 2  # one by the agent, one in-process: nothing shared with the agent


def test_the_client_imports_neither_botocore_nor_pluggy_nor_attrs_when_the_agent_answers(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    assert credential_process(dashboard).returncode == 0  # starts the agent, warms it
    result = credential_process(dashboard, python_flags=("-X", "importtime"))
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "sls_access.agent.client" in imported  # the fast path ran (and the list is read right)
    heavy = {name for name in imported if name.split(".")[0] in {"botocore", "pluggy", "attr", "attrs", "cachetools"}}
    assert heavy == set()
    assert "sls_access._resolver" not in imported
    assert sts.calls["AssumeRole"] == 1


def test_an_unusable_agent_directory_means_in_process_with_the_same_answer(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    # A directory that others can enter may hold someone else's socket: never used.
    agent.directory.mkdir(mode=0o755)
    agent.directory.chmod(0o755)
    result = credential_process(dashboard)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)) == [
        "AccessKeyId",
        "Expiration",
        "SecretAccessKey",
        "SessionToken",
        "Version",
    ]
    assert not agent.socket.exists()  # no agent was started
    assert agent.pid() is None
    assert sts.calls["AssumeRole"] == 1


def test_no_agent_with_sls_access_agent_off(agent: AgentProcesses, dashboard: Path, sts: StsProxy) -> None:
    result = credential_process(dashboard, env={**os.environ, "SLS_ACCESS_AGENT": "off"})
    assert result.returncode == 0, result.stderr
    assert not agent.directory.exists()
    assert sts.calls["AssumeRole"] == 1


def test_an_error_from_the_agent_is_printed_with_its_exit_code_and_not_retried_in_process(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    through_agent = credential_process(dashboard)
    assert agent.pid() is not None  # the agent answered
    assert sts.calls["AssumeRole"] == 1  # the agent's try; no second one in-process
    in_process = credential_process(dashboard, env={**os.environ, "SLS_ACCESS_AGENT": "off"})
    assert through_agent.returncode == in_process.returncode == 4
    assert through_agent.stdout == in_process.stdout == ""
    assert through_agent.stderr == in_process.stderr
    assert through_agent.stderr.startswith("sls-access: error: cannot assume access role")
    assert through_agent.stderr.count("\n") == 1


def test_a_usage_error_is_the_same_through_the_agent(agent: AgentProcesses, dashboard: Path) -> None:
    through_agent = credential_process(dashboard, "--region", "not a region")
    in_process = credential_process(
        dashboard, "--region", "not a region", env={**os.environ, "SLS_ACCESS_AGENT": "off"}
    )
    assert through_agent.returncode == in_process.returncode == 2
    assert through_agent.stderr == in_process.stderr
    assert agent.pid() is not None


def test_callers_with_different_base_keys_never_share_keys(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    other = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAOTHERBASEKEY0002"}
    first = json.loads(credential_process(dashboard).stdout)["AccessKeyId"]
    second = json.loads(credential_process(dashboard, env=other).stdout)["AccessKeyId"]
    assert first != second
    assert sts.calls["AssumeRole"] == 2
    # Each caller's keys are cached apart: asking again costs nothing and gives its own.
    assert json.loads(credential_process(dashboard).stdout)["AccessKeyId"] == first
    assert json.loads(credential_process(dashboard, env=other).stdout)["AccessKeyId"] == second
    assert sts.calls["AssumeRole"] == 2


def test_callers_with_different_option_flags_never_share_keys(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    with_role = credential_process(dashboard)
    local = credential_process(dashboard, "--use-local-credentials")
    assert json.loads(local.stdout)["AccessKeyId"] == "AKIABASEKEY000000001"  # the env source: base keys
    assert json.loads(with_role.stdout)["AccessKeyId"] != "AKIABASEKEY000000001"
    assert sts.calls["AssumeRole"] == 1


def test_a_changed_dashboard_file_is_read_again(agent: AgentProcesses, dashboard: Path, sts: StsProxy) -> None:
    assert credential_process(dashboard).returncode == 0
    dashboard.write_text(
        dashboard.read_text().replace(
            '[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "prod"',
            '[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "sandbox"',
        )
    )
    assert credential_process(dashboard).returncode == 0
    assert sts.calls["AssumeRole"] == 2
    assert sts.requests[-1]["RoleArn"] == "arn:aws:iam::222222222222:role/sls-access-sandbox"


def test_a_credential_process_loop_is_refused_through_the_agent_too(
    agent: AgentProcesses, aws_env: Path, dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    # The agent's resolution runs botocore's credential_process for the base keys with
    # SLS_ACCESS_AGENT=off: the inner sls-access refuses the loop in-process, instead of
    # waiting for the agent that waits for it.
    command = f"{console_script()} credential-process {' '.join(TARGET)} --dashboard {dashboard}"
    (aws_env / "aws-config").write_text(f"[profile p]\ncredential_process = {command}\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "p")
    result = credential_process(dashboard)
    assert result.returncode == 4
    assert "credential_process loop" in result.stderr
    assert result.stderr.count("\n") == 1
    assert agent.pid() is not None
    assert sts.calls["AssumeRole"] == 0


def test_two_clients_starting_at_once_start_one_agent_and_one_assume_role(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    argv = [str(console_script()), "credential-process", *TARGET, "--dashboard", str(dashboard)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    assert len({json.loads(out)["AccessKeyId"] for out, _ in outputs}) == 1
    assert sts.calls["AssumeRole"] == 1


def _project_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """credential-process run by a tool in *cwd*, with no --dashboard: the project file decides."""
    return subprocess.run(
        [str(console_script()), "credential-process", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=dict(os.environ),
    )


def test_the_agent_checks_trust_of_the_callers_project_file_on_every_request(
    agent: AgentProcesses, dashboard: Path, tmp_path: Path, sts: StsProxy
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "sls-access.toml").write_bytes(dashboard.read_bytes())
    assert (
        subprocess.run([str(console_script()), "trust"], cwd=project, capture_output=True, check=False).returncode == 0
    )
    warm = _project_run(project / "src", *TARGET, "--require-role")
    assert warm.returncode == 0, warm.stderr
    assert agent.pid() is not None
    # Edited after it was trusted (a git pull, a planted change): the warm agent must not serve its keys.
    (project / "sls-access.toml").write_text(dashboard.read_text().replace("111111111111", "999999999999"))
    changed = _project_run(project / "src", *TARGET, "--require-role")
    assert changed.returncode == 2
    assert changed.stdout == ""
    assert "sls-access trust" in changed.stderr
    assert sts.calls["AssumeRole"] == 1


def test_the_agent_reads_serverless_yml_in_the_callers_directory(
    agent: AgentProcesses, dashboard: Path, tmp_path: Path, sts: StsProxy
) -> None:
    service = tmp_path / "service"
    service.mkdir()
    (service / "serverless.yml").write_text("org: acme\napp: shop\nservice: api\nprovider:\n  stage: prod\n")
    result = _project_run(service, "--dashboard", str(dashboard))
    assert result.returncode == 0, result.stderr
    assert agent.pid() is not None
    assert sts.requests[-1]["RoleArn"] == "arn:aws:iam::111111111111:role/sls-access-prod"
