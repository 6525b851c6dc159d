"""The agent: one process per user that holds resolvers and their caches in memory.

``sls-access agent run`` (started on demand by ``credential-process``) listens on the
socket of :mod:`sls_access.agent.protocol` and answers ``credential-process`` requests
with the same steps the command runs in-process, for the caller's inputs: its argument
list, its whole environment and its working directory. Keys stay in this process's
memory; nothing is written to disk but the socket and a lock file.

The request carries the caller's *whole* environment, not a list of the variables
sls-access reads: plugins read their own (``sls-access-oidc`` reads whichever variable
``SLS_ACCESS_OIDC_TOKEN_VAR`` names), and a plugin that did not see its variable in the
agent would skip, letting the chain go on to the base keys: another account's keys,
quietly. The steps themselves are the CLI's (:func:`sls_access.cli.credential_process.answer`,
given to :func:`serve`), so that this package does not import the CLI.

Each caller has its resolver, and cold resolutions run as the caller, one at a time and
bounded: see :mod:`sls_access.agent.caller`. A caller that would wait for another's
resolution is told to resolve in-process (``{"in_process": true}``); one whose
resolution overruns gets an error a few seconds after the deadline in any case. The
socket's listen backlog is :data:`BACKLOG`, each connection is served on its own thread,
and a version-2 client hears from the agent every second until its answer is ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import socket
import socketserver
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO

from sls_access.agent.caller import (
    DEFAULT_RESOLUTION_TIMEOUT,
    LOCK_WAIT,
    Busy,
    CallerResolver,
    ResolutionTimeout,
    as_process,
    dashboard_identity,
    fingerprint,
)
from sls_access.agent.protocol import (
    LOCK_NAME,
    PROGRESS_INTERVAL,
    SOCKET_NAME,
    WAIT,
    AgentUnavailable,
    check_base,
    check_peer,
    decode,
    encode,
    peer_uid,
    private_dir,
    read_line,
)

__all__ = [
    "BACKLOG",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_RESOLUTION_TIMEOUT",
    "LOCK_WAIT",
    "Agent",
    "AlreadyRunning",
    "Answer",
    "Busy",
    "CallerResolver",
    "ResolutionTimeout",
    "as_process",
    "dashboard_identity",
    "fingerprint",
    "serve",
]

DEFAULT_IDLE_TIMEOUT = 15 * 60.0
"""Seconds without a request after which the agent exits."""
MAX_CALLERS = 32
"""Distinct caller fingerprints (each a resolver and its cache) held; the least recently used go first."""
BACKLOG = 128
"""The socket's listen backlog: callers that connect at once wait to be accepted, not turned away."""
_GRACE = 5.0  # after the deadline, how long a handler still waits for the resolution's own error


class AlreadyRunning(Exception):
    """Another agent holds the lock of this socket directory."""


Answer = Callable[["Agent", Mapping[str, object]], dict[str, object]]
"""What answers a ``credential-process`` request (:func:`sls_access.cli.credential_process.answer`)."""


