"""Slowing down clients that keep failing to authenticate.

Per client address: the first ``free`` failures within ``window`` seconds cost nothing;
each failure after that delays the client's next answers by twice as long as the one
before (up to ``max_delay``), and past ``lockout`` failures the client is refused with
429 until its failures age out of the window. A success clears the client's record.
Memory is bounded: at most ``maxsize`` clients are tracked (least recently failed go
first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

__all__ = ["Throttle"]


class Throttle:
    """Failure counts per client, and the delay or refusal they earn."""

    def __init__(self, *, free: int = 5, lockout: int = 50, window: float = 300.0,
                 base_delay: float = 0.25, max_delay: float = 5.0, maxsize: int = 65536,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.lockout = lockout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._failures: TTLCache[str, int] = TTLCache(maxsize=maxsize, ttl=window, timer=timer)

    def failures(self, client: str) -> int:
        """Return *client*'s recent failures."""
        if not self._failures:  # the common case: nobody failed lately; no lock needed to see that
            return 0
        with self._lock:
            count: int = self._failures.get(client, 0)
            return count

    def delay(self, client: str) -> float:
        """Return how long to hold *client*'s next answer, in seconds (0 for most clients)."""
        excess = self.failures(client) - self.free
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * float(2 ** min(excess - 1, 16)))

    def locked_out(self, client: str) -> bool:
        """Return True when *client* failed so often that it is refused without a check."""
        return self.failures(client) >= self.lockout

    def failed(self, client: str) -> None:
        """Record a failed authentication by *client* (the window restarts with it)."""
        with self._lock:
            self._failures[client] = self._failures.get(client, 0) + 1

    def succeeded(self, client: str) -> None:
        """Forget *client*'s failures."""
        with self._lock:
            self._failures.pop(client, None)
