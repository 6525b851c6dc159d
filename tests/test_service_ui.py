"""The web UI's HTTP contract against a real serve, without a browser: headers, cookies, sessions, CSRF."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from admin_support import ACCOUNT, Org
from support import StsProxy, until


class Client:
    """A cookie-keeping HTTP client of the UI (no redirects followed)."""

    def __init__(self, org: Org, headers: dict[str, str] | None = None) -> None:
        self.org = org
        self.jar: dict[str, str] = {}
        self.headers = headers or {}
        self.set_cookies: list[str] = []

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.org.server.port, timeout=30)
        headers = dict(self.headers)
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
            self.set_cookies = resp.headers.get_all("set-cookie") or []
            for raw in self.set_cookies:
                for name, morsel in SimpleCookie(raw).items():
                    if morsel.value:
                        self.jar[name] = morsel.value
                    else:
                        self.jar.pop(name, None)
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
        finally:
            conn.close()

    def csrf(self, text: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert found is not None
        return found.group(1)

    def sign_in(self, key: str) -> tuple[int, dict[str, str], str]:
        _, _, page = self.request("GET", "/ui/sign-in")
        return self.request("POST", "/ui/sign-in", {"key": key, "csrf_token": self.csrf(page)})


@pytest.fixture
def org(tmp_path: Path, sts: StsProxy) -> Iterator[Org]:
    with Org(tmp_path, extra_args=["--forwarded-allow-ips", "127.0.0.1"]) as served:
        yield served


def test_pages_have_a_strict_content_security_policy_and_no_script(org: Org) -> None:
    client = Client(org)
    assert client.sign_in(org.admin_key)[0] == 303
    for page in (
        "/ui/sign-in",
        "/ui/profiles",
        "/ui/profiles/prod",
        "/ui/profiles/prod/aws",
        "/ui/links",
        "/ui/keys",
        "/ui/audit",
    ):
        status, headers, text = client.request("GET", page)
        assert status in {200, 303}, page
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert "<script" not in text.lower()
        assert not re.search(r"\son[a-z]+=", text)  # no inline event handlers either


def test_the_session_cookie_is_httponly_strict_and_never_the_key(org: Org) -> None:
    client = Client(org)
    status, headers, _ = client.sign_in(org.admin_key)
    assert (status, headers["location"]) == (303, "/ui/profiles")
    (session,) = [c for c in client.set_cookies if c.startswith("sls_access_session=")]
    assert "HttpOnly" in session
    assert "SameSite=Strict" in session
    assert "Path=/ui/" in session
    assert "Secure" not in session  # plain http on loopback
    assert org.admin_key not in session
    assert org.admin_key.split("_")[2] not in session
    assert "Max-Age=28800" in session  # 8 hours


def test_behind_tls_the_cookie_is_secure(org: Org) -> None:
    client = Client(org, {"X-Forwarded-Proto": "https"})
    client.sign_in(org.admin_key)
    (session,) = [c for c in client.set_cookies if c.startswith("sls_access_session=")]
    assert session.endswith("; Secure")


def test_a_deploy_key_and_a_wrong_key_are_refused(org: Org) -> None:
    status, _, text = Client(org).sign_in(org.deploy_key)
    assert status == 403
    assert "a deploy key cannot use" in text
    status, _, text = Client(org).sign_in("sls_000000000000_" + "C" * 43)
    assert status == 401


def test_sign_in_without_its_csrf_token_is_refused(org: Org) -> None:
    client = Client(org)
    client.request("GET", "/ui/sign-in")
    status, _, text = client.request("POST", "/ui/sign-in", {"key": org.admin_key})
    assert status == 403
    assert "csrf_token" in text
    assert "sls_access_session" not in client.jar


def test_a_form_without_its_csrf_token_changes_nothing(org: Org) -> None:
    client = Client(org)
    client.sign_in(org.admin_key)
    status, _, text = client.request("POST", "/ui/keys", {"name": "sneaky", "role": "admin"})
    assert status == 403
    assert "csrf_token is missing or wrong" in text
    status, _, _ = client.request("POST", "/ui/keys", {"name": "sneaky", "role": "admin", "csrf_token": "x" * 43})
    assert status == 403
    with org.store() as store:
        assert "sneaky" not in {k.name for k in store.list_keys(org.name)}


def test_a_session_ends_when_its_key_is_revoked(org: Org) -> None:
    client = Client(org)
    client.sign_in(org.admin_key)
    assert client.request("GET", "/ui/keys")[0] == 200
    with org.store() as store:
        store.revoke_key(org.name, "lead")
    # A revocation reaches every worker within a second (its copy of the state).
    until(lambda: client.request("GET", "/ui/keys")[0] == 303, 5, "the session ended")
    status, headers, _ = client.request("GET", "/ui/keys")
    assert (status, headers["location"]) == (303, "/ui/sign-in")


def test_sign_out_ends_the_session_on_the_server(org: Org) -> None:
    client = Client(org)
    client.sign_in(org.admin_key)
    token = client.jar["sls_access_session"]
    _, _, page = client.request("GET", "/ui/keys")
    assert client.request("POST", "/ui/sign-out", {"csrf_token": client.csrf(page)})[0] == 303
    replay = Client(org)
    replay.jar["sls_access_session"] = token
    assert replay.request("GET", "/ui/keys")[1]["location"] == "/ui/sign-in"


def test_a_session_expires(tmp_path: Path, sts: StsProxy) -> None:
    with Org(tmp_path, extra_args=["--session-hours", "0.0005"]) as org:  # 1.8 s
        client = Client(org)
        client.sign_in(org.admin_key)
        assert client.request("GET", "/ui/keys")[0] == 200
        time.sleep(2.5)
        assert client.request("GET", "/ui/keys")[1]["location"] == "/ui/sign-in"


def test_no_ui_turns_the_pages_off_and_keeps_the_admin_api(tmp_path: Path, sts: StsProxy) -> None:
    with Org(tmp_path, extra_args=["--no-ui"]) as org:
        status, _, _ = Client(org).request("GET", "/ui/sign-in")
        assert status == 404
        assert org.call("GET", "/keys")[0] == 200


def test_with_a_dashboard_file_under_review_the_pages_show_the_toml_to_commit(tmp_path: Path, sts: StsProxy) -> None:
    with Org(tmp_path, edit=False) as org:
        before = org.dashboard.read_bytes()
        client = Client(org)
        client.sign_in(org.admin_key)
        status, _, page = client.request("GET", "/ui/profiles")
        assert "managed by the dashboard file" in page
        assert "Show the TOML to commit" in page
        status, _, page = client.request(
            "POST",
            "/ui/profiles",
            {"csrf_token": client.csrf(page), "name": "new", "role_arn": f"arn:aws:iam::{ACCOUNT}:role/n"},
        )
        assert status == 200
        assert "TOML to commit" in page
        assert f"[orgs.{org.name}.deployment_profiles.new]\nrole_arn = &#34;arn:aws:iam::{ACCOUNT}:role/n&#34;" in page
        assert org.dashboard.read_bytes() == before


def test_protected_stages_are_set_from_the_links_page_and_shown(org: Org) -> None:
    client = Client(org)
    client.sign_in(org.admin_key)
    _, _, page = client.request("GET", "/ui/links")
    status, headers, _ = client.request(
        "POST", "/ui/links/protected", {"csrf_token": client.csrf(page), "app": "shop", "stages": "prod"}
    )
    assert (status, headers["location"]) == (303, "/ui/links")
    with org.store() as store:
        assert store.protected_stages(org.name, app="shop") == ("prod",)
    _, _, page = client.request("GET", "/ui/links")
    assert "app shop: prod" in page
    status, _, page = client.request(
        "POST", "/ui/links/protected", {"csrf_token": client.csrf(page), "app": "shop", "stages": "prod, dev"}
    )
    assert status == 400
    (error,) = re.findall(r"<p class=\"error\" role=\"alert\">([^<]*)</p>", page)
    assert error.startswith("apps.shop.protected_stages: stage &#39;dev&#39; is protected but has no link of its own")
    with org.store() as store:
        assert store.protected_stages(org.name, app="shop") == ("prod",)
