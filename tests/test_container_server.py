"""The loopback credentials endpoint ``exec`` serves: answers, refusals, failures, closing; over real HTTP."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import struct
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import botocore.credentials
import botocore.session
import pytest
from support import FakeClock, StsProxy

from sls_access import AccessRoleError, Credentials, Resolver, Target
from sls_access.cli._container_server import STATIC_EXPIRY, ContainerEndpoint

SECRET = "endpoint-secret-0123456789abcdefghijklmnopq"
TOKEN = "endpoint-token-FwoGZXIvYXdzEJr//////////wEaDM+/="
ROLE_KEYS = Credentials(
    access_key_id="ASIAROLEKEY000000001",
    secret_access_key=SECRET,
    session_token=TOKEN,
    expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    source="dashboard",
    region="eu-west-1",
)


def get(
    endpoint: ContainerEndpoint, *, path: str | None = None, token: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    headers = {} if token is None else {"Authorization": token}
    conn.request(method, endpoint.path if path is None else path, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, json.loads(raw) if raw else {}


@pytest.fixture
def endpoint(clock: FakeClock) -> Iterator[ContainerEndpoint]:
    with ContainerEndpoint(lambda: ROLE_KEYS, clock=clock, first=ROLE_KEYS) as started:
        yield started


def test_the_path_with_the_token_gets_the_keys_in_the_container_format(endpoint: ContainerEndpoint) -> None:
    status, body = get(endpoint, token=endpoint.token)
    assert status == 200
    assert body == {
        "AccessKeyId": "ASIAROLEKEY000000001",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": "2030-01-02T03:04:05Z",
        "Region": "eu-west-1",
    }


def test_the_url_is_loopback_with_a_random_path(clock: FakeClock, endpoint: ContainerEndpoint) -> None:
    url = urllib.parse.urlsplit(endpoint.variables()["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", "127.0.0.1", endpoint.port, endpoint.path)
    with ContainerEndpoint(lambda: ROLE_KEYS, clock=clock, first=ROLE_KEYS) as other:
        assert (other.path, other.token) != (endpoint.path, endpoint.token)
    assert len(endpoint.path) > 20
    assert endpoint.variables()["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == endpoint.token


def test_a_missing_token_is_401(endpoint: ContainerEndpoint) -> None:
    status, body = get(endpoint)
    assert (status, body["code"]) == (401, "unauthorized")


def test_a_wrong_token_is_401_even_on_the_right_path(endpoint: ContainerEndpoint) -> None:
    status, body = get(endpoint, token=endpoint.token[:-1] + "x")
    assert status == 401
    assert "AccessKeyId" not in body


def test_a_wrong_token_on_another_path_is_401_too(endpoint: ContainerEndpoint) -> None:
    # Without the token, a caller cannot even tell the right path from a wrong one.
    assert get(endpoint, path="/other", token="nope")[0] == 401


def test_another_path_with_the_token_is_404(endpoint: ContainerEndpoint) -> None:
    status, body = get(endpoint, path=endpoint.path + "x", token=endpoint.token)
    assert (status, body["code"]) == (404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_is_answered(endpoint: ContainerEndpoint, method: str) -> None:
    status, body = get(endpoint, token=endpoint.token, method=method)
    assert (status, body["code"]) == (405, "method_not_allowed")


def test_a_failing_resolution_is_503_with_a_json_error_and_no_keys(clock: FakeClock) -> None:
    def load() -> Credentials:
        raise AccessRoleError(
            "AccessDenied: not trusted",
            target=Target(org="acme", app="shop", stage="prod"),
            deployment_profile="prod",
            role_arn="arn:aws:iam::111111111111:role/x",
        )

    with ContainerEndpoint(load, first=ROLE_KEYS, clock=clock) as endpoint:
        status, body = get(endpoint, token=endpoint.token)
    assert status == 503
    assert body["code"] == "resolution_failed"
    assert "AccessDenied" in str(body["message"])
    assert "AccessKeyId" not in body


def test_an_unexpected_failure_is_503_without_its_message(clock: FakeClock) -> None:
    def load() -> Credentials:
        raise RuntimeError(f"something with {SECRET} in it")

    with ContainerEndpoint(load, first=ROLE_KEYS, clock=clock) as endpoint:
        status, body = get(endpoint, token=endpoint.token)
    assert status == 503
    assert SECRET not in json.dumps(body)


def test_keys_from_another_source_than_at_the_start_are_refused(clock: FakeClock) -> None:
    # The link was removed from the dashboard file while the child runs: env keys now apply.
    env_keys = Credentials(access_key_id="AKIAENVKEY0000000001", secret_access_key="env-secret", source="env")
    with ContainerEndpoint(lambda: env_keys, first=ROLE_KEYS, clock=clock) as endpoint:
        status, body = get(endpoint, token=endpoint.token)
    assert (status, body["code"]) == (503, "source_changed")
    assert "AKIAENVKEY0000000001" not in json.dumps(body)


def test_keys_of_another_role_from_the_same_source_are_refused(clock: FakeClock) -> None:
    # The link now names another deployment profile (another account) while the child runs.
    started = attrs.evolve(ROLE_KEYS, role_arn="arn:aws:iam::111111111111:role/sls-access", dashboard="dash.toml")
    moved = attrs.evolve(started, role_arn="arn:aws:iam::222222222222:role/sls-access")
    with ContainerEndpoint(lambda: moved, first=started, clock=clock) as endpoint:
        status, body = get(endpoint, token=endpoint.token)
    assert (status, body["code"]) == (503, "source_changed")
    assert "222222222222" in str(body["message"])
    assert moved.access_key_id not in json.dumps(body)


def test_keys_without_expiry_are_served_with_one(clock: FakeClock) -> None:
    static = Credentials(access_key_id="AKIAENVKEY0000000001", secret_access_key="env-secret", source="env")
    with ContainerEndpoint(lambda: static, first=static, clock=clock) as endpoint:
        status, body = get(endpoint, token=endpoint.token)
    assert status == 200
    expected = (clock() + STATIC_EXPIRY).astimezone(UTC)
    served = datetime.fromisoformat(str(body["Expiration"]).replace("Z", "+00:00"))
    assert abs(served - expected) < timedelta(seconds=5)


def test_the_endpoint_closes_when_the_block_ends(clock: FakeClock) -> None:
    with ContainerEndpoint(lambda: ROLE_KEYS, clock=clock, first=ROLE_KEYS) as endpoint:
        port = endpoint.port
        assert get(endpoint, token=endpoint.token)[0] == 200
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", "/")
    assert endpoint.port is None


def test_neither_token_nor_keys_are_logged(caplog: pytest.LogCaptureFixture, endpoint: ContainerEndpoint) -> None:
    caplog.set_level(logging.DEBUG)
    get(endpoint, token=endpoint.token)
    get(endpoint, token="wrong")
    assert "served ****0001 from dashboard" in caplog.text
    for secret in (endpoint.token, endpoint.path, SECRET, TOKEN):
        assert secret not in caplog.text
    assert endpoint.token not in repr(endpoint)


def test_botocore_reads_a_resolvers_role_keys_from_it(
    dashboard: Path, sts: StsProxy, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    first = resolver.credentials("acme", "shop", "prod")
    with ContainerEndpoint(lambda: resolver.credentials("acme", "shop", "prod"), clock=clock, first=first) as endpoint:
        for name, value in endpoint.variables().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        session = botocore.session.Session()
        credentials = session.get_credentials()
        assert isinstance(credentials, botocore.credentials.RefreshableCredentials)
        assert credentials.method == "container-role"
        assert credentials.get_frozen_credentials().access_key == first.access_key_id
    assert sts.calls["AssumeRole"] == 1


# Under attack from other local users: the endpoint runs in a process of its own (as in
# `exec`), with a low descriptor limit, and this test is the other user on loopback.
ENDPOINT_PROCESS = """
import json, resource, sys
from datetime import UTC, datetime
from sls_access import Credentials
from sls_access.cli._container_server import ContainerEndpoint
keys = Credentials(access_key_id="ASIAROLEKEY000000001", secret_access_key="s" * 40, session_token="t" * 40,
                   expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), source="dashboard")
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
with ContainerEndpoint(lambda: keys, clock=lambda: datetime.now(UTC), first=keys) as endpoint:
    print(json.dumps({"port": endpoint.port, "path": endpoint.path, "token": endpoint.token}), flush=True)
    sys.stdin.read()
