"""Slowing down failed authentications, without penalising valid keys.

A failing attempt is counted against each of its *subjects*: the client's address and,
when the presented key has the form of a key, its public id (so that guesses at one key
from many addresses are counted together). Per subject: the first ``free`` failures within
``window`` seconds cost nothing; each failure after that is held twice as long as the one
before (up to ``max_delay``). Holds queue up: a failing answer is released only after the
subject's previous held answers, so concurrent attempts pay the sum of their delays, not
the longest one. A queue longer than ``max_wait`` is not extended: the attempt is held
``max_delay`` and refused (429), as is every failing attempt past ``lockout`` failures.

Only failing attempts are penalised: a valid key is answered however many failures its
address has, and a success clears nothing (failures age out of the window, which restarts
with each failure), so interleaving one's own key does not reset the count. Memory is
bounded: at most ``maxsize`` subjects are tracked (least recently failed go first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import attrs
from cachetools import TTLCache

__all__ = ["Penalty", "Throttle"]


@attrs.frozen(kw_only=True)
class Penalty:
    """What one failed attempt costs: hold its answer *hold* seconds, then 401, or 429 if *refused*."""

    hold: float
    refused: bool


class Throttle:
    """Failure counts per subject (an address, a key id), and the hold or refusal they earn."""

    def __init__(self, *, free: int = 5, lockout: int = 50, window: float = 300.0,
                 base_delay: float = 0.25, max_delay: float = 5.0, max_wait: float = 30.0,
                 maxsize: int = 65536, timer: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.lockout = lockout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_wait = max_wait
        self._timer = timer
        self._lock = threading.Lock()
        # subject -> (failures, when its last held answer is released)
        self._records: TTLCache[str, tuple[int, float]] = TTLCache(maxsize=maxsize, ttl=window, timer=timer)

    def failures(self, subject: str) -> int:
        """Return *subject*'s recent failures."""
        with self._lock:
            return self._records.get(subject, (0, 0.0))[0]

    def delay(self, subject: str) -> float:
        """Return how long *subject*'s next failure is held, queueing aside (0 for the first few)."""
        return self._delay_for(self.failures(subject))

    def _delay_for(self, failures: int) -> float:
        excess = failures - self.free
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * float(2 ** min(excess - 1, 16)))

    def failed(self, subjects: Sequence[str]) -> Penalty:
        """Record a failed attempt against every one of *subjects*; return what it costs.

        The count and the place in the queue are taken at once, under the lock, so that
        concurrent failures each see the ones before them.
        """
        with self._lock:
            now = self._timer()
            records = [self._records.get(subject, (0, now)) for subject in subjects]
            failures = max((count for count, _ in records), default=0)
            release = max([now, *(released for _, released in records)]) + self._delay_for(failures)
            full = release - now > self.max_wait
            for subject, (count, released) in zip(subjects, records, strict=True):
                self._records[subject] = (count + 1, released if full else max(released, release))
        if full:
            return Penalty(hold=self.max_delay, refused=True)
        return Penalty(hold=release - now, refused=failures >= self.lockout)
