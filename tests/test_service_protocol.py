"""The service's connection limits, against the real ``sls-access serve`` over loopback sockets.

Slow and greedy peers are plain sockets in the test; each test is bounded in time. The
servers run with sub-second header and keep-alive timeouts (``--header-timeout``,
``--keep-alive-timeout``), so that the tests of those bounds wait a fraction of a second.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import DashboardServer, free_port

from sls_access import ConfigError
from sls_access.service import _protocol
from sls_access.service.run import BACKLOG

HEADER_TIMEOUT = 0.5
KEEP_ALIVE_TIMEOUT = 0.5
TRICKLE = 0.1
"""Seconds between the bytes of a trickled header: several per header timeout."""


@pytest.fixture(params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, dashboard: Path, tmp_path: Path) -> Iterator[DashboardServer]:
    running = DashboardServer(
        dashboard,
        tmp_path,
        extra_args=[
            "--http",
            request.param,
            "--header-timeout",
            str(HEADER_TIMEOUT),
            "--keep-alive-timeout",
            str(KEEP_ALIVE_TIMEOUT),
        ],
    ).start()
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
        answer = trickle_until_answered(sock, 10)  # a header byte every TRICKLE s: never complete
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "request_timeout"


def read_response(sock: socket.socket) -> bytes:
    """Read one whole answer (head and Content-Length body), leaving the connection open."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def trickle_until_answered(sock: socket.socket, bound: float) -> bytes:
    """Send one header byte every :data:`TRICKLE` s until the server answers or closes (at most *bound* s)."""
    started = time.monotonic()
    sock.settimeout(TRICKLE)
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
    return answer


def test_a_later_request_on_a_kept_alive_connection_has_the_same_deadline(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer = trickle_until_answered(sock, 10)
    assert first.startswith(b"HTTP/1.1 200 ")
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_response(sock)
        rest = read_all(sock)  # the server's close (the header guard waits for a first byte); a timeout raises
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert rest == b""


def test_a_connection_that_sends_nothing_is_closed(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert read_all(sock) == b""  # the server's close; the socket's timeout would raise
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

    server = DashboardServer(dashboard, tmp_path, extra_args=["--max-connections", "20"], preexec_fn=low_limit).start()
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

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sls_access.cli",
            "serve",
            "--dashboard",
            str(dashboard),
            "--port",
            str(free_port()),
            "--max-connections",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=low_limit,
    )
    assert result.returncode == 2
    assert "--max-connections 1000 needs 1320 file descriptors" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_default_connection_limit_is_lowered_to_what_the_descriptors_fit(dashboard: Path) -> None:
    dashboard.with_name("dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (600, 600))

    with subprocess.Popen(
        [sys.executable, "-m", "sls_access.cli", "serve", "--dashboard", str(dashboard), "--port", str(free_port())],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=low_limit,  # noqa: PLW1509
    ) as server:
        assert server.stderr is not None
        first = server.stderr.readline()
        server.terminate()
    assert "fits 280 connections per worker, not 1000: serving with --max-connections 280" in first


def test_a_request_with_both_content_length_and_transfer_encoding_closes_the_connection(
    server: DashboardServer,
) -> None:
    # RFC 9112 section 6.3: a proxy that frames by Content-Length would take the pipelined
    # request for this one's body, so nothing after it may be answered on this connection.
    smuggled = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(smuggled)
        answer = read_all(sock)  # the server's close; the socket's timeout would raise
    assert answer.count(b"HTTP/1.1 ") == 1
    status = answer.split(b" ", 2)[1]
    assert status in {b"400", b"413"}  # httptools refuses the framing itself, h11 leaves it to the app
    assert b'{"status":"ok"}' not in answer
    assert b"connection: close" in answer.lower()


def test_a_body_on_a_request_closes_the_connection_after_its_413(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_a_request_the_parser_refuses_gets_the_json_error_shape(server: DashboardServer, request_bytes: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)
    assert error["code"] == "bad_request"
    assert isinstance(error["message"], str)
    assert error["message"]


@pytest.mark.parametrize("option", ["--header-timeout", "--keep-alive-timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_serve_refuses_a_timeout_that_is_not_a_positive_number(dashboard: Path, option: str, value: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sls_access.cli",
            "serve",
            "--dashboard",
            str(dashboard),
            "--port",
            str(free_port()),
            option,
            value,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{option} must be a positive number of seconds" in result.stderr