"""


@attrs.frozen
class Remote:
    port: int
    path: str
    token: str

    def get(self, token: str | None = None) -> int:
        """GET the keys path (with the token unless another is given); the status, within 10 s or an error."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", self.path, headers={"Authorization": self.token if token is None else token})
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                assert json.loads(body)["AccessKeyId"] == "ASIAROLEKEY000000001"
            return response.status
        finally:
            conn.close()


@pytest.fixture
def remote(request: pytest.FixtureRequest) -> Iterator[tuple[Remote, subprocess.Popen[str]]]:
    limit = getattr(request, "param", 1024)
    process = subprocess.Popen(
        [sys.executable, "-c", ENDPOINT_PROCESS, str(limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.communicate(timeout=10)[1]
        yield Remote(**json.loads(line)), process
    finally:
        if process.poll() is None:  # the test ended before finish(): stop it, close the pipes
            process.kill()
            process.communicate(timeout=10)


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """Open up to *count* connections that never send a byte, until three in a row are not accepted in 0.5 s."""
    sockets: list[socket.socket] = []
    refused = 0
    while len(sockets) < count and refused < 3:
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            refused = 0
        except OSError:  # a full backlog drops a connect now and then; three in a row: it accepts no more
            refused += 1
    return sockets


def reset(port: int, data: bytes) -> None:
    """Connect, send *data*, and close with a TCP reset (SO_LINGER 0) instead of a FIN."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def finish(process: subprocess.Popen[str]) -> str:
    """End the endpoint's process; return what it wrote on stderr."""
    _, err = process.communicate(input="", timeout=10)
    assert process.returncode == 0, err
    return err


# With 64 descriptors a thread per connection ran out of them and spun in accept(); with 40,
# fewer than the endpoint's cap on waiting connections, accept() runs out of them too.
@pytest.mark.parametrize("remote", [64, 40], indirect=True, ids=["fd-limit-64", "fd-limit-40"])
def test_a_thousand_idle_connections_do_not_keep_the_child_from_its_keys(
    remote: tuple[Remote, subprocess.Popen[str]],
) -> None:
    endpoint, process = remote
    idle = idle_connections(endpoint.port, 1000)
    try:
        assert endpoint.get() == 200  # the client's 10 s timeout bounds it (was: timed out)
        assert endpoint.get(token="wrong") == 401
        assert endpoint.get() == 200
    finally:
        for sock in idle:
            sock.close()
    assert finish(process) == ""


def test_connection_resets_print_nothing(remote: tuple[Remote, subprocess.Popen[str]]) -> None:
    endpoint, process = remote
    for _ in range(5):
        reset(endpoint.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # mid-head
        reset(endpoint.port, b"GET / HTTP/1.1\r\nAuthorization: wrong\r\n\r\n")  # before the 401 is read
        reset(endpoint.port, f"GET {endpoint.path} HTTP/1.1\r\nAuthorization: {endpoint.token}\r\n\r\n".encode())
    assert endpoint.get() == 200
    assert finish(process) == ""


def test_a_connection_that_sends_its_head_too_slowly_is_closed(clock: FakeClock) -> None:
    with ContainerEndpoint(lambda: ROLE_KEYS, clock=clock, first=ROLE_KEYS, head_timeout=0.2) as endpoint:
        assert endpoint.port is not None
        sock = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert sock.recv(1024) == b""  # closed by the endpoint, without an answer
        sock.close()
        assert get(endpoint, token=endpoint.token)[0] == 200


def test_connections_beyond_the_cap_close_the_oldest_waiting_one(clock: FakeClock) -> None:
    with ContainerEndpoint(lambda: ROLE_KEYS, clock=clock, first=ROLE_KEYS, max_connections=3) as endpoint:
        assert endpoint.port is not None
        first = socket.create_connection(("127.0.0.1", endpoint.port), timeout=10)
        others = [socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) for _ in range(3)]
        assert first.recv(1024) == b""  # the fourth connection closed the oldest waiting one
        assert get(endpoint, token=endpoint.token)[0] == 200
        for sock in (first, *others):
            sock.close()
