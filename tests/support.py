"""Test support: a moto STS server on loopback, a counting proxy in front of it, a clock."""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# A fault is a function of the STS action that returns None (forward to moto),
# (status, body) to answer instead, or "close" to drop the connection.
Fault = Callable[[str], "tuple[int, bytes] | str | None"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackHTTP:
    """A threaded HTTP server for *handler* on a free loopback port, until :meth:`close`.

    The one way tests stand up an HTTP peer (a proxy, a token endpoint, a stub service)::

        with LoopbackHTTP(Handler) as server:
            urlopen(server.url)
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LoopbackHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server in a subprocess on a free loopback port; yield its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class StsProxy:
    """A thin HTTP proxy that counts STS actions and can inject faults.

    Used only to observe calls and to produce faults a real server cannot (a refusal
    on demand, a dropped connection); every forwarded request is answered by moto.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, str]] = []
        self.fault: Fault | None = None
        # When set, AssumeRole responses say the keys expire DurationSeconds after this
        # clock's now (moto uses the real time), so tests can simulate hours.
        self.clock: Callable[[], datetime] | None = None
        # Every AssumeRole key id handed out, with the expiry the client was told.
        self.issued: dict[str, datetime] = {}
        # Connections by serial number: how many requests each carried since the last reset
        # (accepted since, or used since: a kept-alive one from before shows up when used).
        self.connections: dict[int, int] = {}
        self._accepted = itertools.count()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # The head and the body leave in two writes: without TCP_NODELAY, the second waits
                # for the client's delayed ACK of the first (~40 ms) on every kept-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with proxy._lock:
                    self.serial = next(proxy._accepted)
                    proxy.connections[self.serial] = 0

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
                params.update(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                action = params.get("Action", "?")
                with proxy._lock:
                    proxy.calls[action] += 1
                    proxy.requests.append(params)
                    proxy.connections[self.serial] = proxy.connections.get(self.serial, 0) + 1
                fault = proxy.fault(action) if proxy.fault else None
                if fault == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(fault, tuple):
                    status, payload = fault
                    self._reply(status, payload, [("Content-Type", "text/xml")])
                    return
                host, port = proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port
                conn = http.client.HTTPConnection(host, port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                conn.close()
                if action in ("AssumeRole", "AssumeRoleWithWebIdentity") and resp.status == 200:
                    payload = proxy._note_issued(payload, int(params.get("DurationSeconds") or 3600))
                keep = [
                    (k, v)
                    for k, v in resp.getheaders()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding")
                ]
                self._reply(resp.status, payload, keep)

            def _reply(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_GET = _handle

        self._http = LoopbackHTTP(Handler)
        self.url = self._http.url

    def _note_issued(self, payload: bytes, duration: int) -> bytes:
        text = payload.decode()
        if self.clock is not None:
            expiry = (self.clock() + timedelta(seconds=duration)).astimezone(UTC)
            stamp = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
            text = re.sub(r"<Expiration>[^<]*</Expiration>", f"<Expiration>{stamp}</Expiration>", text)
        key = re.search(r"<AccessKeyId>([^<]*)</AccessKeyId>", text)
        when = re.search(r"<Expiration>([^<]*)</Expiration>", text)
        if key and when:
            with self._lock:
                self.issued[key.group(1)] = datetime.fromisoformat(when.group(1).replace("Z", "+00:00"))
        return text.encode()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests.clear()
            self.connections.clear()
            self.issued.clear()
        self.fault = None
        self.clock = None

    def close(self) -> None:
        self._http.close()


def sts_error(code: str, message: str, status: int = 403) -> tuple[int, bytes]:
    """An STS error response, as STS would send it."""
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )
    return status, body.encode()


ANSWER_SECRET = "answer-secret-0123456789abcdefghijklmnopq"


def assume_role_answer(
    assumed_arn: str | None,
    *,
    secret: str = ANSWER_SECRET,
    lifetime: timedelta = timedelta(hours=1),
    action: str = "AssumeRole",
) -> tuple[int, bytes]:
    """A well-formed *action* answer whose role is *assumed_arn* (no ``AssumedRoleUser`` when None).

    For what no real STS sends: the keys of a role in another account than the one asked for.
    """
    expiration = (datetime.now(UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = (
        ""
        if assumed_arn is None
        else (
            f"<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:sls</AssumedRoleId><Arn>{assumed_arn}</Arn></AssumedRoleUser>"
        )
    )
    body = (
        f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>'
        f"<Credentials><AccessKeyId>ASIAANSWER0000000001</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
        f"<SessionToken>answer-token-0123456789</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
        f"{user}</{action}Result>"
        "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return 200, body.encode()


class FakeClock:
    """An injectable clock: real UTC time plus a shift the test advances."""

    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, **delta: float) -> None:
        self.shift += timedelta(**delta)


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    """Stop *proc* if it still runs: SIGTERM, then SIGKILL after 15 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class DashboardServer:
    """``sls-access serve`` in a subprocess on a free loopback port (the real uvicorn server).

    Its environment is the test's at start (so its STS is the loopback one); its audit
    lines (stdout) and logs (stderr) go to files in *workdir*.
    """

    def __init__(
        self,
        dashboard: Path,
        workdir: Path,
        *,
        workers: int = 1,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.dashboard = dashboard
        self.preexec_fn = preexec_fn
        self.extra_args = extra_args or []
        self.env = env
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def keys_path(self) -> Path:
        return self.dashboard.with_name(f"{self.dashboard.stem}.keys.json")

    def start(self) -> DashboardServer:
        """Start it (with an empty key file first when there is none: ``serve`` refuses a missing one)."""
        if not self.keys_path.exists():
            self.keys_path.write_text('{"version": 1, "keys": []}\n')
        return self._launch(
            ["--dashboard", str(self.dashboard)], dict(os.environ) if self.env is None else self.env, 30
        )

    def _launch(self, given: list[str], env: dict[str, str], start_within: float) -> DashboardServer:
        """Run ``sls-access serve`` with *given* arguments; return once ``/healthz`` answers 200."""
        self._starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = (self.workdir / f"server-{self._starts}.out").open("wb")
        err = (self.workdir / f"server-{self._starts}.err").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sls_access.cli",
                "serve",
                *given,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                *self.extra_args,
            ],
            stdout=out,
            stderr=err,
            env=env,
            preexec_fn=self.preexec_fn,  # noqa: PLW1509 - only sets a resource limit
        )
        out.close()
        err.close()
        deadline = time.monotonic() + start_within
        while True:
            try:
                status, _, _ = self.get("/healthz", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.stderr()}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def stdout(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in sorted(self.workdir.glob("server-*.out")))

    def stderr(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in sorted(self.workdir.glob("server-*.err")))

    def audit(self) -> list[dict[str, object]]:
        """The audit lines written so far, parsed."""
        return [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        """GET *path* (sent as is, not normalised); return status, headers and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def credentials(
        self, org: str, app: str, stage: str, key: str | None, query: str = ""
    ) -> tuple[int, dict[str, object]]:
        """GET a target's credentials with *key*; return status and the JSON body."""
        path = f"/v1/orgs/{org}/apps/{app}/stages/{stage}/credentials{query}"
        status, _, body = self.get(path, {} if key is None else {"Authorization": key})
        return status, json.loads(body)


_T = TypeVar("_T")


def in_threads(n: int, call: Callable[[], _T]) -> tuple[list[_T], list[BaseException]]:
    """Run *call* in *n* threads released together; return what they got and what they raised."""
    barrier = threading.Barrier(n)
    results: list[_T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


class PluginSite:
    """A directory on ``sys.path`` where tests install plugins as packages would be installed.

    Each plugin is a module and a dist-info declaring it in the ``sls_access`` entry-point
    group, so that discovery, names, versions and loading are the real ones.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.modules: list[str] = []

    def install(
        self, entry: str, code: str, *, dist: str | None = None, module: str | None = None, version: str = "2.0.1"
    ) -> None:
        """Install *code* as the plugin *entry* (the entry-point name) of distribution *dist*."""
        module = module or f"sls_access_test_{entry.replace('-', '_')}"
        dist = dist or f"sls-access-test-{entry}"
        (self.path / f"{module}.py").write_text(textwrap.dedent(code))
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[sls_access]\n{entry} = {module}\n")
        self.modules.append(module)

    def module(self, entry: str) -> ModuleType:
        """Return the imported module of the plugin *entry* (installed with the default module name)."""
        return sys.modules[f"sls_access_test_{entry.replace('-', '_')}"]

    def forget(self) -> None:
        """Unimport every module installed here."""
        for name in self.modules:
            sys.modules.pop(name, None)


def make_ca(directory: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a certificate it signed for *hosts*; return the CA, cert and key paths."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sls-access test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class _LoopbackTls:
    """A listener on loopback whose TLS connections' requests are forwarded to *upstream* (plain HTTP)."""

    url: str

    def __init__(self, upstream: str, cert: Path, key: Path) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _forward(self, tls: ssl.SSLSocket, counted: Callable[[], None] = lambda: None) -> None:
        """Answer each request on *tls* with upstream's answer, until the client hangs up."""
        stream = tls.makefile("rb")
        while request := stream.readline():
            method, path, _ = request.decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (header := stream.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = header.decode().partition(":")
                headers[name.strip()] = value.strip()
            body = stream.read(int(headers.get("Content-Length") or headers.get("content-length") or 0))
            counted()
            upstream = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
            upstream.request(method, path, body=body, headers=headers)
            resp = upstream.getresponse()
            payload = resp.read()
            upstream.close()
            out = [f"HTTP/1.1 {resp.status} {resp.reason}"]
            out += [
                f"{k}: {v}"
                for k, v in resp.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            ]
            out += [f"Content-Length: {len(payload)}", "", ""]
            tls.sendall("\r\n".join(out).encode() + payload)

    def close(self) -> None:
        self.sock.close()


class TlsProxy(_LoopbackTls):
    """An HTTPS proxy (CONNECT) that terminates TLS with *cert* and sends every request to *upstream*.

    Lets a tool that cannot be pointed at another endpoint (the Serverless Framework's AWS
    SDK v2 calls sts.amazonaws.com) talk to the loopback STS: it trusts the CA through
    ``NODE_EXTRA_CA_CERTS``. Every host it was asked for is in :attr:`hosts`; a request
    that is not CONNECT is refused, so nothing goes past it.
    """

    def __init__(self, upstream: str, cert: Path, key: Path) -> None:
        self.hosts: list[str] = []
        super().__init__(upstream, cert, key)
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        # A client that hangs up or fails the handshake ends its connection, not the test.
        with contextlib.suppress(OSError, ValueError), conn:
            reader = conn.makefile("rb")
            line = reader.readline().decode()
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            method, target, _ = line.split(" ", 2)
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.hosts.append(target)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self._forward(tls)


class TlsFront(_LoopbackTls):
    """A TLS endpoint on loopback, ``https://localhost:PORT``, that forwards each request to *upstream*.

    :attr:`connections` holds, per TLS connection completed, the number of requests it carried.
    """

    def __init__(self, upstream: str, cert: Path, key: Path) -> None:
        self.connections: list[int] = []
        super().__init__(upstream, cert, key)
        self.url = f"https://localhost:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError), self.context.wrap_socket(conn, server_side=True) as tls:
            number = len(self.connections)
            self.connections.append(0)

            def counted() -> None:
                self.connections[number] += 1

            self._forward(tls, counted)


AWSCLI = "awscli>=1.33"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on *path*: parallel runs build the AWS CLI's venv once."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_aws_cli(base: Path) -> Path:
    """Return the ``aws`` of the AWS CLI v1 in ``base/venv``, installed there the first time.

    A virtual environment of its own, so that its pinned botocore never meets ours. The
    tests keep it in pytest's cache directory; the benchmarks use the same one.
    """
    venv = base / "venv"
    aws = venv / "bin" / "aws"
    ready = venv / "sls-access-ready"
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / "lock"):
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    AWSCLI,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if pip.returncode != 0:
                raise RuntimeError(f"could not install {AWSCLI} into {venv}:\n{pip.stderr}")
            ready.write_text(AWSCLI)
    return aws


def console_script() -> Path:
    """The installed ``sls-access`` console script of the Python running the tests."""
    return Path(sys.executable).parent / "sls-access"


class AgentProcesses:
    """The agents of one test's agent directory: started, found by their lock file, killed.

    An agent started on demand by ``credential-process`` is detached (its own session):
    the test learns its pid from the lock file it holds (``agent.lock``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "agent.sock"
        self.started: list[subprocess.Popen[str]] = []

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``sls-access agent run ARGS`` (stderr piped) and wait until it listens."""
        proc = subprocess.Popen(
            [str(console_script()), "agent", "run", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.started.append(proc)
        self.wait_listening(proc)
        return proc

    def wait_listening(self, proc: subprocess.Popen[str] | None = None, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError("the agent did not start")
            time.sleep(0.02)

    def pid(self) -> int | None:
        """The pid of the agent holding the lock, or None when none holds it."""
        lock = self.directory / "agent.lock"
        if not lock.exists():
            return None
        with lock.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read().strip()
                return int(text) if text else None
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    def stop_all(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()


def _pg_bin() -> Path:
    """Debian's PostgreSQL binaries, the newest installed version (``/usr/lib/postgresql/N/bin``)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


class PostgresCluster:
    """A throwaway PostgreSQL server: initdb + pg_ctl as the unprivileged ``postgres`` user.

    In a fresh temporary directory, listening on 127.0.0.1 only (a random free port, its
    socket in that directory), a password for the superuser (so that tests can check it
    never shows). :meth:`stop` and :meth:`start` stop and start the same cluster (the
    "state goes away" tests); :meth:`destroy` removes it. A missing server fails.
    """

    user = "postgres"

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise RuntimeError(f"PostgreSQL is not installed ({PG_BIN / tool} missing): apt-get install postgresql")
        import pwd  # noqa: PLC0415 - POSIX only

        account = pwd.getpwnam(self.user)
        self.password = "pw-" + os.urandom(9).hex()
        self.dir = Path(tempfile.mkdtemp(prefix="sls-access-pg-"))
        os.chown(self.dir, account.pw_uid, account.pw_gid)
        self.data = self.dir / "data"
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
        )
        pwfile.unlink()
        self.port = free_port()
        self.start()

    def _run(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", self.user, "--", *args], check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self) -> str:
        """Create an empty database; return its URL."""
        import psycopg  # noqa: PLC0415 - the server extra

        name = "t_" + os.urandom(6).hex()
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class StateServer(DashboardServer):
    """``sls-access serve --state URL`` (profiles and links from the state unless *dashboard* is given).

    *state* None: no ``--state`` (the default state, or ``SLS_ACCESS_STATE``).
    """

    def __init__(
        self,
        state: str | None,
        workdir: Path,
        *,
        dashboard: Path | None = None,
        workers: int = 1,
        extra_args: list[str] | None = None,
    ) -> None:
        super().__init__(dashboard or workdir / "unused.toml", workdir, workers=workers, extra_args=extra_args)
        self.state = state
        self.state_dashboard = dashboard

    def start(self) -> StateServer:
        given = [] if self.state_dashboard is None else ["--dashboard", str(self.state_dashboard)]
        # The state URL (a PostgreSQL one carries a password) in the environment, as a
        # deployment passes it: serve refuses a password on its command line.
        env = {**os.environ, "SLS_ACCESS_STATE": self.state} if self.state is not None else dict(os.environ)
        self._launch(given, env, 60)
        return self


def until(check: Callable[[], bool], deadline: float, what: str) -> None:
    """Poll *check* every 20 ms until it holds; fail after *deadline* seconds (a contract, not a speed figure)."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(0.02)
