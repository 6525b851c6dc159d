"""The SDK's HTTP dashboard backend against the real service process (``sls-access serve``).

``dashboard=<url>`` + ``access_key`` resolves through the service; only its no-link answer
(404, ``code`` ``no_link``) lets the chain go on; any other 404, refusals, server errors,
timeouts, redirects and an unreachable service fail closed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import ClassVar, cast

import pytest
from conftest import BASE_KEY_ID
from mypy_boto3_sts import STSClient
from support import DashboardServer, LoopbackHTTP, StsProxy, free_port, sts_error
from trickle import Trickler

import sls_access
from sls_access import ConfigError, DashboardError, Outcome, Resolver, Target
from sls_access.dashboard.http import DashboardService
from sls_access.plugin import Skip
from sls_access.service.keys import KeyStore


def new_key(server: DashboardServer, org: str = "acme", name: str = "ci") -> str:
    return KeyStore(server.keys_path).create(org, name)[1]


def vends(server: DashboardServer) -> int:
    return sum(1 for line in server.audit() if line["outcome"] == "vended")


def test_the_service_vends_the_linked_role_to_the_sdk(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=dashboard_server.url, access_key=new_key(dashboard_server))
    session = resolver.session("acme", "shop", "prod", region="eu-west-1")
    arn = cast("STSClient", session.create_client("sts")).get_caller_identity()["Arn"]
    assert "333333333333:assumed-role/sls-access-eu/sls-acme.shop.prod" in arn
    creds = resolver.credentials("acme", "shop", "prod", region="eu-west-1")
    assert creds.source == "dashboard"
    assert creds.expiration is not None
    assert creds.region == "eu-west-1"
    assert creds.role_arn == "arn:aws:iam::333333333333:role/sls-access-eu"  # the answer's RoleArn


def test_the_access_key_comes_from_serverless_access_key(
    dashboard_server: DashboardServer, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVERLESS_ACCESS_KEY", new_key(dashboard_server, "solo"))
    monkeypatch.setenv("SLS_ACCESS_DASHBOARD", dashboard_server.url + "/")
    creds = Resolver().credentials("solo", "api", "dev")
    assert creds.source == "dashboard"
    assert creds.access_key_id != BASE_KEY_ID


def test_keys_are_cached_by_the_client(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=dashboard_server.url, access_key=new_key(dashboard_server))
    first = resolver.credentials("acme", "shop", "prod")
    second = resolver.credentials("acme", "shop", "prod")
    assert first == second
    assert vends(dashboard_server) == 1


def test_no_link_at_the_service_lets_the_chain_go_on(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=dashboard_server.url, access_key=new_key(dashboard_server, "solo"))
    resolution = resolver.explain("solo", "api", "prod")
    assert resolution.source == "env"
    assert resolution.credentials is not None
    assert resolution.credentials.access_key_id == BASE_KEY_ID
    dashboard_entry = resolution.trail[0]
    assert dashboard_entry.source == "dashboard"
    assert dashboard_entry.outcome is Outcome.SKIPPED
    assert "no link" in dashboard_entry.reason


@pytest.mark.parametrize(("org_of_key", "status"), [(None, 401), ("solo", 403)])
def test_a_refused_key_fails_closed(
    dashboard_server: DashboardServer, sts: StsProxy, org_of_key: str | None, status: int
) -> None:
    key = "sls_0123456789ab_" + "x" * 43 if org_of_key is None else new_key(dashboard_server, org_of_key)
    resolver = Resolver(dashboard=dashboard_server.url, access_key=key)
    with pytest.raises(DashboardError) as raised:
        resolver.credentials("acme", "shop", "prod")
    assert raised.value.status == status
    assert key not in str(raised.value)
    assert key.split("_", 2)[2] not in repr(resolver)


def test_a_role_the_service_cannot_assume_fails_closed(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=dashboard_server.url, access_key=new_key(dashboard_server))
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    with pytest.raises(DashboardError, match="could not assume the access role") as raised:
        resolver.credentials("acme", "shop", "prod")
    assert raised.value.status == 502
    assert raised.value.resolution is not None
    assert raised.value.resolution.source is None  # env keys were there, and not used


def test_an_unreachable_service_fails_closed() -> None:
    resolver = Resolver(dashboard=f"http://127.0.0.1:{free_port()}", access_key="k")
    with pytest.raises(DashboardError, match="unreachable"):
        resolver.credentials("acme", "shop", "prod")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening socket that accepts and never answers (a hung service)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_a_service_that_does_not_answer_times_out(silent_port: int) -> None:
    client = DashboardService(f"http://127.0.0.1:{silent_port}", "k", timeout=0.3, deadline=1)
    with pytest.raises(DashboardError, match="timed out"):
        client.credentials(Target(org="acme", app="shop", stage="prod"))


def test_a_service_nobody_listens_at_is_named_and_connection_refused_said_in_words() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(DashboardError) as info:
        DashboardService(url, "k").credentials(Target(org="acme", app="shop", stage="prod"))
    message = str(info.value)
    assert message.startswith(f"the dashboard service at {url} is unreachable: connection refused")
    assert "Errno" not in message
    assert "ConnectionRefusedError" not in message


class _Redirecting(BaseHTTPRequestHandler):
    """Stub: a service answering with a redirect (ours never does; only a stub can)."""

    seen: ClassVar[list[str | None]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        if self.path.startswith("/elsewhere"):
            self.send_response(200)
            self.end_headers()
            return
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve *handler* on a loopback port; yield the base URL."""
    with LoopbackHTTP(handler) as server:
        yield server.url


