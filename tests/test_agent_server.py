"""The agent process: its socket and directory, the peer check, per-caller caches, idle exit, no keys on disk."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from support import AgentProcesses, StsProxy, console_script

from sls_access.agent import protocol
from sls_access.agent.caller import fingerprint

TARGET = ("--org", "acme", "--app", "shop", "--stage", "prod")


def status() -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [str(console_script()), "agent", "status"], capture_output=True, text=True, check=False, timeout=60
    )
    return result.returncode, json.loads(result.stdout)


def credential_process(dashboard: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    result = subprocess.run(
        [str(console_script()), "credential-process", *TARGET, "--dashboard", str(dashboard)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    document: dict[str, str] = json.loads(result.stdout)
    return document


def test_the_socket_is_0600_in_a_0700_directory(agent: AgentProcesses) -> None:
    agent.run()
    assert stat.S_IMODE(agent.directory.stat().st_mode) == 0o700
    info = agent.socket.lstat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()


def test_the_agent_tightens_its_own_directory_when_it_is_open(agent: AgentProcesses) -> None:
    agent.directory.mkdir(mode=0o755)
    agent.directory.chmod(0o755)
    agent.run()
    assert stat.S_IMODE(agent.directory.stat().st_mode) == 0o700


def test_the_peer_check_refuses_another_uid() -> None:
    # A stub for what a real peer of another uid gives (see the next test for a real one,
    # which needs root): the uid SO_PEERCRED reports, checked against this user's.
    protocol.check_peer(os.getuid())
    with pytest.raises(protocol.AgentUnavailable, match="uid 12345, not as this user"):
        protocol.check_peer(12345, own=1000)


@pytest.mark.skipif(
    os.getuid() != 0, reason="needs root to run a client as another user (the stub test above covers the check itself)"
)
def test_a_client_of_another_uid_is_refused_by_a_real_agent(agent: AgentProcesses) -> None:
    agent.run()
    # Open the file system's door, so that only the agent's SO_PEERCRED check stands.
    agent.directory.parent.chmod(0o711)
    agent.directory.chmod(0o711)
    agent.socket.chmod(0o666)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() in a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: become nobody, ask the agent, report what came back
        answer = b"failed"
        try:
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(agent.socket))
                sock.sendall(b'{"v": 1, "op": "status"}\n')
                answer = b"answer:" + sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            answer = b"answer:"  # closed before the request was read, or unanswered
        except BaseException as exc:
            answer = repr(exc).encode()
        finally:
            os.write(write_end, answer)
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"answer:"  # connected as nobody, closed unanswered
    agent.directory.chmod(0o700)  # this user's client uses a private directory only
    code, state = status()
    assert code == 0
    assert state["refused"] == 1


def test_the_client_refuses_a_directory_that_others_can_enter(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    with pytest.raises(protocol.AgentUnavailable, match="open to other users"):
        protocol.private_dir(str(open_dir), create=False)


def test_the_fingerprint_follows_base_keys_options_cwd_and_dashboard_but_not_shell_bookkeeping() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIA1", "HOME": "/home/me", "PWD": "/a", "SHLVL": "1"}
    base = fingerprint(env, "/work", {"profile": None}, ["/d.toml", 1, 2, 3, 4])
    assert (
        fingerprint(
            {**env, "PWD": "/b", "SHLVL": "2", "_": "/usr/bin/aws"}, "/work", {"profile": None}, ["/d.toml", 1, 2, 3, 4]
        )
        == base
    )
    assert (
        fingerprint({**env, "AWS_ACCESS_KEY_ID": "AKIA2"}, "/work", {"profile": None}, ["/d.toml", 1, 2, 3, 4]) != base
    )
    assert fingerprint(env, "/elsewhere", {"profile": None}, ["/d.toml", 1, 2, 3, 4]) != base
    assert fingerprint(env, "/work", {"profile": "p"}, ["/d.toml", 1, 2, 3, 4]) != base
    assert fingerprint(env, "/work", {"profile": None}, ["/d.toml", 1, 2, 3, 5]) != base


def test_two_agents_for_one_directory_one_serves(agent: AgentProcesses) -> None:
    first = agent.run()
    second = subprocess.run(
        [str(console_script()), "agent", "run"], capture_output=True, text=True, check=False, timeout=60
    )
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert first.poll() is None
    assert agent.pid() == first.pid


def test_the_agent_exits_when_idle(agent: AgentProcesses) -> None:
    proc = agent.run("--idle-timeout", "1")
    assert proc.wait(timeout=30) == 0
    assert not agent.socket.exists()
    assert agent.pid() is None


def test_a_request_keeps_the_agent_from_idling_out(agent: AgentProcesses, dashboard: Path) -> None:
    proc = agent.run("--idle-timeout", "2")
    for _ in range(3):
        time.sleep(1)
        credential_process(dashboard)
    assert proc.poll() is None
    assert proc.wait(timeout=30) == 0


def test_the_agent_counts_callers_and_cached_targets_and_shows_no_secret(
    agent: AgentProcesses, dashboard: Path, sts: StsProxy
) -> None:
    document = credential_process(dashboard)
    credential_process(dashboard, env={**os.environ, "AWS_ACCESS_KEY_ID": "AKIAOTHERBASEKEY0002"})
    code, answer = status()
    assert code == 0
    assert (answer["callers"], answer["cached_targets"]) == (2, 2)
    assert sts.calls["AssumeRole"] == 2
    shown = json.dumps(answer)
    for secret in (document["SecretAccessKey"], document["SessionToken"], os.environ["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in shown


def test_keys_are_never_written_to_disk(agent: AgentProcesses, dashboard: Path, aws_env: Path, sts: StsProxy) -> None:
    document = credential_process(dashboard)
    credential_process(dashboard)
    assert sts.calls["AssumeRole"] == 1
    secrets = [document["SecretAccessKey"].encode(), document["SessionToken"].encode()]
    # Everything the agent or the client could write to: its directory, HOME, XDG dirs, the working directory.
    roots = [agent.directory.parent, aws_env.parent, Path.cwd()]
    files = [path for root in roots for path in root.rglob("*") if path.is_file()]
    assert {path.name for path in agent.directory.iterdir()} == {"agent.lock", "agent.sock"}
    assert files, "nothing scanned"
    leaked = [path for path in files if any(secret in path.read_bytes() for secret in secrets)]
    assert leaked == []
