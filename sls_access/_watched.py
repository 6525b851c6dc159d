"""A file parsed once, and again whenever it changes: one ``stat`` per read."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["WatchedFile"]

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """The parsed content of *path*, re-parsed when its identity (inode, size, mtime) changes.

    A file that no longer parses raises (whatever *parse* raises) until it is fixed: the
    content is never guessed from an older version.

    :param parse: reads and parses the file.
    :param missing: returned while the file does not exist; without it, a missing
        file raises :class:`FileNotFoundError`.
    """

    def __init__(self, path: str | os.PathLike[str], parse: Callable[[Path], T], *,
                 missing: Callable[[], T] | None = None) -> None:
        self.path = Path(path)
        self._parse = parse
        self._missing = missing
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._value: T | None = None

    def current(self) -> T:
        """Return the file's content as it is now."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._missing is None:
                raise
            with self._lock:
                self._stamp, self._value = None, None
            return self._missing()
        stamp = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
        value = self._value
        if stamp != self._stamp or value is None:
            with self._lock:
                if stamp != self._stamp or self._value is None:
                    self._value = None  # a failed parse leaves nothing behind to serve
                    self._value = self._parse(self.path)
                    self._stamp = stamp
                value = self._value
        return value
