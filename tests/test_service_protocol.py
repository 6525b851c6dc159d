"""The service's connection limits, against the real ``sls-access serve`` over loopback sockets.

Slow and greedy peers are plain sockets in the test; each test is bounded in time. The
header deadline is 10 s (``_protocol.HEADER_TIMEOUT``), so two of these tests take ~10 s.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import DashboardServer, free_port

from sls_access import ConfigError
from sls_access.service import _protocol
from sls_access.service.app import create_app
from sls_access.service.run import BACKLOG


@pytest.fixture(params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, dashboard: Path, tmp_path: Path) -> Iterator[DashboardServer]:
    running = DashboardServer(dashboard, tmp_path, extra_args=["--http", request.param]).start()
    yield running
    running.stop()


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_headers_not_complete_in_time_are_answered_408_and_closed(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer, elapsed = trickle_until_answered(sock, 25)  # one header byte a second: never complete
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert _protocol.HEADER_TIMEOUT - 1 <= elapsed <= _protocol.HEADER_TIMEOUT + 4


def read_response(sock: socket.socket) -> bytes:
    """Read one whole answer (head and Content-Length body), leaving the connection open."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def trickle_until_answered(sock: socket.socket, bound: float) -> tuple[bytes, float]:
    """Send one header byte a second until the server answers or closes; return what came and when."""
    started = time.monotonic()
    sock.settimeout(1)
    answer = b""
    while time.monotonic() - started < bound:
        try:
            sock.sendall(b"X")
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
    return answer, time.monotonic() - started


