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

    def __init__(
        self, path: str | os.PathLike[str], parse: Callable[[Path], T], *, missing: Callable[[], T] | None = None
    ) -> None:
        self.path = Path(path)
        self._fspath = os.fspath(self.path)  # stat on every read: the str, not the Path's conversion
        self._parse = parse
        self._missing = missing
        self._lock = threading.Lock()
        # The stamp and the content read with it, in one tuple: a reader sees both of one read.
        self._held: tuple[tuple[int, int, int, int], T] | None = None

    def current(self) -> T:
        """Return the file's content as it is now."""
        try:
            st = os.stat(self._fspath)
        except FileNotFoundError:
            if self._missing is None:
                raise
            self._held = None
            return self._missing()
        stamp = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
        held = self._held
        if held is None or held[0] != stamp:
            with self._lock:
                held = self._held
                if held is None or held[0] != stamp:
                    self._held = None  # a failed parse leaves nothing behind to serve
                    held = self._held = (stamp, self._parse(self.path))
        return held[1]
