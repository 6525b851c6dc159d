"""The agent resolves the dashboard as its caller would: the caller's HOME, XDG directories and cwd.

The agent here is a real process started with a HOME of its own and ``/`` as its
directory (as ``credential-process`` starts it); the callers have another HOME and no
``XDG_CONFIG_HOME``/``XDG_STATE_HOME``, so that ``~/.config`` and ``~/.local/state`` are
theirs. Each test checks that the agent, not an in-process fallback, answered.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import BASE_KEY_ID
from support import AgentProcesses, StsProxy, console_script

TARGET = ("--org", "acme", "--app", "shop", "--stage", "prod")
PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"
SANDBOX_ROLE = "arn:aws:iam::222222222222:role/sls-access-sandbox"


def _points_prod_at_sandbox(text: str) -> str:
    """The dashboard *text* with stage prod linked to the sandbox profile (account 222)."""
    old = '[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "prod"'
    assert old in text
    return text.replace(old, '[orgs.acme.apps.shop.stages.prod]\ndeployment_profile = "sandbox"')


@pytest.fixture
def caller_env(aws_env: Path) -> dict[str, str]:
    """The caller's environment: its HOME (the test's), the XDG defaults under it."""
    env = dict(os.environ)
    env.pop("XDG_CONFIG_HOME")
    env.pop("XDG_STATE_HOME")
    return env


@pytest.fixture
def own_agent(agent: AgentProcesses, caller_env: dict[str, str], tmp_path: Path) -> AgentProcesses:
    """A running agent with a HOME of its own (no login, no trust records) and ``/`` as its directory."""
    agent_home = tmp_path / "agent-home"
    agent_home.mkdir()
    proc = subprocess.Popen(
        [str(console_script()), "agent", "run"],
        cwd="/",
        env={**caller_env, "HOME": str(agent_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    agent.started.append(proc)
    agent.wait_listening(proc)
    return agent


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(console_script()), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def _requests(env: dict[str, str]) -> int:
    """How many requests the running agent has answered (``agent status`` counts itself)."""
    result = _run(["agent", "status"], env)
    assert result.returncode == 0, result.stderr
    return int(json.loads(result.stdout)["requests"])


def test_a_login_dashboard_edited_and_a_logout_are_seen_at_the_next_call(
    own_agent: AgentProcesses, caller_env: dict[str, str], dashboard: Path, sts: StsProxy
) -> None:
    assert _run(["login", "--dashboard", str(dashboard)], caller_env).returncode == 0
    first = _run(["credential-process", *TARGET], caller_env)
    assert first.returncode == 0, first.stderr
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE
    # The file now points prod at account 222: the next call enters that role, not the cached 111 keys.
    dashboard.write_text(_points_prod_at_sandbox(dashboard.read_text()))
    second = _run(["credential-process", *TARGET], caller_env)
    assert second.returncode == 0, second.stderr
    assert sts.calls["AssumeRole"] == 2
    assert sts.requests[-1]["RoleArn"] == SANDBOX_ROLE
    assert json.loads(second.stdout)["AccessKeyId"] != json.loads(first.stdout)["AccessKeyId"]
    # After logout there is no dashboard: the chain goes on to the base keys, as in-process.
    assert _run(["logout"], caller_env).returncode == 0
    third = _run(["credential-process", *TARGET], caller_env)
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["AccessKeyId"] == BASE_KEY_ID
    assert sts.calls["AssumeRole"] == 2
    assert _requests(caller_env) == 4  # three answers and the status: none fell back to in-process


def test_a_relative_dashboard_is_the_one_under_the_callers_directory_not_under_the_agents(
    own_agent: AgentProcesses, caller_env: dict[str, str], dashboard: Path, tmp_path: Path, sts: StsProxy
) -> None:
    # The same relative path exists under the agent's directory, / (anyone can write
    # under /tmp): it must be neither used nor watched.
    decoy = own_agent.directory.parent / "decoy" / "dashboard.toml"
    decoy.parent.mkdir()
    decoy.write_text(_points_prod_at_sandbox(dashboard.read_text()))
    relative = os.path.relpath(decoy, "/")
    project = tmp_path / "project"
    mine = project / relative
    mine.parent.mkdir(parents=True)
    mine.write_text(dashboard.read_text())
    first = _run(["credential-process", *TARGET, "--dashboard", relative], caller_env, cwd=project)
    assert first.returncode == 0, first.stderr
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE
    mine.write_text(_points_prod_at_sandbox(mine.read_text()))  # the caller's file changes, not the decoy
    second = _run(["credential-process", *TARGET, "--dashboard", relative], caller_env, cwd=project)
    assert second.returncode == 0, second.stderr
    assert sts.requests[-1]["RoleArn"] == SANDBOX_ROLE
    assert sts.calls["AssumeRole"] == 2
    assert _requests(caller_env) == 3


def test_tilde_and_trust_records_are_the_callers(
    own_agent: AgentProcesses, caller_env: dict[str, str], dashboard: Path, aws_env: Path, tmp_path: Path, sts: StsProxy
) -> None:
    # A profile's credential_process line is not expanded by a shell: the agent sees "~/...".
    (aws_env / "mine.toml").write_text(dashboard.read_text())
    tilde = _run(["credential-process", *TARGET, "--dashboard", "~/mine.toml"], caller_env)
    assert tilde.returncode == 0, tilde.stderr
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE
    # A project file the caller trusted: the record is under the caller's ~/.local/state.
    project = tmp_path / "project"
    project.mkdir()
    (project / "sls-access.toml").write_text(_points_prod_at_sandbox(dashboard.read_text()))
    assert _run(["trust"], caller_env, cwd=project).returncode == 0
    assert (aws_env / ".local" / "state" / "sls-access" / "trusted.json").is_file()
    trusted = _run(["credential-process", *TARGET], caller_env, cwd=project)
    assert trusted.returncode == 0, trusted.stderr
    assert sts.requests[-1]["RoleArn"] == SANDBOX_ROLE
    assert _requests(caller_env) == 3


def test_an_edit_that_keeps_the_files_size_and_mtime_is_seen(
    agent: AgentProcesses, caller_env: dict[str, str], dashboard: Path, sts: StsProxy
) -> None:
    # The version of the file is its content, not its stat: a same-size edit within the
    # clock's granularity (or with the mtime put back) is a new version all the same.
    args = ["credential-process", *TARGET, "--dashboard", str(dashboard)]
    assert _run(args, caller_env).returncode == 0
    assert sts.requests[-1]["RoleArn"] == PROD_ROLE
    before = dashboard.stat()
    dashboard.write_text(dashboard.read_text().replace("111111111111", "999999999999"))
    os.utime(dashboard, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dashboard.stat().st_size == before.st_size
    again = _run(args, caller_env)
    assert again.returncode == 0, again.stderr
    assert sts.requests[-1]["RoleArn"] == "arn:aws:iam::999999999999:role/sls-access-prod"
    assert _requests(caller_env) == 3
