"""Whole-call deadlines: a blocking call run on a daemon thread, waited for at most N seconds.

Socket timeouts bound the wait *between* bytes, so a peer that trickles one byte at a
time is never cut off by them. :class:`BoundedCalls` bounds the whole call instead: the
caller stops waiting at the deadline (the thread ends when its socket does), and at most
*limit* calls may be running at once, so that calls stuck on such a peer cannot pile up:
once *limit* are running, the next fails at once.

The threads are reused: a thread whose call has finished waits, idle, for the next one
(the most recently idle first) and exits after *idle* seconds without one. A call never
waits for a thread: when none is idle a new one starts, so a call stuck past its deadline
delays no other. Threads, running and idle, never outnumber *limit*.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["IDLE", "BoundedCalls", "DeadlinePassed", "TooManyCalls"]

_T = TypeVar("_T")

IDLE = 60.0
"""Seconds an idle thread waits for a next call before it exits."""

_Task = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]


class DeadlinePassed(Exception):
    """The call did not finish within its deadline (it may still be running)."""


class TooManyCalls(Exception):
    """*limit* calls are running already (stuck, most likely): this one was not started."""


_RESET = threading.Lock()
"""Taken by the first call in a forked child, which starts each :class:`BoundedCalls` afresh."""


class _Worker:
    """One thread of a :class:`BoundedCalls`: runs the tasks put in its inbox, one at a time."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[_Task] = queue.SimpleQueue()


class BoundedCalls:
    """Runs calls with a whole-call deadline, at most *limit* at once, on reused daemon threads.

    :param limit: how many calls may be running at once, stuck ones included.
    :param name: the threads' name prefix.
    :param idle: seconds an idle thread waits for a next call before it exits.
    """

    def __init__(self, limit: int, name: str, *, idle: float = IDLE) -> None:
        self.limit = limit
        self.idle = idle
        self._name = name
        self._reset()

    def _reset(self) -> None:
        # Also what a forked child starts from: its parent's threads (running or idle, and
        # the one that may have held the lock) do not exist in it.
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: list[_Worker] = []  # a stack: the most recently idle thread is taken first
        self._started = 0
        self._pid = os.getpid()  # last: a caller that sees it sees the rest

    @property
    def running(self) -> int:
        """How many calls are running now, stuck ones included."""
        with self._lock:
            return self._running

    @property
    def idle_threads(self) -> int:
        """How many threads are waiting for a next call now."""
        with self._lock:
            return len(self._waiting)

    def run(self, call: Callable[[], _T], deadline: float) -> _T:
        """Return ``call()``, or raise what it raised; :class:`DeadlinePassed` after *deadline* s.

        :raises TooManyCalls: when *limit* calls are running already.
        """
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._start((call, future))
        done, _ = concurrent.futures.wait([future], timeout=deadline)
        if not done:
            raise DeadlinePassed(f"no answer within {deadline:g} s")
        return future.result()

    def _start(self, task: _Task) -> None:
        if self._pid != os.getpid():
            with _RESET:
                if self._pid != os.getpid():
                    self._reset()
        with self._lock:
            if self._running >= self.limit:
                raise TooManyCalls(f"{self._running} calls are still running")
            self._running += 1
            if self._waiting:
                # Put in under the lock: a thread whose idle wait ends looks for it under the lock.
                self._waiting.pop().inbox.put(task)
                return
            self._started += 1
            number = self._started
        worker = _Worker()
        worker.inbox.put(task)
        # A daemon thread: one stuck on a trickling peer must not keep the process from exiting.
        try:
            threading.Thread(target=self._serve, args=(worker,), name=f"{self._name}-{number}", daemon=True).start()
        except BaseException:  # no thread (the process's limit): the call was not started
            with self._lock:
                self._running -= 1
            raise

    def _serve(self, worker: _Worker) -> None:
        task: _Task | None = worker.inbox.get()
        while task is not None:
            self._run(worker, task)
            task = None
            try:
                task = worker.inbox.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if worker in self._waiting:
                        self._waiting.remove(worker)  # not taken: exit
                    else:
                        task = worker.inbox.get_nowait()  # taken as the wait ended: put in under the lock

    def _run(self, worker: _Worker, task: _Task) -> None:
        # A method of its own, so that nothing of the call (its result: keys) outlives it.
        call, future = task
        try:
            result = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self._idle_again(worker)
            future.set_exception(exc)
        else:
            self._idle_again(worker)
            future.set_result(result)

    def _idle_again(self, worker: _Worker) -> None:
        # Before the caller sees the outcome, so that its next call finds this thread idle.
        with self._lock:
            self._running -= 1
            self._waiting.append(worker)