class Agent:
    """Answers requests: ``credential-process`` (with *answer*), ``status``, ``stop``.

    Holds one :class:`CallerResolver` per caller fingerprint (:meth:`resolver`).

    :param answer: answers a ``credential-process`` request; the CLI's own steps.
    :param idle_timeout: seconds without a request after which :func:`serve` returns.
    :param resolution_timeout: seconds a cold resolution may take (:class:`CallerResolver`).
    """

    def __init__(
        self,
        answer: Answer,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        resolution_timeout: float = DEFAULT_RESOLUTION_TIMEOUT,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.resolution_timeout = resolution_timeout
        self.started = datetime.now(UTC)
        self.requests = 0
        self.refused = 0
        self.stopping = threading.Event()
        self._answer = answer
        self._lock = threading.Lock()
        self._callers: OrderedDict[str, CallerResolver] = OrderedDict()
        self._active = 0
        self._last = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request ended (0 while one runs)."""
        with self._lock:
            return 0.0 if self._active else time.monotonic() - self._last

    def handle(self, request: Mapping[str, object]) -> dict[str, object]:
        """Answer one request."""
        with self._lock:
            self._active += 1
            self.requests += 1
        try:
            op = request.get("op")
            if op == "credential-process":
                return self._answer(self, request)
            if op == "status":
                return self.status()
            if op == "stop":  # the handler calls stop() once this answer is sent
                return {"stopping": True, "pid": os.getpid()}
            return {"error": f"unknown op {op!r}"}
        finally:
            with self._lock:
                self._active -= 1
                self._last = time.monotonic()

    def stop(self) -> None:
        """Make :func:`serve` return (after a ``stop`` request's answer is sent)."""
        self.stopping.set()

    def status(self) -> dict[str, object]:
        """Return what ``sls-access agent status`` prints: no secret, no caller's input."""
        with self._lock:
            callers = len(self._callers)
            targets = sum(len(resolver._cache) for resolver in self._callers.values())
        return {
            "running": True,
            "pid": os.getpid(),
            "uid": os.getuid(),
            "started": self.started.isoformat(timespec="seconds"),
            "idle_timeout": self.idle_timeout,
            "resolution_timeout": self.resolution_timeout,
            "requests": self.requests,
            "refused": self.refused,
            "callers": callers,
            "cached_targets": targets,
        }

    def count_refused(self) -> None:
        """Count a connection refused by the peer check."""
        with self._lock:
            self.refused += 1

    def resolver(self, key: str, make: Callable[[], CallerResolver]) -> CallerResolver:
        """Return the resolver of fingerprint *key*, made with *make* the first time.

        At most :data:`MAX_CALLERS` are held; the least recently used is dropped, with its cache.
        """
        with self._lock:
            resolver = self._callers.get(key)
            if resolver is not None:
                self._callers.move_to_end(key)
                return resolver
        made = make()  # outside the lock: it may raise (a bad option value)
        with self._lock:
            resolver = self._callers.setdefault(key, made)
            self._callers.move_to_end(key)
            while len(self._callers) > MAX_CALLERS:
                self._callers.popitem(last=False)
            return resolver


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            request = decode(read_line(sock))
        except (OSError, AgentUnavailable):
            return
        agent = self.server.agent
        version = request.get("v")
        answer: dict[str, object] | None
        if request.get("op") != "credential-process" or not isinstance(version, int) or version < 2:
            answer = agent.handle(request)  # at once; or for a client that reads one line only
        else:
            answer = self._with_progress(sock, agent, request)
        if answer is not None:
            with contextlib.suppress(OSError):
                sock.sendall(encode(answer))
        if request.get("op") == "stop":
            agent.stop()

    @staticmethod
    def _with_progress(sock: socket.socket, agent: Agent, request: Mapping[str, object]) -> dict[str, object] | None:
        """Answer on another thread, sending ``wait`` lines meanwhile; None when the client is gone.

        The client hears from a live agent every second; past the resolution's deadline
        (and a grace period for its own error), the caller gets an error, not silence.
        """
        done = threading.Event()
        answers: list[dict[str, object]] = []

        def work() -> None:
            try:
                answers.append(agent.handle(request))
            finally:
                done.set()

        threading.Thread(target=work, name="sls-access-agent-answer", daemon=True).start()
        deadline = time.monotonic() + agent.resolution_timeout + _GRACE
        while not done.wait(PROGRESS_INTERVAL):
            if time.monotonic() > deadline:
                return {
                    "code": 1,
                    "stdout": "",
                    "stderr": f"sls-access: error: the agent's resolution did not finish within "
                    f"{agent.resolution_timeout:g} s\n",
                }
            try:
                sock.sendall(WAIT)
            except OSError:
                return None
        if not answers:  # the answer raised: never the case for the CLI's answer, which returns errors
            return {"code": 1, "stdout": "", "stderr": "sls-access: error: the agent failed to answer\n"}
        return answers[0]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    timeout = 0.5  # handle_request() returns at least this often, for the idle check
    request_queue_size = BACKLOG

    def __init__(self, path: str, agent: Agent) -> None:
        self.agent = agent
        super().__init__(path, _Handler, bind_and_activate=False)

    def server_bind(self) -> None:
        umask = os.umask(0o177)  # the socket is 0600 from its creation
        try:
            super().server_bind()
        finally:
            os.umask(umask)
        os.chmod(str(self.server_address), 0o600)

    def verify_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> bool:
        """Refuse a peer that is not this user (``SO_PEERCRED``): the connection is closed unanswered."""
        assert isinstance(request, socket.socket)  # noqa: S101 - a stream server
        try:
            check_peer(peer_uid(request))
        except (AgentUnavailable, OSError):
            self.agent.count_refused()
            return False
        return True


@contextlib.contextmanager
def _exclusive(directory: str, wait: float) -> Iterator[IO[str]]:
    """Hold the directory's lock file for the block; :class:`AlreadyRunning` when another agent holds it.

    An agent that is exiting holds it until its socket is gone: a new one waits *wait* s for it.
    """
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AlreadyRunning(f"an agent is already running for {directory}") from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield handle
    finally:
        handle.close()


def serve(
    directory: str,
    answer: Answer,
    *,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    lock_wait: float = 2.0,
    ready: Callable[[str], None] | None = None,
    resolution_timeout: float = DEFAULT_RESOLUTION_TIMEOUT,
) -> Agent:
    """Run the agent on ``directory/agent.sock`` until it is stopped or idle; return it.

    *answer* answers ``credential-process`` requests; *ready* is called with the
    socket's path once it listens; *resolution_timeout* bounds each cold resolution.

    Raise :class:`AlreadyRunning` when another agent serves this directory, and
    :class:`~sls_access.agent.protocol.AgentUnavailable` when the directory is not private
    or the directory it is in is not this user's own (:func:`~sls_access.agent.protocol.check_base`).
    """
    check_base(directory)  # nothing is created in a directory that is not this user's
    private_dir(directory, create=True)
    # No core file: it would write the keys this process holds to disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    path = os.path.join(directory, SOCKET_NAME)
    with _exclusive(directory, lock_wait):
        agent = Agent(answer, idle_timeout=idle_timeout, resolution_timeout=resolution_timeout)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead agent's (we hold the lock)
        server = _Server(path, agent)
        try:
            server.server_bind()
            server.server_activate()
            if ready is not None:
                ready(path)
            while not agent.stopping.is_set() and agent.idle_for() < idle_timeout:
                server.handle_request()
        finally:
            # Gone from the directory first: a client that finds no socket starts a new
            # agent, which waits for this one's lock.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            server.server_close()
    return agent