def test_a_later_request_on_a_kept_alive_connection_has_the_same_deadline(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer, elapsed = trickle_until_answered(sock, 25)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert _protocol.HEADER_TIMEOUT - 1 <= elapsed <= _protocol.HEADER_TIMEOUT + 4


def test_an_idle_kept_alive_connection_is_closed_after_15_s(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_response(sock)
        started = time.monotonic()
        rest = read_all(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert rest == b""
    assert 14 <= elapsed <= 19


def test_a_connection_that_sends_nothing_is_closed(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        elapsed = time.monotonic() - started
    assert _protocol.HEADER_TIMEOUT - 1 <= elapsed <= _protocol.HEADER_TIMEOUT + 4
    assert server.get("/healthz")[0] == 200


def test_an_endless_header_is_cut_off_before_it_is_buffered(server: DashboardServer) -> None:
    # 40 MiB of one header line that never ends: the server must close long before reading it all.
    chunk = b"a" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            while sent < 40 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # EPIPE or ECONNRESET once the server has closed
            pass
    assert sent < 8 << 20
    assert server.get("/healthz")[0] == 200


def test_a_header_over_the_cap_is_answered_431(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (_protocol.MAX_HEADER_BYTES + 1))
        assert read_all(sock).startswith(b"HTTP/1.1 431 ")


def read_until(sock: socket.socket, marker: bytes, count: int, seconds: float = 10.0) -> bytes:
    """Read from *sock* until *marker* was seen *count* times, the peer closed, or *seconds* passed."""
    answer = b""
    deadline = time.monotonic() + seconds
    while answer.count(marker) < count and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def test_200_pipelined_requests_all_get_their_answers(server: DashboardServer) -> None:
    # ~24 KiB of small requests at once, more than the header cap, most of it arriving while
    # earlier answers are in flight: none of it is header bytes of an unfinished request.
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 80 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request * 200)
        answer = read_until(sock, b'{"status":"ok"}', 200)
    assert 200 * len(request) > _protocol.MAX_HEADER_BYTES
    assert answer.count(b"HTTP/1.1 200 ") == 200
    assert answer.endswith(b'{"status":"ok"}')  # the last answer whole


def test_pipelined_requests_behind_a_held_answer_do_not_cut_it_off(server: DashboardServer) -> None:
    # The first request is a wrong key past the free failures (held 0.25 s); the 200
    # requests behind it arrive while it is in flight.
    credentials = "/v1/orgs/acme/apps/shop/stages/prod/credentials"
    for _ in range(6):
        assert server.get(credentials, {"Authorization": "wrong"})[0] == 401
    held = f"GET {credentials} HTTP/1.1\r\nHost: x\r\nAuthorization: wrong\r\n\r\n".encode()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 80 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(held)
        time.sleep(0.05)
        sock.sendall(request * 200)
        answer = read_until(sock, b'{"status":"ok"}', 200)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert answer.count(b"HTTP/1.1 200 ") == 200


def test_slow_sockets_do_not_starve_a_normal_client(dashboard: Path, tmp_path: Path) -> None:
    # Descriptors for 20 connections and one accept burst; 400 slow sockets would need more.
    limit = 20 + BACKLOG + 64

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    server = DashboardServer(dashboard, tmp_path, extra_args=["--max-connections", "20"],
                             preexec_fn=low_limit).start()
    slow: list[socket.socket] = []
    try:
        for _ in range(400):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
            slow.append(sock)
        time.sleep(0.5)
        statuses = [server.get("/healthz", timeout=5)[0] for _ in range(5)]
    finally:
        for sock in slow:
            sock.close()
        server.stop()
    assert statuses == [200] * 5
    assert "Too many open files" not in server.stderr()


def test_a_uvicorn_without_what_the_guard_uses_fails_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_protocol, "_NEEDED", (*_protocol._NEEDED, "header_deadline_task"))
    with pytest.raises(ConfigError, match="header_deadline_task"):
        _protocol.check("h11")


def test_serve_refuses_more_connections_than_descriptors(dashboard: Path) -> None:
    dashboard.with_name("dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    result = subprocess.run([sys.executable, "-m", "sls_access.cli", "serve", "--dashboard", str(dashboard),
                             "--port", str(free_port()), "--max-connections", "1000"],
                            capture_output=True, text=True, timeout=60, check=False,
                            preexec_fn=low_limit)
    assert result.returncode == 2
    assert "--max-connections 1000 needs 1320 file descriptors" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_default_connection_limit_is_lowered_to_what_the_descriptors_fit(dashboard: Path) -> None:
    dashboard.with_name("dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (600, 600))

    with subprocess.Popen([sys.executable, "-m", "sls_access.cli", "serve", "--dashboard", str(dashboard),
                           "--port", str(free_port())],
                          stderr=subprocess.PIPE, text=True, preexec_fn=low_limit) as server:  # noqa: PLW1509
        assert server.stderr is not None
        first = server.stderr.readline()
        server.terminate()
    assert "fits 280 connections per worker, not 1000: serving with --max-connections 280" in first


class RecordingTransport(asyncio.Transport):
    """A stub transport that records each ``write``: a real socket cannot show how many writes an answer took."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(b"(after close) " if self.closed else bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def run_protocol(http: str, app: ASGIApp, data: bytes, *, after: float = 0.05,
                 during: Callable[[RecordingTransport], None] | None = None,
                 transport: RecordingTransport | None = None) -> RecordingTransport:
    """Feed *data* to the guarded protocol for *http* serving *app*; run the loop *after* seconds."""
    import uvicorn  # noqa: PLC0415
    from uvicorn.server import ServerState  # noqa: PLC0415

    cls = _protocol.GuardedH11 if http == "h11" else _protocol.GuardedHttpTools
    config = uvicorn.Config(app, lifespan="off", log_config=None, limit_concurrency=10)
    config.load()
    loop = asyncio.new_event_loop()
    transport = transport or RecordingTransport()
    try:
        protocol = cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        protocol.connection_made(transport)
        protocol.data_received(data)

        async def wait() -> None:
            await asyncio.sleep(after)
            if during is not None:
                during(transport)

        loop.run_until_complete(wait())
        protocol.connection_lost(None)
    finally:
        loop.close()
    return transport


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_an_answer_leaves_in_one_write(http: str, dashboard: Path) -> None:
    dashboard.with_name("dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')
    transport = run_protocol(http, create_app(dashboard), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 ")
    assert transport.writes[0].endswith(b'\r\n\r\n{"status":"ok"}')


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_pipelined_answers_leave_one_write_each_in_order(http: str, dashboard: Path) -> None:
    dashboard.with_name("dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    transport = run_protocol(http, create_app(dashboard), request * 3 + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [write.split(b" ", 2)[1] for write in transport.writes] == [b"200", b"200", b"200", b"404"]
    assert all(write.count(b"HTTP/1.1") == 1 for write in transport.writes)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_streamed_answers_head_is_not_held_until_its_body(http: str) -> None:
    async def slow_body(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"done"})

    seen: list[list[bytes]] = []
    run_protocol(http, slow_body, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", after=0.1,
                 during=lambda transport: seen.append(list(transport.writes)))
    assert len(seen[0]) == 1
    assert seen[0][0].startswith(b"HTTP/1.1 200 ")
    assert seen[0][0].endswith(b"\r\n\r\n")


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_body_past_the_hold_limit_is_written_at_once(http: str) -> None:
    big = b"x" * (_protocol.HOLD_BYTES + 1)

    async def large(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(2 * len(big)).encode())]})
        await send({"type": "http.response.body", "body": big, "more_body": True})
        written.append(sum(len(write) for write in transport.writes))
        await send({"type": "http.response.body", "body": big})

    written: list[int] = []
    transport = RecordingTransport()
    run_protocol(http, large, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", transport=transport)
    assert written[0] > len(big)  # the head and the first part left before the app sent the second
    assert b"".join(transport.writes).endswith(big + big)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_an_answer_that_closes_the_connection_is_written_before_the_close(http: str) -> None:
    async def closing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-length", b"2"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": b"no"})

    transport = run_protocol(http, closing, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.closed
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 429 ")
    assert transport.writes[0].endswith(b"\r\n\r\nno")


def test_a_connection_handed_to_another_protocol_is_written_through() -> None:
    # An upgrade (uvicorn's websocket protocols, when installed) takes the connection over.
    loop = asyncio.new_event_loop()
    try:
        transport = RecordingTransport()
        transport.set_protocol = lambda protocol: None  # type: ignore[method-assign]
        one = _protocol._OneWrite(transport, loop)
        one.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        one.set_protocol(asyncio.Protocol())
        one.write(b"frame")
        assert transport.writes == [b"HTTP/1.1 101 Switching Protocols\r\n\r\n", b"frame"]
    finally:
        loop.close()


def test_held_bytes_are_not_in_the_transports_repr() -> None:
    loop = asyncio.new_event_loop()
    try:
        one = _protocol._OneWrite(RecordingTransport(), loop)
        one.write(b'{"SecretAccessKey": "held-secret"}')
        assert "held-secret" not in repr(one)
        assert "held-secret" not in str(one)
    finally:
        loop.close()
