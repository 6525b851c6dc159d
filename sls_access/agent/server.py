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

**One resolver per caller fingerprint.** The fingerprint is a SHA-256 of the caller's
environment (less a few shell variables that cannot change a resolution, such as
``PWD`` and ``SHLVL``), its working directory, its option flags and the identity of the
dashboard it would use (:func:`dashboard_identity`). The cache is the resolver's, keyed by
target: two callers whose options, base keys or dashboard differ never share keys.

**Cold resolutions run as the caller.** botocore's default chain (the base credentials
that call AssumeRole), the profile and env sources, plugins and the relative dashboard
path read ``os.environ`` and the working directory, which are process-wide. So a cold
resolution (a miss or a refresh) takes one process-wide lock, replaces ``os.environ``
with the caller's environment and changes to the caller's directory, resolves, and puts
both back. The resolver's botocore session is created on its first cold resolution,
under that environment. Warm reads (the common case) touch neither and take no lock.
The resolution's environment also sets ``SLS_ACCESS_AGENT=off``: a ``credential_process``
that botocore runs for the base credentials must not ask this agent, which is busy with
the lock.

**No caller waits long behind another.** A cold resolution waits at most
:data:`LOCK_WAIT` seconds for the lock; past that the caller is told to resolve
in-process (``{"in_process": true}``: the same inputs, the same answer), so that a slow
caller (a profile whose ``credential_process`` hangs) never holds up an unrelated one.
Each resolution has a deadline (``agent run --resolution-timeout``, default
:data:`DEFAULT_RESOLUTION_TIMEOUT`): when it passes, the processes the resolution
started (only the lock holder starts any) are killed, and that caller gets an error
saying so; its handler stops waiting a few seconds later in any case. A resolution that
fails leaves no process running either (a ``credential_process`` still waited for by an
STS call abandoned at its own deadline). The socket's
listen backlog is :data:`BACKLOG`, and each connection is served on its own thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import signal
import socket
import socketserver
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Self

