"""Stopping what a resolution started: the agent's descendants, found in ``/proc`` (Linux).

The agent runs one cold resolution at a time with the process state (see
:mod:`sls_access.agent.caller`), and only that resolution starts processes (botocore's
``credential_process``, a plugin's helper): while it runs, every descendant of the agent
is its own. :class:`Watchdog` kills them at the resolution's deadline, and when the
resolution fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Self

__all__ = ["Watchdog", "descendants", "kill"]


def descendants(root: int) -> list[int]:
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
        fields = data[data.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


class Watchdog:
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
                kill(descendants(os.getpid()))
            self._done = True
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            kill(descendants(os.getpid()))


def kill(pids: list[int]) -> None:
    """Send SIGKILL to each of *pids* that is still there."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
