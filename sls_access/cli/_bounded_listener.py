"""A loopback listener that reads each connection's request head within bounds, then hands it on.

``exec``'s credentials endpoint listens on 127.0.0.1, where every local user can connect.
A thread per connection (:class:`http.server.ThreadingHTTPServer`) lets any of them hold
the process at its descriptor limit with idle connections, after which ``accept`` fails
on every turn of the loop and the child's own request is never read. This listener
instead:

- reads every connection's head from one thread, with a selector: an idle connection
  costs a descriptor and a small buffer, no thread;
- keeps at most *max_connections* connections whose head is not complete; one more
  closes the oldest of them (the child sends its request as soon as it connects, so a
  flood has to outpace it to push it out);
- closes a connection whose head is not complete within *head_timeout* seconds, or is
  larger than *max_head_bytes*;
- when ``accept`` itself fails for want of descriptors, closes the oldest waiting
  connection, or pauses accepting briefly when there is none: it never spins;
- hands each complete head to *dispatch* (in this thread: dispatch must be quick, and
  start a thread of its own for anything slow);
- swallows a connection reset or any socket error quietly (a debug log line): nothing
  reaches the user's terminal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

import attrs

__all__ = ["BoundedListener"]

log = logging.getLogger("sls_access.cli.exec")

# accept() failing for want of resources: free one, or wait.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_PAUSE = 0.1  # seconds without accepting when nothing can be freed
_BACKLOG = 128


@attrs.define(kw_only=True)
class _Pending:
    """A connection whose request head is still being read."""

    buffer: bytearray = attrs.field(factory=bytearray)
    deadline: float


def _head_complete(buffer: bytearray) -> bool:
    return b"\r\n\r\n" in buffer or b"\n\n" in buffer


def close_quietly(sock: socket.socket) -> None:
    """Close *sock*, ignoring a peer that is gone already."""
    with contextlib.suppress(OSError):
        sock.close()


class BoundedListener:
    """Accepts loopback connections and passes each complete request head to *dispatch*.

    :param dispatch: called with a blocking socket and the bytes read from it (the head,
        and whatever followed it in the same reads); it owns the socket from then on.
    :param max_connections: connections whose head is not complete yet, at most.
    :param head_timeout: seconds a connection has to send its whole head.
    :param max_head_bytes: a longer head closes the connection.
    """

    def __init__(
        self,
        dispatch: Callable[[socket.socket, bytes], None],
        *,
        max_connections: int = 64,
        head_timeout: float = 5.0,
        max_head_bytes: int = 16 * 1024,
    ) -> None:
        self._dispatch = dispatch
        self._max_connections = max(1, max_connections)
        self._head_timeout = head_timeout
        self._max_head_bytes = max_head_bytes
        self._pending: dict[socket.socket, _Pending] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._wake_read, self._wake_write = socket.socketpair()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._resume_accepting: float | None = None

    @property
    def port(self) -> int | None:
        """The port listened on, or None when not listening."""
        return None if self._listener is None else int(self._listener.getsockname()[1])

    def start(self) -> None:
        """Listen on 127.0.0.1 (a free port) and start reading in a daemon thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(_BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._wake_read.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._selector.register(listener, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="sls-access-credentials-endpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop reading, close the listener and every connection not handed on."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for sock in list(self._pending):
            self._drop(sock)
        listener, self._listener = self._listener, None
        if listener is not None:
            close_quietly(listener)
        self._selector.close()
        close_quietly(self._wake_read)
        close_quietly(self._wake_write)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                events = self._selector.select(self._timeout())
            except OSError as exc:  # pragma: no cover - the selector itself failing
                log.debug("credentials endpoint: select failed: %s", type(exc).__name__)
                time.sleep(_PAUSE)
                continue
            for key, _ in events:
                if self._stopped.is_set():
                    return
                sock = key.fileobj
                if sock is self._wake_read:
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(64)
                elif sock is self._listener:
                    self._accept()
                elif isinstance(sock, socket.socket) and sock in self._pending:
                    self._read(sock)
            self._expire()

    def _timeout(self) -> float | None:
        """Seconds until the next deadline (or the end of a pause in accepting), None for none."""
        moments = [pending.deadline for pending in self._pending.values()]
        if self._resume_accepting is not None:
            moments.append(self._resume_accepting)
        return max(0.0, min(moments) - time.monotonic()) if moments else None

    def _accept(self) -> None:
        listener = self._listener
        if listener is None:  # pragma: no cover - closed while a turn was under way
            return
        for _ in range(self._max_connections):  # a batch per turn: the waiting heads get read in between
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _EXHAUSTED:
                    log.debug("credentials endpoint: accept failed: %s", type(exc).__name__)
                    return
                if self._pending:
                    self._drop(next(iter(self._pending)))  # the oldest waiting connection gives way
                    continue
                self._selector.unregister(listener)  # nothing to free: wait instead of spinning
                self._resume_accepting = time.monotonic() + _PAUSE
                return
            if len(self._pending) >= self._max_connections:
                self._drop(next(iter(self._pending)))
            sock.setblocking(False)
            self._pending[sock] = _Pending(deadline=time.monotonic() + self._head_timeout)
            self._selector.register(sock, selectors.EVENT_READ)
            self._read(sock)  # a client that sent its request with the handshake is served now

    def _read(self, sock: socket.socket) -> None:
        pending = self._pending[sock]
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the peer, or any other socket error: nobody to tell
            self._drop(sock)
            return
        if not data:
            self._drop(sock)
            return
        pending.buffer += data
        if _head_complete(pending.buffer):
            self._hand_on(sock, bytes(pending.buffer))
        elif len(pending.buffer) > self._max_head_bytes:
            self._drop(sock)

    def _hand_on(self, sock: socket.socket, head: bytes) -> None:
        self._selector.unregister(sock)
        del self._pending[sock]
        try:
            sock.setblocking(True)
            self._dispatch(sock, head)
        except Exception as exc:  # noqa: BLE001 - one connection's failure never ends the listener
            log.debug("credentials endpoint: a request failed: %s", type(exc).__name__)
            close_quietly(sock)

    def _expire(self) -> None:
        now = time.monotonic()
        for sock, pending in list(self._pending.items()):
            if pending.deadline <= now:
                self._drop(sock)
        if self._resume_accepting is not None and self._resume_accepting <= now and self._listener is not None:
            self._resume_accepting = None
            self._selector.register(self._listener, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        if self._pending.pop(sock, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
        close_quietly(sock)