from sls_access._options import Options
from sls_access._process import environ_as, working_directory
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver
from sls_access._target import Target
from sls_access.agent.protocol import (
    AGENT_VARIABLE,
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
from sls_access.dashboard.file import read_dashboard_bytes
from sls_access.dashboard.locate import DashboardKind, locate_dashboard
from sls_access.dashboard.login import stored_access_key
from sls_access.errors import ConfigError, SlsAccessError

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
DEFAULT_RESOLUTION_TIMEOUT = 45.0
"""Seconds a cold resolution may take before it is stopped.

Under ``AssumeRole``'s own 50 s deadline, whose thread also fetches the base keys: a
profile's ``credential_process`` that hangs there is stopped, and named, by this one
rather than reported as STS not answering.
"""
LOCK_WAIT = 2.0
"""Seconds a cold resolution waits for another caller's to end before its caller resolves in-process."""
BACKLOG = 128
"""The socket's listen backlog: callers that connect at once wait to be accepted, not turned away."""
_GRACE = 5.0  # after the deadline, how long a handler still waits for the resolution's own error

# Set by the shell, not by the caller's intent: two commands run from one shell differ in
# them, and no resolution reads them (the working directory is part of the request).
_VOLATILE = frozenset({"_", "PWD", "OLDPWD", "SHLVL", "COLUMNS", "LINES"})

# os.environ and the working directory are the process's: one cold resolution at a time.
_PROCESS_STATE = threading.Lock()


class AlreadyRunning(Exception):
    """Another agent holds the lock of this socket directory."""


class Busy(Exception):
    """Another caller's cold resolution holds the process state: this caller resolves in-process."""


class ResolutionTimeout(SlsAccessError):
    """A cold resolution ran past the agent's deadline; the processes it started were stopped."""


def _descendants(root: int) -> list[int]:
    """Return the pids of *root*'s children, their children, and so on (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = data[data.rindex(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


class _Watchdog:
    """Kills the processes a cold resolution started once it runs past *timeout* seconds.

    Armed while the resolution holds the process-state lock: only the lock's holder
    starts processes (botocore's ``credential_process``, a plugin's helper), so every
    descendant of the agent then is this resolution's.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = False
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        with self._lock:  # after this, _fire kills nothing: the next lock holder's processes are its own
            if exc_type is not None:
                # A failed resolution leaves nothing running: a call abandoned at its own
                # deadline (AssumeRole's 50 s, whose thread fetches the base keys) may still
                # wait for a credential_process, which would then run on unbounded.
                _kill(_descendants(os.getpid()))
            self._done = True
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            _kill(_descendants(os.getpid()))


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def fingerprint(environ: Mapping[str, str], cwd: str, flags: Mapping[str, object], dashboard: object) -> str:
    """Return the key of a caller's resolver: a SHA-256 of every input a resolution reads."""
    relevant = sorted((name, value) for name, value in environ.items() if name not in _VOLATILE)
    blob = json.dumps([relevant, cwd, sorted(flags.items()), dashboard], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def dashboard_identity(options: Options, environ: Mapping[str, str], cwd: str) -> object:
    """Return which dashboard this caller uses, and which version of it, checked now.

    This is the one place where what depends on the caller's environment and working
    directory is worked out, on every request, warm or cold:
    :func:`~sls_access.dashboard.locate.locate_dashboard` with the caller's directory and
    environment (its ``HOME`` for ``~``, its XDG directories for the ``login`` setting and
    the trust records, its directory for a relative path), so that an untrusted or changed
    project file raises here, before any cached key is served; and the SHA-256 of the
    file's content (a service: its URL and the stored access key's SHA-256), so that an
    edited dashboard file, a new login or a logout is a new cache key at the next call.
    """
    location = locate_dashboard(options, cwd=cwd, environ=environ)
    if location is None:
        return ["none"]
    if location.kind is DashboardKind.SERVICE:
        stored = stored_access_key(location.location, environ)
        return ["url", location.location, None if stored is None else hashlib.sha256(stored.encode()).hexdigest()]
    content = location.content
    if content is None:
        try:
            content = read_dashboard_bytes(Path(location.location))
        except ConfigError:  # the cold resolution gives the error the command would
            return [location.location, str(location.found_by), "unreadable", time.monotonic_ns()]
    return [location.location, str(location.found_by), hashlib.sha256(content).hexdigest()]


@contextlib.contextmanager
def as_process(environ: Mapping[str, str], cwd: str, *, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Run the block with *environ* as ``os.environ`` and *cwd* as the working directory.

    One block at a time in this process (both are process-wide), and never a warm read:
    see the module docstring. :class:`Busy` when another block runs for *wait* seconds more.
    """
    if not _PROCESS_STATE.acquire(timeout=wait):
        raise Busy(f"another caller's resolution has run for over {wait:g} s")
    try:
        with environ_as(environ), working_directory(cwd):
            yield
    finally:
        _PROCESS_STATE.release()


class CallerResolver(Resolver):
    """A resolver whose cold resolutions run as its caller: its environment, its directory.

    Build it with :meth:`~sls_access.Resolver.from_options`, then :meth:`bind` it.
    """

    _environ_for: Callable[[Target], Mapping[str, str]]
    _cwd: str
    _timeout: float

    def bind(self, environ_for: Callable[[Target], Mapping[str, str]], cwd: str, *,
             timeout: float = DEFAULT_RESOLUTION_TIMEOUT) -> Self:
        """Resolve a target with ``environ_for(target)`` as the environment and *cwd* as the directory.

        ``SLS_ACCESS_AGENT=off`` is added: a ``credential_process`` that botocore runs for
        the base credentials must not ask this agent, which waits for it. A resolution
        that runs past *timeout* seconds has its processes killed and raises
        :class:`ResolutionTimeout`; one that cannot start within :data:`LOCK_WAIT`
        raises :class:`Busy`.
        """
        self._environ_for = environ_for
        self._cwd = cwd
        self._timeout = timeout
        return self

    def _resolve(self, target: Target) -> Resolution:
        environ = {**self._environ_for(target), AGENT_VARIABLE: "off"}
        watchdog = _Watchdog(self._timeout)
        try:
            with as_process(environ, self._cwd), watchdog:
                resolution = super()._resolve(target)
        except Exception:
            if not watchdog.fired:
                raise
            resolution = None
        if watchdog.fired:  # whatever the chain made of the killed process: fail closed
            raise ResolutionTimeout(
                f"resolving {target} took longer than the agent's limit of {self._timeout:g} s and was "
                "stopped, with the processes it started (an AWS profile's credential_process, a plugin's "
                "helper); run it with SLS_ACCESS_AGENT=off to see it hang, or raise 'agent run "
                "--resolution-timeout'")
        assert resolution is not None  # noqa: S101 - only a fired watchdog leaves none
        return resolution


Answer = Callable[["Agent", Mapping[str, object]], dict[str, object]]
"""What answers a ``credential-process`` request (:func:`sls_access.cli.credential_process.answer`)."""


class Agent:
    """Answers requests: ``credential-process`` (with *answer*), ``status``, ``stop``.

    Holds one :class:`CallerResolver` per caller fingerprint (:meth:`resolver`).

    :param answer: answers a ``credential-process`` request; the CLI's own steps.
    :param idle_timeout: seconds without a request after which :func:`serve` returns.
    :param resolution_timeout: seconds a cold resolution may take (:class:`CallerResolver`).
    """

    def __init__(self, answer: Answer, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 resolution_timeout: float = DEFAULT_RESOLUTION_TIMEOUT) -> None:
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
        return {"running": True, "pid": os.getpid(), "uid": os.getuid(),
                "started": self.started.isoformat(timespec="seconds"), "idle_timeout": self.idle_timeout,
                "resolution_timeout": self.resolution_timeout,
                "requests": self.requests, "refused": self.refused, "callers": callers, "cached_targets": targets}

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
                return {"code": 1, "stdout": "",
                        "stderr": f"sls-access: error: the agent's resolution did not finish within "
                                  f"{agent.resolution_timeout:g} s\n"}
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

    def verify_request(self, request: socket.socket | tuple[bytes, socket.socket],
                       client_address: object) -> bool:
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


def serve(directory: str, answer: Answer, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, lock_wait: float = 2.0,
          ready: Callable[[str], None] | None = None,
          resolution_timeout: float = DEFAULT_RESOLUTION_TIMEOUT) -> Agent:
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
