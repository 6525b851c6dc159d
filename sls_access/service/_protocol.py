"""uvicorn's HTTP protocols, with bounds on the header phase and on open connections.

uvicorn bounds none of these by itself: a connection that sends nothing, or trickles its
header a byte at a time, is held for ever; httptools buffers a header of any size; every
accepted socket holds a descriptor. No public uvicorn API offers them, so the classes
here are uvicorn's ``H11Protocol`` and ``HttpToolsProtocol`` with a guard that

- closes a connection whose request headers are not complete within the header timeout
  (``serve --header-timeout``, default :data:`HEADER_TIMEOUT` seconds) of the
  connection, or of the first byte of a later request (answering 408 when part of a
  request came; idle keep-alive connections are closed by uvicorn's
  ``timeout_keep_alive``, ``serve --keep-alive-timeout``);
- answers 431 and closes as soon as more than :data:`MAX_HEADER_BYTES` arrive without a
  complete header, before the parser buffers them; bytes that arrive while an answer is
  in flight (pipelined requests) are not counted: uvicorn buffers them under its flow
  control, and the count starts anew when the answer is complete;
- keeps at most ``limit_concurrency - 1`` connections open per worker (``serve`` sets
  ``limit_concurrency`` to ``--max-connections`` + 1, which is how the number reaches
  worker processes): a connection beyond that closes the one that has waited longest
  for a request's headers, so slow peers cannot starve a client that sends its request
  at once. When every connection has a request in flight, the newcomer gets uvicorn's
  503, and one more is closed at once;
- answers a request the parser refuses (uvicorn's plain-text 400) in the service's JSON
  error shape, ``{"code": "bad_request", "message": ...}``, and closes.

This is the one module of sls-access that uses uvicorn's internals (its protocol
classes' attributes and methods, :data:`_NEEDED`); the ``server`` extra caps uvicorn at
the minor version it was tested with, :func:`check` refuses at startup a uvicorn whose
protocols lack what the guard uses, and ``tests/test_service_uvicorn.py`` fails, saying
what changed, when a uvicorn release changes them.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
import math
import os
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

__all__ = [
    "HEADER_TIMEOUT",
    "HEADER_TIMEOUT_VARIABLE",
    "MAX_HEADER_BYTES",
    "GuardedH11",
    "GuardedHttpTools",
    "check",
    "header_timeout",
    "protocol_path",
]

HEADER_TIMEOUT = 10.0
"""Seconds a request's headers may take by default, from the connection or the request's first byte."""
HEADER_TIMEOUT_VARIABLE = "SLS_ACCESS_HEADER_TIMEOUT"
"""How ``serve --header-timeout`` reaches the worker processes (set by ``serve``)."""
MAX_HEADER_BYTES = 16384
"""Bytes of request line and headers received without a complete header, before 431."""

log = logging.getLogger("sls_access.service")

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
_NEEDED = (
    "connections",
    "cycle",
    "limit_concurrency",
    "loop",
    "transport",
    "client",
    "on_response_complete",
    "flow",
    "send_400_response",
    "connection_made",
    "connection_lost",
    "data_received",
)
"""What the guard uses of uvicorn's protocol instances (checked by :func:`check`)."""


@functools.cache
def header_timeout() -> float:
    """Return this worker's header timeout: :data:`HEADER_TIMEOUT_VARIABLE`, else :data:`HEADER_TIMEOUT`."""
    text = os.environ.get(HEADER_TIMEOUT_VARIABLE, "")
    try:
        value = float(text)
    except ValueError:
        return HEADER_TIMEOUT
    return value if math.isfinite(value) and value > 0 else HEADER_TIMEOUT


def _answer(status: int, code: str, message: str) -> bytes:
    body = _body(code, message)
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    ) + body


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
        """Start the header deadline; make room if this connection is one too many."""
        super().connection_made(transport)
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
        """After an answer: a pipelined request may start (h11 parses it now); its header phase is counted anew."""
        cast("Any", super()).on_response_complete()
        self._guard_since = self.loop.time()
        later, self._guard_later = self._guard_later, 0
        self._guard_progress()
        if later and not self._guard_busy() and self._guard_timer is None:
            self._guard_arm()  # part of a request came during the answer: its header time starts now

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline."""
        self._guard_disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused in the service's JSON error shape, and close (as uvicorn does)."""
        log.info("closed a connection from %s: %s (400)", self._guard_peer(), msg)
        self.transport.write(_answer(400, "bad_request", msg))
        self.transport.close()
        self._guard_disarm()

    def _guard_busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _guard_progress(self) -> None:
        if self.cycle is not self._guard_cycle:  # a request's headers are complete: its phase is over
            self._guard_cycle = self.cycle
            self._guard_bytes = 0
            self._guard_disarm()

    def _guard_arm(self) -> None:
        self._guard_timer = self.loop.call_later(header_timeout(), self._guard_expired)

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
            log.info("closed a connection from %s: no request within %g s", self._guard_peer(), header_timeout())
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
        waiting = [
            other
            for other in self.connections
            if other is not self
            and isinstance(other, _HeaderGuard)
            and not other._guard_busy()
            and not other.transport.is_closing()
        ]
        if waiting:
            oldest = min(waiting, key=lambda other: other._guard_since)
            log.info(
                "closed a connection from %s: %d connections open, it waited longest",
                oldest._guard_peer(),
                len(self.connections),
            )
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
    """Raise :class:`~sls_access.ConfigError` unless the guard fits the installed uvicorn's protocol for *http*.

    Every name of :data:`_NEEDED` must be an attribute of a protocol instance; the
    methods the guard overrides must be uvicorn's too (else its override is never called).
    """
    import uvicorn  # noqa: PLC0415
    from uvicorn.server import ServerState  # noqa: PLC0415

    guarded = GuardedH11 if protocol_path(http).endswith("GuardedH11") else GuardedHttpTools
    base = H11Protocol if guarded is GuardedH11 else HttpToolsProtocol
    config = uvicorn.Config(_no_app, lifespan="off", log_config=None, limit_concurrency=2)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = guarded(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        missing = [
            name
            for name in _NEEDED
            if not hasattr(protocol, name) or (name in vars(_HeaderGuard) and not callable(getattr(base, name, None)))
        ]
    finally:
        loop.close()
    if missing:
        version = importlib.metadata.version("uvicorn")
        raise ConfigError(
            f"uvicorn {version}'s HTTP protocol lacks {', '.join(missing)}, which the service's "
            "header and connection limits need; install the uvicorn the server extra names"
        )
