"""Whole-call deadlines: a blocking call run on a daemon thread, waited for at most N seconds.

Socket timeouts bound the wait *between* bytes, so a peer that trickles one byte at a
time is never cut off by them. :class:`BoundedCalls` bounds the whole call instead: the
caller stops waiting at the deadline (the thread ends when its socket does), and at most
*limit* calls may be running at once, so that calls stuck on such a peer cannot pile up:
once *limit* are running, the next fails at once.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["BoundedCalls", "DeadlinePassed", "TooManyCalls"]

_T = TypeVar("_T")


class DeadlinePassed(Exception):
    """The call did not finish within its deadline (it may still be running)."""


class TooManyCalls(Exception):
    """*limit* calls are running already (stuck, most likely): this one was not started."""


class BoundedCalls:
    """Runs calls with a whole-call deadline, at most *limit* at once.

    :param limit: how many calls may be running at once, stuck ones included.
    :param name: the threads' name prefix.
    """

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self._name = name
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        """How many calls are running now, stuck ones included."""
        with self._lock:
            return self._running

    def run(self, call: Callable[[], _T], deadline: float) -> _T:
        """Return ``call()``, or raise what it raised; :class:`DeadlinePassed` after *deadline* s.

        :raises TooManyCalls: when *limit* calls are running already.
        """
        with self._lock:
            if self._running >= self.limit:
                raise TooManyCalls(f"{self._running} calls are still running")
            self._running += 1
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def work() -> None:
            try:
                future.set_running_or_notify_cancel()
                future.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._running -= 1

        # A daemon thread: one stuck on a trickling peer must not keep the process from exiting.
        threading.Thread(target=work, name=self._name, daemon=True).start()
        done, _ = concurrent.futures.wait([future], timeout=deadline)
        if not done:
            raise DeadlinePassed(f"no answer within {deadline:g} s")
        return future.result()
