"""A loopback peer that answers one byte every half second, for ever: no socket timeout fires."""

from __future__ import annotations

import contextlib
import socket
import threading

# An HTTP answer that never ends: its header is sent one byte at a time, then its body.
_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n" + b"X-Slow: y" * 100000


class Trickler:
    """Accepts connections on a loopback port and trickles :data:`_ANSWER` until :meth:`close`."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)  # the request (small enough for one read)
            for byte in _ANSWER:
                if self._closed.wait(self._interval):
                    return
                conn.sendall(bytes([byte]))

    def close(self) -> None:
        """Stop trickling: every connection is closed within one interval."""
        self._closed.set()
        self._listener.close()
