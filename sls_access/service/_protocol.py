"""uvicorn's HTTP protocols, with bounds on the header phase and on open connections.

uvicorn (0.3x-0.5x) bounds none of these by itself: a connection that sends nothing, or
trickles its header a byte at a time, is held for ever; httptools buffers a header of
any size; every accepted socket holds a descriptor. The classes here are uvicorn's
``H11Protocol`` and ``HttpToolsProtocol`` with a guard that

- closes a connection whose request headers are not complete within
  :data:`HEADER_TIMEOUT` seconds of the connection, or of the first byte of a later
  request (answering 408 when part of a request came; idle keep-alive connections are
  closed by uvicorn's ``timeout_keep_alive``);
- answers 431 and closes as soon as more than :data:`MAX_HEADER_BYTES` arrive without a
  complete header, before the parser buffers them; bytes that arrive while an answer is
  in flight (pipelined requests) are not counted: uvicorn buffers them under its flow
  control, and the count starts anew when the answer is complete;
- keeps at most ``limit_concurrency - 1`` connections open per worker (``serve`` sets
  ``limit_concurrency`` to ``--max-connections`` + 1, which is how the number reaches
  worker processes): a connection beyond that closes the one that has waited longest
  for a request's headers, so slow peers cannot starve a client that sends its request
  at once. When every connection has a request in flight, the newcomer gets uvicorn's
  503, and one more is closed at once.

And each answer leaves in one write: uvicorn writes the status line and headers, then
the body, in two ``transport.write`` calls, so two ``send`` system calls, each waking the
peer (about 8 µs of system time a request, measured). The protocols here hand uvicorn a
:class:`_OneWrite` transport that holds what is written during one turn of the event
loop and writes it as one when the answer is complete (uvicorn's ``on_response_complete``),
when the connection closes, when more than :data:`HOLD_BYTES` are held, or at the latest
at the end of that loop turn: an answer is never held waiting for more of it (a streamed
body's parts leave as the app sends them, one loop turn later at most).

:func:`check` builds each class once at startup, so that a uvicorn whose protocols no
longer have what the guard uses fails loudly instead of running unguarded.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

from sls_access._install import install_hint
from sls_access.errors import ConfigError
from sls_access.service.app import _body  # the one error shape

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
else:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is not installed: only --http h11
        HttpToolsProtocol = None

__all__ = ["HEADER_TIMEOUT", "HOLD_BYTES", "MAX_HEADER_BYTES", "GuardedH11", "GuardedHttpTools", "check",
           "protocol_path"]

HEADER_TIMEOUT = 10.0
"""Seconds a request's headers may take, from the connection or the request's first byte."""
MAX_HEADER_BYTES = 16384
"""Bytes of request line and headers received without a complete header, before 431."""
HOLD_BYTES = 65536
"""Bytes of an answer held to be written as one; past them, what is held is written at once."""

log = logging.getLogger("sls_access.service")

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
# What the guard uses of uvicorn's protocol instances (checked by check()).
_NEEDED = ("connections", "cycle", "limit_concurrency", "loop", "transport", "client", "on_response_complete",
           "flow")


def _answer(status: int, code: str, message: str) -> bytes:
    body = _body(code, message)
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))) + body


class _OneWrite:
    """A transport that writes what is written to it during one loop turn as one write.

    Everything but writing goes to the real transport. Held bytes are written, in order,
    by :meth:`flush` (the protocol calls it when an answer is complete), by :meth:`close`,
    by a write that brings them past :data:`HOLD_BYTES`, and by a callback scheduled when
    the first of them is held, which runs at the end of the current loop turn: nothing
    waits for a later event. A connection handed to another protocol (an upgrade) is
    written through.
    """

    __slots__ = ("_held", "_loop", "_passthrough", "_size", "_timer", "get_extra_info", "is_closing",
                 "pause_reading", "resume_reading", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0
        self._timer: asyncio.Handle | None = None
        self._passthrough = False
        # What uvicorn asks on every request: the real transport's own methods, no call in between.
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading
        self.get_extra_info = transport.get_extra_info

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold *data* behind what is held; write it all once past :data:`HOLD_BYTES`."""
        if self._passthrough:
            self.transport.write(data)
            return
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size > HOLD_BYTES:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_soon(self.flush)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        """Write *chunks* as :meth:`write` would their concatenation."""
        self.write(b"".join(chunks))

    def flush(self) -> None:
        """Write what is held, as one write."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held = self._held
        if held:
            self._held = []
            self._size = 0
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def drop(self) -> None:
        """Forget what is held (the connection is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held = []
        self._size = 0

    def close(self) -> None:
        """Write what is held, then close."""
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        """Close at once; what is held is lost, as the real transport's buffer is."""
        self.drop()
        self.transport.abort()

    def write_eof(self) -> None:
        """Write what is held, then the end of the stream."""
        self.flush()
        self.transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to *protocol* (an upgrade): write what is held, then write through."""
        self.flush()
        self._passthrough = True
        self.transport.set_protocol(protocol)

    def get_write_buffer_size(self) -> int:
        """Return the real transport's buffered bytes and the held ones."""
        return self.transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the real transport's attribute
        return getattr(self.transport, name)


class _HeaderGuard(asyncio.Protocol):
    """The guard, mixed in before one of uvicorn's protocol classes (see the module docstring)."""

    if TYPE_CHECKING:  # set by uvicorn's protocol classes
        connections: set[Any]
        cycle: Any
        limit_concurrency: int | None
        loop: asyncio.AbstractEventLoop
        transport: asyncio.Transport
        client: tuple[str, int] | None
        flow: Any

    _guard_timer: asyncio.TimerHandle | None = None
    _guard_bytes = 0
    _guard_later = 0
    _guard_cycle: object = None
    _guard_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Hand uvicorn a :class:`_OneWrite` transport, start the header deadline, make room if one too many."""
        super().connection_made(cast("asyncio.Transport", _OneWrite(cast("asyncio.Transport", transport), self.loop)))
        self._guard_since = self.loop.time()
        self._guard_arm()
        self._guard_limit()

    def data_received(self, data: bytes) -> None:
        """Count a request's header bytes as they reach the parser; refuse past the cap.

        Between answers, the parser is never fed more than :data:`MAX_HEADER_BYTES` of a
        request whose header is not complete. What arrives while an answer is in flight (a
        body, pipelined requests) is not counted: uvicorn's flow control buffers it, and past
        the cap reading pauses until the answer is complete, when the count starts anew (so
        a request begun during an answer may have up to twice the cap, plus one read, buffered).
        """
        while data:
            if self._guard_busy():
                self._guard_later += len(data)
                super().data_received(data)
                if self._guard_later > MAX_HEADER_BYTES and self._guard_busy():
                    self.flow.pause_reading()  # resumed by uvicorn when the answer is complete
                return
            room = MAX_HEADER_BYTES - self._guard_bytes
            if room <= 0:
                self._guard_refuse(431, "too_large", "request headers too large")
                return
            head, data = data[:room], data[room:]
            self._guard_bytes += len(head)
            super().data_received(head)
            if self.transport.is_closing():
                return
            if self.cycle is not self._guard_cycle:  # a request's headers are complete: count the next anew
                self._guard_progress()
            elif self._guard_timer is None:  # the first bytes of a request that is not complete yet
                self._guard_arm()

    def on_response_complete(self) -> None:
        """After an answer: write it (one write), then a pipelined request may start (h11 parses it now)."""
        cast("_OneWrite", self.transport).flush()
        cast("Any", super()).on_response_complete()
        self._guard_since = self.loop.time()
        later, self._guard_later = self._guard_later, 0
        self._guard_progress()
        if later and not self._guard_busy() and self._guard_timer is None:
            self._guard_arm()  # part of a request came during the answer: its header time starts now

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline; forget what was held for the peer that is gone."""
        self._guard_disarm()
        cast("_OneWrite", self.transport).drop()
        super().connection_lost(exc)

    def _guard_busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _guard_progress(self) -> None:
        if self.cycle is not self._guard_cycle:  # a request's headers are complete: its phase is over
            self._guard_cycle = self.cycle
            self._guard_bytes = 0
            self._guard_disarm()

    def _guard_arm(self) -> None:
        self._guard_timer = self.loop.call_later(HEADER_TIMEOUT, self._guard_expired)

    def _guard_disarm(self) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
            self._guard_timer = None

    def _guard_expired(self) -> None:
        self._guard_timer = None
        if self.transport.is_closing():
            return
        if self._guard_busy():  # the next request came early (pipelined): its time starts after this answer
            self._guard_arm()
            return
        if self._guard_bytes:
            self._guard_refuse(408, "request_timeout", "the request headers took too long")
        else:
            log.info("closed a connection from %s: no request within %.0f s", self._guard_peer(), HEADER_TIMEOUT)
            self.transport.close()

    def _guard_refuse(self, status: int, code: str, message: str) -> None:
        log.info("closed a connection from %s: %s (%d)", self._guard_peer(), message, status)
        if not self._guard_busy():  # never in the middle of an answer
            self.transport.write(_answer(status, code, message))
        self.transport.close()
        self._guard_disarm()

    def _guard_limit(self) -> None:
        limit = self.limit_concurrency
        if limit is None or len(self.connections) < limit:
            return
        waiting = [other for other in self.connections if other is not self and isinstance(other, _HeaderGuard)
                   and not other._guard_busy() and not other.transport.is_closing()]
        if waiting:
            oldest = min(waiting, key=lambda other: other._guard_since)
            log.info("closed a connection from %s: %d connections open, it waited longest", oldest._guard_peer(),
                     len(self.connections))
            oldest.transport.close()
            self.connections.discard(oldest)  # now, not when its loss is reported: uvicorn counts this set
        elif len(self.connections) > limit:
            self.transport.close()

    def _guard_peer(self) -> str:
        return str(self.client[0]) if self.client else "unknown"


class GuardedH11(_HeaderGuard, H11Protocol):
    """uvicorn's h11 protocol with the header and connection guard."""


if HttpToolsProtocol is not None:
    class GuardedHttpTools(_HeaderGuard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header and connection guard."""


def protocol_path(http: str) -> str:
    """Return the import path of the guarded protocol for ``--http`` *http* (``auto``, ``h11``, ``httptools``)."""
    if http == "h11" or (http == "auto" and HttpToolsProtocol is None):
        return f"{__name__}:GuardedH11"
    if HttpToolsProtocol is None:
        raise ConfigError(f"--http httptools needs httptools: {install_hint('server')}")
    return f"{__name__}:GuardedHttpTools"


async def _no_app(scope: Any, receive: Any, send: Any) -> None:  # noqa: ANN401 - never called
    """Stand in for the app while :func:`check` builds a protocol."""


def check(http: str) -> None:
    """Raise :class:`~sls_access.ConfigError` unless the guard fits the installed uvicorn's protocol for *http*."""
    import uvicorn  # noqa: PLC0415
    from uvicorn.server import ServerState  # noqa: PLC0415

    cls = GuardedH11 if protocol_path(http).endswith("GuardedH11") else GuardedHttpTools
    config = uvicorn.Config(_no_app, lifespan="off", log_config=None, limit_concurrency=2)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        missing = [name for name in _NEEDED if not hasattr(protocol, name)]
    finally:
        loop.close()
    if missing:
        version = importlib.metadata.version("uvicorn")
        raise ConfigError(f"uvicorn {version}'s HTTP protocol lacks {', '.join(missing)}, which the service's "
                          "header and connection limits need; install the uvicorn the server extra names")
