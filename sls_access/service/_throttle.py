"""Slowing down failed authentications, without penalising valid keys.

A failing attempt is counted against each of its *subjects*: the client's address and,
when the presented key has the form of a key, its public id (so that guesses at one key
from many addresses are counted together). Per subject: the first ``free`` failures within
``window`` seconds cost nothing; each failure after that is held twice as long as the one
before (up to ``max_delay``). Holds queue up: a failing answer is released only after the
subject's previous held answers, so concurrent attempts pay the sum of their delays, not
the longest one.

Holding an answer keeps a request handler running, and the server counts running
handlers against its connection limit; so holds are bounded too. An attempt is *refused*
(answered 429 at once, never held) when its subject has ``lockout`` failures, when its
queue would exceed ``max_wait`` seconds, when ``max_held_per_subject`` of its subject's
answers are already held, or when ``max_held`` answers are held in all (``serve`` sets it
to a quarter of the connection limit). Refused attempts still count as failures.

With a SQL state the counts are shared: the service records each failure in the state
first and passes the count it returns as *seen*, so that failures on one replica slow or
refuse the next failure on another; holds and their queue stay per process.

Only failing attempts are penalised: a valid key is answered however many failures its
address has, and a success clears nothing (failures age out of the window, which restarts
with each failure), so interleaving one's own key does not reset the count. Memory is
bounded: at most ``maxsize`` subjects are tracked (least recently failed go first).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence

import attrs
from cachetools import TTLCache

__all__ = ["Penalty", "Throttle", "count_shared"]


@attrs.frozen(kw_only=True)
class Penalty:
    """What one failed attempt costs: 429 at once if *refused*, else hold its answer *hold* seconds, then 401.

    A hold above zero takes a place among the held answers: give it back with
    :meth:`Throttle.release` when the hold ends, however it ends.
    """

    hold: float
    refused: bool


class Throttle:
    """Failure counts per subject (an address, a key id), and the hold or refusal they earn."""

    def __init__(
        self,
        *,
        free: int = 5,
        lockout: int = 50,
        window: float = 300.0,
        base_delay: float = 0.25,
        max_delay: float = 5.0,
        max_wait: float = 30.0,
        max_held_per_subject: int = 4,
        max_held: int = 16,
        maxsize: int = 65536,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.lockout = lockout
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_wait = max_wait
        self.max_held_per_subject = max_held_per_subject
        self.max_held = max_held
        self._timer = timer
        self._lock = threading.Lock()
        # subject -> (failures, when its last held answer is released)
        self._records: TTLCache[str, tuple[int, float]] = TTLCache(maxsize=maxsize, ttl=window, timer=timer)
        # subject -> answers held now (no entry at zero); at most max_held in all
        self._held: dict[str, int] = {}
        self._held_total = 0

    def failures(self, subject: str) -> int:
        """Return *subject*'s recent failures."""
        with self._lock:
            return self._records.get(subject, (0, 0.0))[0]

    def held(self, subject: str | None = None) -> int:
        """Return how many answers are held now: *subject*'s, or all of them."""
        with self._lock:
            return self._held_total if subject is None else self._held.get(subject, 0)

    def delay(self, subject: str) -> float:
        """Return how long *subject*'s next failure is held, queueing aside (0 for the first few)."""
        return self._delay_for(self.failures(subject))

    def _delay_for(self, failures: int) -> float:
        excess = failures - self.free
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * float(2 ** min(excess - 1, 16)))

    def failed(self, subjects: Sequence[str], *, seen: int = 0) -> Penalty:
        """Record a failed attempt against every one of *subjects*; return what it costs.

        The count, the place in the queue and the place among the held answers are taken
        at once, under the lock, so that concurrent failures each see the ones before them.
        *seen* is the most failures the shared state counted for the subjects before this
        one (every worker's and replica's): the higher of it and this process's count applies.
        """
        with self._lock:
            now = self._timer()
            records = [self._records.get(subject, (0, now)) for subject in subjects]
            failures = max([seen, *(count for count, _ in records)])
            release = max([now, *(released for _, released in records)]) + self._delay_for(failures)
            hold = release - now
            refused = (
                failures >= self.lockout
                or hold > self.max_wait
                or (
                    hold > 0
                    and (
                        self._held_total >= self.max_held
                        or any(self._held.get(subject, 0) >= self.max_held_per_subject for subject in subjects)
                    )
                )
            )
            for subject, (count, released) in zip(subjects, records, strict=True):
                self._records[subject] = (count + 1, released if refused else max(released, release))
            if refused:
                return Penalty(hold=0.0, refused=True)
            if hold > 0:
                self._held_total += 1
                for subject in subjects:
                    self._held[subject] = self._held.get(subject, 0) + 1
        return Penalty(hold=hold, refused=False)

    def release(self, subjects: Sequence[str]) -> None:
        """Give back the place among the held answers that :meth:`failed` took for *subjects*."""
        with self._lock:
            self._held_total -= 1
            for subject in subjects:
                left = self._held.get(subject, 0) - 1
                if left > 0:
                    self._held[subject] = left
                else:
                    self._held.pop(subject, None)


async def count_shared(record: Callable[[list[str], float], int], subjects: list[str], window: float) -> int:
    """Count a failure in the state with *record* (shared by every worker and replica), off the event loop.

    Return the count before it, as :meth:`Throttle.failed` takes it (``seen``); 0 when the
    state cannot say within 2 s: this worker's own count still applies.
    """
    with contextlib.suppress(Exception):
        return await asyncio.wait_for(asyncio.to_thread(record, subjects, window), timeout=2.0)
    return 0