def test_redirects_are_not_followed() -> None:
    with serving(_Redirecting) as url:
        client = DashboardService(url, "the-key")
        with pytest.raises(DashboardError) as raised:
            client.credentials(Target(org="acme", app="shop", stage="prod"))
    assert raised.value.status == 302
    assert _Redirecting.seen == ["Bearer the-key"]


def answering(status: int, body: bytes, content_type: str) -> type[BaseHTTPRequestHandler]:
    """Stub: whatever stands at the URL (a proxy, another app) answering every GET the same way."""

    class Answering(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Answering


PROXY_PAGE = b"<html><body><h1>404 Not Found</h1><p>proxy-page-marker</p></body></html>"
OTHER_404S = [
    ("html-page", PROXY_PAGE, "text/html"),
    ("json-not-found", b'{"code": "not_found", "message": "no such route"}', "application/json"),
    ("empty", b"", "application/json"),
    ("json-without-code", b'{"message": "no link"}', "application/json"),
    ("old-error-key", b'{"error": "no_link", "message": "no link"}', "application/json"),
    ("code-in-other-case", b'{"code": "NO_LINK"}', "application/json"),
    ("json-not-an-object", b'["no_link"]', "application/json"),
    ("no-link-as-html", b"no_link", "text/html"),
]


@pytest.mark.parametrize(
    ("body", "content_type"), [case[1:] for case in OTHER_404S], ids=[case[0] for case in OTHER_404S]
)
def test_a_404_without_the_no_link_code_fails_closed(body: bytes, content_type: str) -> None:
    with serving(answering(404, body, content_type)) as url:
        client = DashboardService(url, "k")
        with pytest.raises(DashboardError, match="without its no_link code") as raised:
            client.credentials(Target(org="acme", app="shop", stage="prod"))
    assert raised.value.status == 404


def test_a_role_arn_that_is_not_one_is_a_malformed_answer() -> None:
    # Stub: our service sends the deployment profile's role ARN; only a stub sends another thing.
    body = json.dumps(
        {
            "AccessKeyId": "ASIAX",
            "SecretAccessKey": "s",
            "Token": "t",
            "Expiration": "2099-01-01T00:00:00Z",
            "RoleArn": "\x1b[31mforged",
        }
    ).encode()
    with serving(answering(200, body, "application/json")) as url:
        client = DashboardService(url, "k")
        with pytest.raises(DashboardError, match="malformed credentials answer"):
            client.credentials(Target(org="acme", app="shop", stage="prod"))


def test_a_proxy_page_is_not_quoted_in_the_error() -> None:
    with serving(answering(404, PROXY_PAGE, "text/html")) as url:
        client = DashboardService(url, "k")
        with pytest.raises(DashboardError) as raised:
            client.credentials(Target(org="acme", app="shop", stage="prod"))
    assert "proxy-page-marker" not in str(raised.value)


def test_a_service_message_is_quoted_short_and_on_one_line() -> None:
    body = json.dumps({"code": "not_found", "message": "\x1b[31mred\r\nforged line " + "x" * 1000}).encode()
    with serving(answering(404, body, "application/json")) as url:
        client = DashboardService(url, "k")
        with pytest.raises(DashboardError) as raised:
            client.credentials(Target(org="acme", app="shop", stage="prod"))
    text = str(raised.value)
    assert ("\x1b" in text, "\n" in text, "x" * 201 in text) == (False, False, False)
    assert "not_found: [31mred forged line xxx" in text


def test_the_service_under_a_wrong_base_path_fails_closed(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    client = DashboardService(dashboard_server.url + "/wrong", new_key(dashboard_server, "solo"))
    with pytest.raises(DashboardError, match="base path") as raised:
        client.credentials(Target(org="solo", app="api", stage="prod"))
    assert raised.value.status == 404


def test_a_wrong_base_path_does_not_fall_back_to_the_env_keys(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    with pytest.raises(DashboardError) as raised:
        sls_access.credentials("acme", "shop", "prod", dashboard=dashboard_server.url + "/wrong", access_key=key)
    assert raised.value.resolution is not None
    assert raised.value.resolution.source is None  # the env keys were there, and not used


@pytest.mark.parametrize(
    "url",
    [
        "http://dashboard.example.com",
        "ftp://127.0.0.1/",
        "https://",
        "https://user:pw@dashboard.example.com",
        "https://dashboard.example.com/?x=1",
    ],
)
def test_unsafe_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        DashboardService(url, "k")


@pytest.mark.parametrize(
    "url", ["ftp://user:url-secret@127.0.0.1/", "https://:url-secret@/", "htps://dashboard.example.com/?key=url-secret"]
)
def test_a_key_in_a_bad_url_is_not_echoed(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        DashboardService(url, "k")
    assert "url-secret" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["https://dashboard.example.com/base/", "http://127.0.0.2:9", "http://[::1]:9", "http://localhost:9"]
)
def test_https_anywhere_and_http_on_loopback_are_accepted(url: str) -> None:
    client = DashboardService(url, "k")
    assert client.credentials_url(Target(org="a b".replace(" ", "%"), app="x", stage="y", region="eu-west-1")).endswith(
        "/v1/orgs/a%25b/apps/x/stages/y/credentials?region=eu-west-1"
    )
    assert "k" not in repr(client).replace("kw", "")


def test_a_service_url_without_an_access_key_is_a_config_error(sts: StsProxy) -> None:
    with pytest.raises(ConfigError, match="SERVERLESS_ACCESS_KEY"):
        Resolver(dashboard="https://dashboard.example.com").credentials("acme", "shop", "prod")


def test_skip_carries_the_reason(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    client = DashboardService(dashboard_server.url, new_key(dashboard_server, "solo"))
    with pytest.raises(Skip, match="no link"):
        client.credentials(Target(org="solo", app="api", stage="prod"))


def test_a_loopback_service_is_reached_directly_even_with_a_proxy_set(
    dashboard_server: DashboardServer, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that would see the key: a closed port, so going through it would fail.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    client = DashboardService(dashboard_server.url, new_key(dashboard_server))
    assert client.credentials(Target(org="acme", app="shop", stage="prod")).source == "dashboard"


def test_trickled_headers_are_cut_off_at_the_deadline() -> None:
    trickler = Trickler()
    try:
        service = DashboardService(trickler.url, "k", timeout=2, deadline=3)
        started = time.monotonic()
        with pytest.raises(DashboardError, match="did not answer within 3 s"):
            service.credentials(Target(org="acme", app="shop", stage="prod"))
        assert 3 <= time.monotonic() - started < 5
    finally:
        trickler.close()
