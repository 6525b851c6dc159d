"""The loopback credentials endpoint ``exec`` serves its child, in the container-credentials format.

The child's AWS SDK finds it through ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (an
``http://127.0.0.1:PORT/<random path>`` URL) and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``
(a random token it sends as the ``Authorization`` header), and asks again ahead of each
``Expiration``, so a deploy that runs longer than one set of keys lives keeps working.
Each answer comes from the resolver, whose cache refreshes ahead of expiry.

Answers: ``GET`` of the path with the token → 200 and the keys; a missing or wrong token
→ 401 (compared in constant time; checked before the path, so that a caller without the
token learns nothing); any other path → 404; any other method → 405; resolution failing
now, or from another source than when the command started → 503 with a JSON ``{"code",
"message"}`` body (fail closed: never other keys). The token and the keys are never
logged.

Any local user can connect to 127.0.0.1. The connections are read by a
:class:`~sls_access.cli._bounded_listener.BoundedListener` (a cap on connections still
sending their request, a deadline for sending it, no thread for an idle one); a request
with the token is answered in a thread of its own, so idle connections and refusals
never delay the child's; one request per connection (``Connection: close``); a peer that
resets or stalls is dropped without a word on the terminal.
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import io
import json
import logging
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Self

import attrs

from sls_access._container import container_json
from sls_access._credentials import Credentials
from sls_access.cli._bounded_listener import BoundedListener, close_quietly
from sls_access.errors import SlsAccessError

__all__ = ["STATIC_EXPIRY", "ContainerEndpoint"]

log = logging.getLogger("sls_access.cli.exec")

STATIC_EXPIRY = timedelta(hours=1)
"""Keys that do not expire (env or profile keys) are served with this much ``Expiration``:
SDKs require one, and an earlier one only makes them ask again."""

# Seconds a refusal (answered in the listener's thread) may take to write; the child's own
# requests get _CHILD_IO_TIMEOUT in a thread of their own, at most _CHILD_REQUESTS at once.
_REFUSAL_IO_TIMEOUT = 0.5
_CHILD_IO_TIMEOUT = 30.0
_CHILD_REQUESTS = 16


class _Exchange(socketserver.BaseServer):
    """The one request a handler answers: its endpoint, the head already read, and how long to write."""

    def __init__(self, endpoint: ContainerEndpoint, head: bytes, *, io_timeout: float, busy: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.endpoint = endpoint
        self.head = head
        self.io_timeout = io_timeout
        self.busy = busy


class _Handler(BaseHTTPRequestHandler):
    server: _Exchange
    protocol_version = "HTTP/1.1"
    server_version = "sls-access"
    sys_version = ""
    error_content_type = "application/json"
    # The base class's own errors (a malformed request line, an unknown method): JSON too,
    # without the base class's message, which can quote the request.
    error_message_format = '{"code": "http_%(code)d", "message": "the request was refused"}'

    def setup(self) -> None:
        """Read the request from the head the listener read already; write to the socket, bounded in time."""
        self.connection = self.request
        self.connection.settimeout(self.server.io_timeout)
        self.rfile = io.BytesIO(self.server.head)
        self.wfile = self.connection.makefile("wb")

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: a request line holds the endpoint's path."""

    def do_GET(self) -> None:
        """Answer the child's SDK: the keys, or why not."""
        endpoint = self.server.endpoint
        if not endpoint.authorised(self.headers.get("Authorization", "")):
            self._json(401, {"code": "unauthorized", "message": "missing or wrong authorization token"})
            return
        if not hmac.compare_digest(self.path.encode("utf-8", "replace"), endpoint.path.encode()):
            self._json(404, {"code": "not_found", "message": "no such path"})
            return
        if self.server.busy:
            self._json(503, {"code": "busy", "message": "too many requests at once; ask again"})
            return
        status, body = endpoint.answer()
        self._send(status, body)

    def _refuse_method(self) -> None:
        self._json(405, {"code": "method_not_allowed", "message": "only GET"}, allow="GET")

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _refuse_method

    def _json(self, status: int, body: dict[str, str], *, allow: str | None = None) -> None:
        self._send(status, json.dumps(body).encode(), allow=allow)

    def _send(self, status: int, body: bytes, *, allow: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")  # one request per connection: the listener reads every head
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _bears_token(head: bytes, endpoint: ContainerEndpoint) -> bool:
    """Whether the request *head* carries the endpoint's token (parsed as the handler will parse it)."""
    _, _, rest = head.partition(b"\n")
    try:
        headers = http.client.parse_headers(io.BytesIO(rest))
    except (http.client.HTTPException, ValueError):
        return False
    return endpoint.authorised(headers.get("Authorization", ""))


def _answer(exchange: _Exchange, sock: socket.socket) -> None:
    """Answer one request on *sock* and close it; a peer that reset or stalled is dropped silently."""
    try:
        _Handler(sock, ("127.0.0.1", 0), exchange)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
    except OSError as exc:  # reset, broken pipe, timeout: the peer is gone, nobody to tell
        log.debug("credentials endpoint: connection dropped: %s", type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - never a traceback on the user's terminal (threading.excepthook)
        log.debug("credentials endpoint: a request failed: %s", type(exc).__name__)
    finally:
        close_quietly(sock)


def _origin(creds: Credentials) -> tuple[str | None, str | None, str | None]:
    """Where keys come from: their source, the dashboard that linked them and the role they are of."""
    return creds.source, creds.dashboard, creds.role_arn


def _describe(origin: tuple[str | None, str | None, str | None]) -> str:
    source, dashboard, role = origin
    return " ".join([str(source), *([f"role {role}"] if role else []), *([f"of {dashboard}"] if dashboard else [])])


class ContainerEndpoint:
    """Serves *load*'s credentials on loopback to one child, for as long as the block lasts.

    :param load: returns the target's current credentials (the resolver's cached,
        refreshing ``credentials``) or raises.
    :param clock: the current aware datetime (for keys without an expiry).
    :param first: the keys the command started with: later keys must come from the same
        source, the same dashboard and the same role (``RoleArn`` in the answer).
    :param max_connections: connections still sending their request, at most (any local
        user can connect: see :class:`~sls_access.cli._bounded_listener.BoundedListener`).
    :param head_timeout: seconds a connection has to send its request.

    Use as a context manager: the listener runs in a daemon thread inside the block and is
    closed on leaving it. A request with the token is answered in a thread of its own
    (it may wait for STS), so refusals and idle connections never queue it.
    """

    def __init__(
        self,
        load: Callable[[], Credentials],
        *,
        clock: Callable[[], datetime],
        first: Credentials,
        max_connections: int = 64,
        head_timeout: float = 5.0,
    ) -> None:
        self._load = load
        self._clock = clock
        self._origin = _origin(first)
        self.token = secrets.token_urlsafe(32)
        self.path = "/" + secrets.token_urlsafe(16)
        self._max_connections = max_connections
        self._head_timeout = head_timeout
        self._listener: BoundedListener | None = None
        self._child_requests = threading.BoundedSemaphore(_CHILD_REQUESTS)

    def __repr__(self) -> str:
        return f"ContainerEndpoint(port={self.port})"

    @property
    def port(self) -> int | None:
        """The port listened on, or None before the endpoint starts."""
        return None if self._listener is None else self._listener.port

    @property
    def url(self) -> str:
        """The full URI the child's SDK reads (it holds the random path: treat it as a secret too)."""
        if self.port is None:
            raise RuntimeError("the endpoint is not started")
        return f"http://127.0.0.1:{self.port}{self.path}"

    def variables(self) -> dict[str, str]:
        """Return the environment variables that point an AWS SDK at this endpoint."""
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.token}

    def authorised(self, given: str) -> bool:
        """Whether *given* (an ``Authorization`` header) is the token, compared in constant time."""
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def answer(self) -> tuple[int, bytes]:
        """Return the status and body of an authorised request: the keys, or a JSON error."""
        try:
            creds = self._load()
        except SlsAccessError as exc:
            log.debug("credentials endpoint: resolution failed: %s", exc)
            return 503, _error("resolution_failed", " ".join(str(exc).split()))
        except Exception as exc:  # noqa: BLE001 - any failure is an error answer, never other keys
            log.debug("credentials endpoint: resolution failed: %s", type(exc).__name__)
            return 503, _error("resolution_failed", f"{type(exc).__name__} while resolving the credentials")
        origin = _origin(creds)
        if origin != self._origin:
            # The dashboard file or the environment changed under a running child (a link
            # now names another profile, another role, another account): do not switch it
            # to other keys halfway through its work.
            return 503, _error(
                "source_changed",
                f"the credentials now come from {_describe(origin)}, not from "
                f"{_describe(self._origin)} as when the command started; "
                "run it again",
            )
        if creds.expiration is None:
            creds = attrs.evolve(creds, expiration=self._clock() + STATIC_EXPIRY)
        log.debug("credentials endpoint: served %s from %s", creds.key_hint, creds.source)
        return 200, container_json(creds, creds.role_arn)

    def __enter__(self) -> Self:
        listener = BoundedListener(
            self._dispatch, max_connections=self._max_connections, head_timeout=self._head_timeout
        )
        listener.start()
        self._listener = listener
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _dispatch(self, sock: socket.socket, head: bytes) -> None:
        """Answer a refusal at once; give a request with the token a thread of its own."""
        if not _bears_token(head, self):
            _answer(_Exchange(self, head, io_timeout=_REFUSAL_IO_TIMEOUT), sock)
            return
        if not self._child_requests.acquire(blocking=False):
            _answer(_Exchange(self, head, io_timeout=_REFUSAL_IO_TIMEOUT, busy=True), sock)
            return
        try:
            threading.Thread(
                target=self._serve_child, args=(sock, head), name="sls-access-credentials-request", daemon=True
            ).start()
        except BaseException:
            self._child_requests.release()
            raise

    def _serve_child(self, sock: socket.socket, head: bytes) -> None:
        try:
            _answer(_Exchange(self, head, io_timeout=_CHILD_IO_TIMEOUT), sock)
        finally:
            self._child_requests.release()


def _error(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message}).encode()
