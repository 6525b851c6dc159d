"""The STS client's warm-up at startup: a rehearsal answered in process, a connection opened ahead.

STS is the loopback moto behind the counting proxy, which also counts the connections it
accepts and the requests each carried; a proxy, where one is needed, is a bare listener
that counts what reaches it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from support import StsProxy, TlsFront, free_port, make_ca

from sls_access._sts_client import WARM_UP_DEADLINE, RoleAssumer
from sls_access._target import Target
from sls_access._warm_up import open_connection, rehearse
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError

PROFILE = DeploymentProfile(name="deploy", role_arn="arn:aws:iam::123456789012:role/deploy")
TARGET = Target(org="acme", app="shop", stage="prod")


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    until = time.monotonic() + seconds
    while not condition() and time.monotonic() < until:
        time.sleep(0.01)


def test_prepare_sends_nothing_and_leaves_one_connection_open(sts: StsProxy) -> None:
    RoleAssumer().prepare()
    _wait_until(lambda: len(sts.connections) > 0)
    time.sleep(0.1)  # anything sent on it would be counted by now
    assert list(sts.connections.values()) == [0]
    assert sts.calls == {}


def test_the_first_assume_role_after_prepare_uses_the_connection_opened_ahead(sts: StsProxy) -> None:
    assumer = RoleAssumer()
    assumer.prepare()
    creds = assumer.assume(TARGET, PROFILE, source=None)
    assert creds.access_key_id.startswith("ASIA")
    assert list(sts.connections.values()) == [1]
    assert sts.calls["AssumeRole"] == 1


def test_prepare_leaves_the_thread_it_ran_on_idle_for_the_first_call(sts: StsProxy) -> None:
    assumer = RoleAssumer()
    assumer.prepare()
    assert assumer._calls.idle_threads == 1
    assumer.assume(TARGET, PROFILE, source=None)
    assert assumer._calls.idle_threads == 1  # the same thread: none started for the call


def test_prepare_is_silent_when_sts_cannot_be_reached(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    assumer = RoleAssumer()
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="sls_access"):
        assumer.prepare()
    assert time.monotonic() - started < WARM_UP_DEADLINE
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in caplog.records if r.name == "sls_access._warm_up"] == [
        "cannot open the STS connection ahead of time: NewConnectionError"]
    with pytest.raises(AccessRoleError, match="could not be reached"):
        assumer.assume(TARGET, PROFILE, source=None)


def test_prepare_without_base_credentials_is_silent_and_opens_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                      sts: StsProxy) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    RoleAssumer().prepare()
    time.sleep(0.1)
    assert sts.connections == {}
    assert sts.calls == {}


@pytest.fixture
def listener() -> Iterator[list[bytes]]:
    """A bare loopback listener: what each connection to it sent (an empty entry when nothing)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                try:
                    received.append(conn.recv(65536))
                except TimeoutError:
                    received.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    received.append(f"{server.getsockname()[1]}".encode())  # its port, first
    yield received
    stop.set()
    thread.join(5)
    server.close()


def test_no_connection_is_opened_ahead_through_a_proxy(monkeypatch: pytest.MonkeyPatch, sts: StsProxy,
                                                       listener: list[bytes]) -> None:
    port = listener.pop(0).decode()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    RoleAssumer().prepare()
    time.sleep(0.6)
    assert listener == []  # the proxy saw no connection
    assert sts.connections == {}


def test_the_rehearsal_returns_the_url_its_request_would_have_gone_to(sts: StsProxy) -> None:
    client = RoleAssumer()._client(None)
    url = rehearse(client)
    assert url is not None
    assert url.startswith(sts.url)
    assert sts.calls == {}


def test_a_call_made_during_the_rehearsal_is_sent_to_sts(sts: StsProxy) -> None:
    # The rehearsal answers its own request only: a real AssumeRole made on the same client
    # while the rehearsal's answer is in place goes to STS.
    client = RoleAssumer()._client(None)
    answered: list[str] = []

    def meanwhile(request: Any, **_kwargs: Any) -> None:
        if b"sls-access-warm-up" in cast("bytes", request.body.encode() if isinstance(request.body, str)
                                         else request.body) and not answered:
            def real() -> None:
                response = client.assume_role(RoleArn=PROFILE.role_arn, RoleSessionName="real")
                answered.append(response["Credentials"]["AccessKeyId"])

            thread = threading.Thread(target=real)
            thread.start()
            thread.join(10)

    client.meta.events.register("before-send.sts.AssumeRole", meanwhile)
    assert rehearse(client) is not None
    assert len(answered) == 1
    assert answered[0] in sts.issued  # STS's own keys, not the rehearsal's
    assert sts.calls["AssumeRole"] == 1


def test_open_connection_refuses_a_url_that_is_not_http(sts: StsProxy) -> None:
    client = RoleAssumer()._client(None)
    assert open_connection(client, "ftp://127.0.0.1/") is False
    assert sts.connections == {}


@pytest.fixture
def tls_sts(tmp_path: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TlsFront, Path]]:
    """STS over https (a throwaway CA's certificate for localhost); the CA file is returned, not yet trusted."""
    ca, cert, key = make_ca(tmp_path, ["localhost"])
    front = TlsFront(sts.url, cert, key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)
    yield front, ca
    front.close()


def test_over_https_the_connection_opened_ahead_is_verified_and_used_by_the_first_call(
        tls_sts: tuple[TlsFront, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    front, ca = tls_sts
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    assumer = RoleAssumer()
    assumer.prepare()
    _wait_until(lambda: len(front.connections) > 0)
    assert front.connections == [0]  # the handshake done, nothing sent
    assumer.assume(TARGET, PROFILE, source=None)
    assert front.connections == [1]


def test_over_https_an_untrusted_certificate_leaves_no_connection_and_the_call_fails(
        tls_sts: tuple[TlsFront, Path], sts: StsProxy) -> None:
    front, _ = tls_sts  # its CA not trusted: botocore's own bundle only
    assumer = RoleAssumer()
    assumer.prepare()  # silent
    with pytest.raises(AccessRoleError, match="SSLError"):
        assumer.assume(TARGET, PROFILE, source=None)
    assert front.connections == []  # no handshake completed, ahead or since
    assert sts.calls == {}
