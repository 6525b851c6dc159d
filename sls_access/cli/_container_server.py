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
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import attrs

from sls_access._container import container_json
from sls_access._credentials import Credentials
from sls_access.errors import SlsAccessError

__all__ = ["STATIC_EXPIRY", "ContainerEndpoint"]

log = logging.getLogger("sls_access.cli.exec")

STATIC_EXPIRY = timedelta(hours=1)
"""Keys that do not expire (env or profile keys) are served with this much ``Expiration``:
SDKs require one, and an earlier one only makes them ask again."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoint: ContainerEndpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "sls-access"
    sys_version = ""
    error_content_type = "application/json"
    # The base class's own errors (a malformed request line, an unknown method): JSON too,
    # without the base class's message, which can quote the request.
    error_message_format = '{"code": "http_%(code)d", "message": "the request was refused"}'

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: a request line holds the endpoint's path."""

    def do_GET(self) -> None:
        """Answer the child's SDK: the keys, or why not."""
        endpoint = self.server.endpoint
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), endpoint.token.encode()):
            self._json(401, {"code": "unauthorized", "message": "missing or wrong authorization token"})
            return
        if not hmac.compare_digest(self.path.encode("utf-8", "replace"), endpoint.path.encode()):
            self._json(404, {"code": "not_found", "message": "no such path"})
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
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


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

    Use as a context manager: the server runs in a daemon thread inside the block and is
    closed on leaving it.
    """

    def __init__(self, load: Callable[[], Credentials], *, clock: Callable[[], datetime], first: Credentials) -> None:
        self._load = load
        self._clock = clock
        self._origin = _origin(first)
        self.token = secrets.token_urlsafe(32)
        self.path = "/" + secrets.token_urlsafe(16)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ContainerEndpoint(port={self.port})"

    @property
    def port(self) -> int | None:
        """The port listened on, or None before the endpoint starts."""
        return None if self._server is None else int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The full URI the child's SDK reads (it holds the random path: treat it as a secret too)."""
        if self.port is None:
            raise RuntimeError("the endpoint is not started")
        return f"http://127.0.0.1:{self.port}{self.path}"

    def variables(self) -> dict[str, str]:
        """Return the environment variables that point an AWS SDK at this endpoint."""
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.token}

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
            return 503, _error("source_changed", f"the credentials now come from {_describe(origin)}, not from "
                                                 f"{_describe(self._origin)} as when the command started; "
                                                 "run it again")
        if creds.expiration is None:
            creds = attrs.evolve(creds, expiration=self._clock() + STATIC_EXPIRY)
        log.debug("credentials endpoint: served %s from %s", creds.key_hint, creds.source)
        return 200, container_json(creds, creds.role_arn)

    def __enter__(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.endpoint = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sls-access-credentials-endpoint", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _error(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message}).encode()
