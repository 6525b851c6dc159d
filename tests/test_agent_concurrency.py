"""No caller stalls the agent: a hung credential_process, a stopped agent, many callers at once.

Real agents and real ``credential-process`` processes (or the client's own function on
threads, to connect two dozen times at the same instant). No timing is asserted: the
order of events is (the other caller is answered while the hung one still waits), and
each wait is bounded by the test's own timeouts.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import AgentProcesses, StsProxy, console_script

from sls_access.agent.client import Reply, credential_process
from sls_access.agent.protocol import VERSION, decode, encode

TARGET = ("--org", "acme", "--app", "shop", "--stage", "prod")
PROD_ROLE = "arn:aws:iam::111111111111:role/sls-access-prod"


def _command(dashboard: Path) -> list[str]:
    return [str(console_script()), "credential-process", *TARGET, "--dashboard", str(dashboard)]


def _sleeps_under(pid: int) -> list[int]:
    """The ``sleep`` processes among *pid*'s children and their children."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            names[int(entry)] = data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace")
            parents[int(entry)] = int(data[data.rindex(b")") + 2 :].split()[1])

    def under(child: int) -> bool:
        while child in parents and child > 1:
            child = parents[child]
            if child == pid:
                return True
        return False

    return [child for child, name in names.items() if name == "sleep" and under(child)]


def _wait_for(condition: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition was not met in time")
        time.sleep(0.05)


def test_a_hung_credential_process_stalls_no_other_caller_and_is_stopped_at_the_deadline(
    agent: AgentProcesses, dashboard: Path, aws_env: Path, sts: StsProxy
) -> None:
    proc = agent.run("--resolution-timeout", "15")
    (aws_env / "aws-config").write_text("[profile slow]\ncredential_process = sleep 300\n")
    slow_env = {
        name: value for name, value in os.environ.items() if name not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    }
    slow_env["AWS_PROFILE"] = "slow"  # its base keys come from a credential_process that hangs
    sleeper = subprocess.Popen(
        _command(dashboard), env=slow_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: _sleeps_under(proc.pid))  # the agent is running the hung credential_process
        other = subprocess.run(_command(dashboard), capture_output=True, text=True, check=False, timeout=120)
        assert sleeper.poll() is None  # the unrelated caller did not wait for the hung one
        assert other.returncode == 0, other.stderr
        assert sts.requests[-1]["RoleArn"] == PROD_ROLE
        out, err = sleeper.communicate(timeout=120)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.communicate()
        leftover = _sleeps_under(proc.pid)  # none unless the test failed: never leave one running
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
    # The hung caller gets its own clear error, from the agent, at the agent's deadline.
    assert sleeper.returncode == 1
    assert out == ""
    assert "took longer than the agent's limit of 15 s" in err
    assert "credential_process" in err
    assert err.count("\n") == 1
    assert leftover == []  # the hung process was stopped, not left behind
    assert sts.calls["AssumeRole"] == 1
    # The agent serves on: the first caller again, warm or cold.
    assert subprocess.run(_command(dashboard), capture_output=True, check=False, timeout=120).returncode == 0


def test_a_stopped_agent_costs_its_callers_seconds_then_they_resolve_in_process(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    assert subprocess.run(_command(dashboard), capture_output=True, check=False, timeout=120).returncode == 0
    pid = agent.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # alive, listening (the kernel accepts), answering nothing
    try:
        # Bounded by this timeout: a client that waited for the answer (120 s) fails here.
        result = subprocess.run(_command(dashboard), capture_output=True, text=True, check=False, timeout=40)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)) == [
        "AccessKeyId",
        "Expiration",
        "SecretAccessKey",
        "SessionToken",
        "Version",
    ]
    assert sts.calls["AssumeRole"] == 2  # the second one in-process: the stopped agent gave nothing


@pytest.mark.parametrize("callers", [24])
def test_two_dozen_callers_at_the_same_instant_are_all_served_by_the_agent(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy, callers: int
) -> None:
    argv = [*TARGET, "--dashboard", str(dashboard)]
    started = subprocess.run(_command(dashboard), capture_output=True, text=True, check=False, timeout=120)
    assert started.returncode == 0, started.stderr  # the agent runs, and holds the keys
    barrier = threading.Barrier(callers)

    def call(_: int) -> Reply | None:
        barrier.wait(timeout=60)
        return credential_process(argv, dict(os.environ))  # None: it could not use the agent

    with ThreadPoolExecutor(callers) as pool:
        replies = list(pool.map(call, range(callers)))
    assert [reply is not None and reply.code for reply in replies] == [0] * callers
    keys = {json.loads(reply.stdout)["AccessKeyId"] for reply in replies if reply is not None}
    assert keys == {json.loads(started.stdout)["AccessKeyId"]}
    assert sts.calls["AssumeRole"] == 1


def test_two_dozen_callers_waiting_on_a_busy_agent_are_all_queued_and_served(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    # Deterministic: the agent accepts nothing while stopped, so all 24 connections wait
    # in the listen backlog at once (with a backlog of 5, the 7th is refused: EAGAIN).
    started = subprocess.run(_command(dashboard), capture_output=True, text=True, check=False, timeout=120)
    assert started.returncode == 0, started.stderr
    pid = agent.pid()
    assert pid is not None
    request = encode(
        {
            "v": VERSION,
            "op": "credential-process",
            "argv": [*TARGET, "--dashboard", str(dashboard)],
            "env": dict(os.environ),
            "cwd": os.getcwd(),
        }
    )
    socks: list[socket.socket] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(24):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.connect(str(agent.socket))  # BlockingIOError when the backlog is full
            sock.sendall(request)
    finally:
        os.kill(pid, signal.SIGCONT)
    answers = []
    for sock in socks:
        with sock:
            sock.settimeout(60)
            sock.shutdown(socket.SHUT_WR)
            received = b"".join(iter(functools.partial(sock.recv, 65536), b""))  # up to the agent's close
            answers.append(decode(received.splitlines()[-1]))  # after any {"wait": true} lines
    assert [answer.get("code") for answer in answers] == [0] * 24
    assert {json.loads(str(answer["stdout"]))["AccessKeyId"] for answer in answers} == {
        json.loads(started.stdout)["AccessKeyId"]
    }
    assert sts.calls["AssumeRole"] == 1
