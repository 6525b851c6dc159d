"""The sls-access-oidc plugin, installed with pip as a user would (the nox session does it).

STS is moto's server (its AssumeRoleWithWebIdentity accepts any token); a loopback HTTP
server stands in for GitHub Actions' OIDC token endpoint. The jobs have no AWS keys.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from support import FakeClock, LoopbackHTTP, StsProxy, assume_role_answer, sts_error

from sls_access import AccessRoleError, Resolver

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

REQUEST_TOKEN = "gh-request-token-0123456789abcdef"  # the runner's bearer secret


class TokenEndpoint:
    """Stands in for ``ACTIONS_ID_TOKEN_REQUEST_URL``: hands out a new token per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], str]] = []
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                endpoint.requests.append((query, self.headers.get("Authorization", "")))
                if self.headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
                    self.send_error(401)
                    return
                if endpoint.status != 200:
                    self.send_error(endpoint.status)
                    return
                body = json.dumps({"count": 1, "value": endpoint.token(len(endpoint.requests))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = LoopbackHTTP(Handler)
        self.url = f"{self._http.url}/_apis/token?api-version=2.0"

    @staticmethod
    def token(n: int) -> str:
        return f"eyJhbGciOiJSUzI1NiJ9.github-oidc-token-{n}.c2lnbmF0dXJl"

    def close(self) -> None:
        self._http.close()


@pytest.fixture(autouse=True)
def _installed() -> None:
    try:
        importlib.metadata.distribution("sls-access-oidc")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("sls-access-oidc is not installed: pip install ./plugins/sls-access-oidc (nox -s tests does it)")


@pytest.fixture(autouse=True)
def no_aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI job with an OIDC token and no AWS keys at all."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", endpoint.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    yield endpoint
    endpoint.close()


def test_installed_as_a_distribution_in_the_entry_point_group() -> None:
    info = {p.name: p for p in Resolver().plugins}["oidc"]
    assert (info.distribution, info.version, info.builtin) == ("sls-access-oidc", "0.1.0", False)
    assert info.module == "sls_access_oidc.plugin"
    assert info.hooks == ("sls_access_enter_role",)
    assert info.sources == ()


def test_github_actions_token_enters_the_linked_role_without_aws_keys(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy
) -> None:
    session = Resolver(dashboard=str(dashboard)).session("acme", "shop", "dev")
    assert sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert sts.calls["AssumeRole"] == 0
    request = next(r for r in sts.requests if r["Action"] == "AssumeRoleWithWebIdentity")
    assert request["RoleArn"] == "arn:aws:iam::444444444444:role/sls-access-shop"  # the app's link
    assert request["RoleSessionName"] == "sls-acme.shop.dev"
    assert request["WebIdentityToken"] == TokenEndpoint.token(1)
    assert request["DurationSeconds"] == "3600"
    assert "ExternalId" not in request
    ((query, authorization),) = github.requests
    assert query["audience"] == "sts.amazonaws.com"
    assert query["api-version"] == "2.0"
    assert authorization == f"bearer {REQUEST_TOKEN}"
    client = cast("STSClient", session.create_client("sts"))
    arn = client.get_caller_identity()["Arn"]
    assert arn == "arn:aws:sts::444444444444:assumed-role/sls-access-shop/sls-acme.shop.dev"


def test_the_dashboard_mapping_is_kept(github: TokenEndpoint, dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    creds = resolver.credentials("acme", "shop", "prod", region="eu-west-1")
    assert creds.region == "eu-west-1"
    assert creds.source == "dashboard"
    resolver.credentials("solo", "api", "dev")
    arns = [r["RoleArn"] for r in sts.requests if r["Action"] == "AssumeRoleWithWebIdentity"]
    assert arns == ["arn:aws:iam::333333333333:role/sls-access-eu", "arn:aws:iam::555555555555:role/solo"]


def test_the_audience_is_configurable(github: TokenEndpoint, dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLS_ACCESS_OIDC_AUDIENCE", "sls-access.example.com")
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert github.requests[0][0]["audience"] == "sls-access.example.com"


def test_each_refresh_presents_a_fresh_token(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy, clock: FakeClock
) -> None:
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    first = resolver.credentials("acme", "shop", "dev")
    clock.advance(minutes=47)  # inside the refresh window, before expiry
    second = resolver.credentials("acme", "shop", "dev")
    assert first.access_key_id != second.access_key_id
    tokens = [r["WebIdentityToken"] for r in sts.requests if r["Action"] == "AssumeRoleWithWebIdentity"]
    assert tokens == [TokenEndpoint.token(1), TokenEndpoint.token(2)]
    assert len(github.requests) == 2


def test_a_token_file_is_read_anew_each_time(
    tmp_path: Path, dashboard: Path, sts: StsProxy, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-one\n")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    resolver = Resolver(dashboard=str(dashboard), clock=clock)
    resolver.credentials("acme", "shop", "dev")
    token_file.write_text("file-token-two")  # rotated in place, as EKS and CI runners do
    clock.advance(minutes=47)
    resolver.credentials("acme", "shop", "dev")
    tokens = [r["WebIdentityToken"] for r in sts.requests if r["Action"] == "AssumeRoleWithWebIdentity"]
    assert tokens == ["file-token-one", "file-token-two"]


def test_a_token_in_a_named_variable_gitlab_id_tokens(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_OIDC_TOKEN_VAR", "GITLAB_OIDC_TOKEN")
    monkeypatch.setenv("GITLAB_OIDC_TOKEN", "gitlab-id-token")
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.requests[-1]["WebIdentityToken"] == "gitlab-id-token"


def test_the_named_variable_wins_over_the_others(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_OIDC_TOKEN_VAR", "GITLAB_OIDC_TOKEN")
    monkeypatch.setenv("GITLAB_OIDC_TOKEN", "gitlab-id-token")
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.requests[-1]["WebIdentityToken"] == "gitlab-id-token"
    assert github.requests == []


def test_a_named_variable_that_is_unset_fails_closed(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_ACCESS_OIDC_TOKEN_VAR", "GITLAB_OIDC_TOKEN")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALKEYS0000001")  # there to be fallen back to
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    with pytest.raises(
        AccessRoleError, match="plugin 'oidc': SLS_ACCESS_OIDC_TOKEN_VAR names GITLAB_OIDC_TOKEN, which is not set"
    ):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.calls["AssumeRole"] == 0


def test_without_a_token_source_the_builtin_assume_role_runs(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALKEYS0000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert (sts.calls["AssumeRole"], sts.calls["AssumeRoleWithWebIdentity"]) == (1, 0)


def test_disable_plugins_switches_it_off(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALKEYS0000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    Resolver(dashboard=str(dashboard), disable_plugins="oidc").credentials("acme", "shop", "dev")
    assert (sts.calls["AssumeRole"], sts.calls["AssumeRoleWithWebIdentity"]) == (1, 0)
    assert github.requests == []


def test_a_failing_token_endpoint_fails_closed_naming_the_plugin(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.status = 503
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALKEYS0000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    with pytest.raises(
        AccessRoleError,
        match="plugin 'oidc': GitHub Actions' OIDC token endpoint "
        r"\(audience sts.amazonaws.com\) answered HTTP 503",
    ) as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert REQUEST_TOKEN not in str(info.value)
    assert sts.calls == {}


def test_sts_refusing_the_token_is_an_access_role_error_with_its_code(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy
) -> None:
    sts.fault = lambda action: sts_error("InvalidIdentityToken", "Incorrect token audience", 400)
    with pytest.raises(
        AccessRoleError, match="plugin 'oidc': STS said InvalidIdentityToken: Incorrect token audience"
    ) as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert info.value.code == "InvalidIdentityToken"
    assert TokenEndpoint.token(1) not in str(info.value)


def test_keys_of_a_role_outside_the_profiles_account_are_refused(
    github: TokenEndpoint, dashboard: Path, sts: StsProxy
) -> None:
    # A stub answer: a real STS cannot enter a role in another account than its ARN names.
    text = dashboard.read_text()
    shop_role = 'role_arn = "arn:aws:iam::444444444444:role/sls-access-shop"\n'
    dashboard.write_text(text.replace(shop_role, f'{shop_role}account_id = "444444444444"\n'))
    other = "arn:aws:sts::999999999999:assumed-role/sls-access-shop/sls-acme.shop.dev"
    sts.fault = lambda action: (
        assume_role_answer(other, action=action) if action == "AssumeRoleWithWebIdentity" else None
    )
    with pytest.raises(AccessRoleError, match=r"plugin 'oidc': .*not in the deployment profile's account 444444444444"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.calls["AssumeRoleWithWebIdentity"] == 1


def test_a_plain_http_endpoint_that_is_not_loopback_is_refused(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch, sts: StsProxy
) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://token.example.com/_apis/token")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    with pytest.raises(AccessRoleError, match="ACTIONS_ID_TOKEN_REQUEST_URL must be an https:// URL"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.calls == {}


def test_half_a_github_setup_is_an_error(dashboard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example.com/_apis/token")
    with pytest.raises(AccessRoleError, match="ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")


def test_debug_logs_carry_no_token_and_no_key(
    github: TokenEndpoint, dashboard: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        creds = Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "AssumeRoleWithWebIdentity" in text  # botocore did log the call
    for secret in (TokenEndpoint.token(1), REQUEST_TOKEN, creds.secret_access_key, creds.session_token or "?"):
        assert secret not in text
