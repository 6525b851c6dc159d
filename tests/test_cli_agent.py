"""``sls-access agent run|status|stop``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import AgentProcesses, console_script


def agent_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(console_script()), "agent", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_status_says_no_agent_runs_with_exit_1(agent: AgentProcesses) -> None:
    result = agent_command("status")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"running": False, "socket": str(agent.socket)}
    assert result.stderr == ""


def test_status_describes_the_running_agent(agent: AgentProcesses) -> None:
    proc = agent.run("--idle-timeout", "300")
    result = agent_command("status")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["running"] is True
    assert answer["pid"] == proc.pid
    assert answer["idle_timeout"] == 300
    assert answer["socket"] == str(agent.socket)
    assert (answer["callers"], answer["cached_targets"]) == (0, 0)


def test_stop_stops_the_agent_and_removes_its_socket(agent: AgentProcesses) -> None:
    proc = agent.run()
    result = agent_command("stop")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"stopped the agent (pid {proc.pid})\n"
    assert proc.wait(timeout=30) == 0
    assert not agent.socket.exists()
    assert agent.pid() is None


def test_stop_without_an_agent_is_fine(agent: AgentProcesses) -> None:
    result = agent_command("stop")
    assert (result.returncode, result.stdout) == (0, "no agent is running\n")


def test_run_says_where_it_listens(agent: AgentProcesses) -> None:
    proc = agent.run()
    agent_command("stop")
    proc.wait(timeout=30)
    assert proc.stderr is not None
    assert proc.stderr.read().startswith(
        f"sls-access: agent listening on {agent.socket} (pid {proc.pid}, idle timeout 900 s)"
    )


def test_run_refuses_a_non_positive_idle_timeout(agent: AgentProcesses) -> None:
    result = agent_command("run", "--idle-timeout", "0")
    assert result.returncode == 2
    assert result.stderr == "sls-access: error: --idle-timeout must be a positive number of seconds\n"
    assert not Path(agent.socket).exists()


def test_run_refuses_a_resolution_timeout_out_of_range(agent: AgentProcesses) -> None:
    for value in ("0", "-5", "111"):
        result = agent_command("run", "--resolution-timeout", value)
        assert result.returncode == 2
        assert result.stderr == (
            "sls-access: error: --resolution-timeout must be a number of seconds above 0 and at most 110\n"
        )
    assert not Path(agent.socket).exists()


def test_status_shows_the_resolution_timeout(agent: AgentProcesses) -> None:
    agent.run("--resolution-timeout", "12.5")
    result = agent_command("status")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resolution_timeout"] == 12.5
