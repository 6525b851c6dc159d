"""The faults of the reliability matrix: how each one is injected, in one place.

STS is moto's server behind the counting proxy of :mod:`support`; the faults are made
by that proxy (an answer instead of moto's, a dropped connection, a delay, a rewritten
expiry) or by :class:`Gate`, a TCP relay in front of it that can be shut so that the
port refuses connections (STS unreachable). botocore is never mocked.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import timedelta

import botocore.config
from support import FakeClock, Fault, StsProxy, sts_error

# What the tests give botocore instead of the library's limits (5 s connect, 10 s read,
# 3 attempts), so that a slow STS costs seconds, not minutes. Same retry mode.
TEST_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"total_max_attempts": 2, "mode": "standard"},
    user_agent_extra="sls-access",
)
MAX_ATTEMPTS = 2
SLOW_SECONDS = 2.5  # beyond TEST_CLIENT_CONFIG's read timeout

# A truncated AssumeRole answer: parses as nothing, yet carries a secret that must
# never reach an error message or a log record.
TRUNCATED_SECRET = "TruncatedSecretKey0000aaaabbbbccccddddeeee"
TRUNCATED_TOKEN = "TruncatedSessionToken1111ffffgggghhhhiiii"
TRUNCATED_BODY = (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
    "<Credentials><AccessKeyId>ASIATRUNCATED0000001</AccessKeyId>"
    f"<SecretAccessKey>{TRUNCATED_SECRET}</SecretAccessKey><SessionToken>{TRUNCATED_TOKEN}"
).encode()


class Gate:
    """A TCP relay to *upstream*; :meth:`shut` closes it and every connection through it.

    After :meth:`shut` the port refuses connections: STS is unreachable, for clients
    that had a pooled connection as well as for new ones.
    """

    def __init__(self, upstream: str) -> None:
        # Every byte STS sent back through the gate: where the secret scan learns
        # which keys were issued, even to other processes (the CLI).
        self.received = bytearray()
        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._shut = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._shut.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._shut.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for src, dst, record in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, record), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self.received += data
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def issued_secrets(self) -> set[str]:
        """Every secret key and session token that STS sent through this gate."""
        with self._lock:
            text = self.received.decode("utf-8", "replace")
        return set(re.findall(r"<(?:SecretAccessKey|SessionToken)>([^<]+)</", text))

    def shut(self) -> None:
        """Stop relaying: close the listening port and every open connection."""
        self._shut.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()


def _only_assume_role(answer: Callable[[], tuple[int, bytes] | str | None]) -> Fault:
    def fault(action: str) -> tuple[int, bytes] | str | None:
        return answer() if action == "AssumeRole" else None

    return fault


def _slow() -> None:
    time.sleep(SLOW_SECONDS)  # then moto answers, too late


def inject(name: str, sts: StsProxy, gate: Gate, clock: FakeClock) -> None:
    """Start fault *name* (one of :data:`FAULTS`) on the loopback STS."""
    if name == "unreachable":
        gate.shut()
    elif name == "dropped":
        sts.fault = _only_assume_role(lambda: "close")
    elif name == "slow":
        sts.fault = _only_assume_role(_slow)
    elif name == "5xx":
        sts.fault = _only_assume_role(lambda: sts_error("ServiceUnavailable", "try again later", 503))
    elif name == "throttling":
        sts.fault = _only_assume_role(lambda: sts_error("Throttling", "Rate exceeded", 400))
    elif name == "access-denied":
        sts.fault = _only_assume_role(
            lambda: sts_error("AccessDenied", "User is not authorized to perform: sts:AssumeRole", 403)
        )
    elif name == "malformed":
        sts.fault = _only_assume_role(lambda: (200, TRUNCATED_BODY))
    elif name == "expired-on-arrival":
        # The proxy rewrites Expiration to DurationSeconds after this clock's now: an hour ago.
        sts.clock = lambda: clock() - timedelta(hours=2)
    else:
        raise ValueError(name)


def clear(sts: StsProxy, clock: FakeClock) -> None:
    """End any proxy fault (a shut gate stays shut); expiries follow *clock* again."""
    sts.fault = None
    sts.clock = clock


# Each fault, and whether botocore retries it (bounded by MAX_ATTEMPTS) or not.
FAULTS: dict[str, bool] = {
    "unreachable": True,
    "dropped": True,
    "slow": True,
    "5xx": True,
    "throttling": True,
    "access-denied": False,
    "malformed": False,
    "expired-on-arrival": False,
}

# The codes STS answers with, per fault, for the error's ``code`` attribute.
CODES: dict[str, str | None] = {
    "5xx": "ServiceUnavailable",
    "throttling": "Throttling",
    "access-denied": "AccessDenied",
}
