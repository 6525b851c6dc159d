"""The agent's client: ``credential-process`` asks the agent first, starting it on demand.

Imports the standard library only (and :mod:`~sls_access.agent.protocol`): when the
agent answers, the command costs a Python start and a socket round trip, without
botocore, pluggy or attrs. :func:`credential_process` returns None whenever the agent
cannot be used (switched off, not supported here, not the user's own, not starting in
time, silent for seconds (stopped), busy with another caller's resolution, a broken
answer): the caller then resolves in-process, with the same inputs, so
the answer is the same, only slower; never keys from anywhere else. An answer the agent
gives, including an error, is final: the caller prints it and exits with its code.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time

from sls_access.agent.protocol import (
    PROGRESS_TIMEOUT,
    VERSION,
    AgentUnavailable,
    LineReader,
    agent_enabled,
    check_base,
    check_peer,
    decode,
    encode,
    peer_uid,
    private_dir,
    socket_dir,
    socket_path,
)

TYPE_CHECKING = False  # not typing's: its import costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ANSWER_TIMEOUT", "CONNECT_TIMEOUT", "START_TIMEOUT", "Reply", "ask", "credential_process", "start_agent"]

START_TIMEOUT = 10.0
"""How long a client waits for an agent it started to listen, in seconds."""
CONNECT_TIMEOUT = 2.0
"""How long a client tries to connect while the agent's listen backlog is full, in seconds."""
ANSWER_TIMEOUT = 120.0
"""How long a client waits for an answer in all: more than the agent's own limit on a resolution.

Between two lines (the answer, or the agent's ``wait`` lines sent every second) it waits
:data:`~sls_access.agent.protocol.PROGRESS_TIMEOUT` at most: a stopped agent costs seconds.
"""

# Arguments that the agent does not take: --help prints here, --debug logs the
# resolution to this process's stderr. With them, the command runs in-process.
_IN_PROCESS_FLAGS = frozenset({"-h", "--help", "--debug"})
# Environment variables of the caller that the agent process itself does not need
# (each request brings the caller's own): keys, options, the dashboard access key.
_PRIVATE_PREFIXES = ("AWS_", "SLS_ACCESS_", "SERVERLESS_")


class Reply:
    """What the agent answered for a command: its exit code, stdout and stderr."""

    __slots__ = ("code", "stderr", "stdout")

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:  # the stdout is the keys
        return f"Reply(code={self.code})"


def _connect(path: str, timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            check_peer(peer_uid(sock))  # the agent must be this user's own process
        except BlockingIOError:
            # EAGAIN: the listen backlog is full (many callers at once); it drains in
            # milliseconds unless the agent is stopped, which the deadline bounds.
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        except BaseException:
            sock.close()
            raise
        return sock


def ask(
    request: Mapping[str, object], environ: Mapping[str, str], *, timeout: float = ANSWER_TIMEOUT
) -> dict[str, object]:
    """Send *request* to the running agent and return its answer.

    Raise :class:`~sls_access.agent.protocol.AgentUnavailable` when the directory (or
    the runtime or cache directory it is in) is not this user's own, or the peer is not
    this user's; ``OSError`` (``FileNotFoundError``, ``ConnectionRefusedError``…) when no
    agent listens, ``TimeoutError`` when it sends nothing for
    :data:`~sls_access.agent.protocol.PROGRESS_TIMEOUT` seconds or no answer within *timeout*.
    """
    directory = socket_dir(environ)
    check_base(directory)
    private_dir(directory, create=False)
    deadline = time.monotonic() + timeout
    with _connect(socket_path(environ), min(timeout, CONNECT_TIMEOUT)) as sock:
        sock.settimeout(min(timeout, PROGRESS_TIMEOUT))
        sock.sendall(encode({"v": VERSION, **request}))
        sock.shutdown(socket.SHUT_WR)
        lines = LineReader(sock)
        while True:
            message = decode(lines.line())
            if message.get("wait") is not True:
                return message
            if time.monotonic() > deadline:
                raise TimeoutError(f"the agent did not answer within {timeout:g} s")


def start_agent(environ: Mapping[str, str]) -> None:
    """Start ``sls-access agent run`` in the background, detached (its own session, stdio to /dev/null).

    Two clients may start one each: the agent holds a lock for its whole life, and the
    second one exits at once (see :mod:`sls_access.agent.server`). Its environment is
    the caller's without ``AWS_*``, ``SLS_ACCESS_*`` and ``SERVERLESS_*`` (each request
    brings its own); it runs from ``/`` with ``-P``, so that no directory it was started
    from is on its import path.
    """
    import subprocess  # noqa: PLC0415 - only the client that starts the agent pays for it

    env = {name: value for name, value in environ.items() if not name.startswith(_PRIVATE_PREFIXES)}
    for name in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):  # the agent must find the same socket path
        if name in environ:
            env[name] = environ[name]
    subprocess.Popen(
        [sys.executable, "-P", "-m", "sls_access.cli", "agent", "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        env=env,
        start_new_session=True,
        close_fds=True,
    )


def _ask_or_start(request: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, object]:
    try:
        return ask(request, environ)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED):
            raise
    start_agent(environ)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while True:
        try:
            return ask(request, environ)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def credential_process(argv: list[str], environ: Mapping[str, str]) -> Reply | None:
    """Ask the agent for ``credential-process`` with *argv*; None when the agent cannot be used.

    The request carries the caller's whole environment and working directory: the agent
    resolves with them (see :mod:`sls_access.agent.server`).
    """
    if not agent_enabled(environ) or _IN_PROCESS_FLAGS.intersection(argv):
        return None
    try:
        request = {"op": "credential-process", "argv": list(argv), "env": dict(environ), "cwd": os.getcwd()}
        answer = _ask_or_start(request, environ)
    except (OSError, AgentUnavailable):
        return None
    if answer.get("in_process") is True:  # busy with another caller's resolution: resolve here
        return None
    code, stdout, stderr = answer.get("code"), answer.get("stdout"), answer.get("stderr")
    if not isinstance(code, int) or not isinstance(stdout, str) or not isinstance(stderr, str):
        return None
    return Reply(code, stdout, stderr)
