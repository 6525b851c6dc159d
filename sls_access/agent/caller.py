"""Resolving as the caller: its fingerprint, its dashboard, its environment and directory, bounded.

**One resolver per caller fingerprint.** The fingerprint is a SHA-256 of the caller's
environment (less a few shell variables that cannot change a resolution, such as
``PWD`` and ``SHLVL``), its working directory, its option flags and the identity of the
dashboard it would use (:func:`dashboard_identity`, worked out as the caller would: its
``HOME``, its XDG directories, its directory). The cache is the resolver's, keyed by
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
:data:`LOCK_WAIT` seconds for the lock, then raises :class:`Busy`: its caller is told to
resolve in-process (the same inputs, the same answer), so that a slow caller (a profile
whose ``credential_process`` hangs) never holds up an unrelated one. Each resolution has
a deadline (``agent run --resolution-timeout``, default :data:`DEFAULT_RESOLUTION_TIMEOUT`):
when it passes, the processes it started are killed (:mod:`sls_access.agent.reaper`) and
it raises :class:`ResolutionTimeout`. A resolution that fails leaves no process running
either (a ``credential_process`` still waited for by an STS call abandoned at its own
deadline).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Self

from sls_access._options import Options
from sls_access._process import environ_as, working_directory
from sls_access._resolution import Resolution
from sls_access._resolver import Resolver
from sls_access._target import Target
from sls_access.agent.protocol import AGENT_VARIABLE
from sls_access.agent.reaper import Watchdog
from sls_access.dashboard.file import read_dashboard_bytes
from sls_access.dashboard.locate import DashboardKind, locate_dashboard
from sls_access.dashboard.login import stored_access_key
from sls_access.errors import ConfigError, SlsAccessError

__all__ = [
    "DEFAULT_RESOLUTION_TIMEOUT",
    "LOCK_WAIT",
    "Busy",
    "CallerResolver",
    "ResolutionTimeout",
    "as_process",
    "dashboard_identity",
    "fingerprint",
]

DEFAULT_RESOLUTION_TIMEOUT = 45.0
"""Seconds a cold resolution may take before it is stopped.

Under ``AssumeRole``'s own 50 s deadline, whose thread also fetches the base keys: a
profile's ``credential_process`` that hangs there is stopped, and named, by this one
rather than reported as STS not answering.
"""
LOCK_WAIT = 2.0
"""Seconds a cold resolution waits for another caller's to end before its caller resolves in-process."""

# Set by the shell, not by the caller's intent: two commands run from one shell differ in
# them, and no resolution reads them (the working directory is part of the request).
_VOLATILE = frozenset({"_", "PWD", "OLDPWD", "SHLVL", "COLUMNS", "LINES"})

# os.environ and the working directory are the process's: one cold resolution at a time.
_PROCESS_STATE = threading.Lock()


class Busy(Exception):
    """Another caller's cold resolution holds the process state: this caller resolves in-process."""


class ResolutionTimeout(SlsAccessError):
    """A cold resolution ran past the agent's deadline; the processes it started were stopped."""


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

    def bind(
        self,
        environ_for: Callable[[Target], Mapping[str, str]],
        cwd: str,
        *,
        timeout: float = DEFAULT_RESOLUTION_TIMEOUT,
    ) -> Self:
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
        watchdog = Watchdog(self._timeout)
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
                "--resolution-timeout'"
            )
        assert resolution is not None  # noqa: S101 - only a fired watchdog leaves none
        return resolution
