"""The service on a SQL state, as real processes: ``serve`` replicas on loopback, STS = moto.

SQLite (the default state, shared by ``keys`` and ``serve`` with no ``--state``) for one
replica and the CLI; a real PostgreSQL (the session's server) for two replicas on one
database: a key made anywhere works everywhere, a revocation is in force on both within
the one-second contract, the failed-authentication throttle is shared, a web UI session
or a "Connect AWS" started on one replica goes on on the other (no sticky sessions), and a
state that goes away answers 503 ``state_unavailable`` until it comes back.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from admin_support import ACCOUNT, Org
from support import PostgresCluster, StateServer, StsProxy, in_threads, until
from test_service_ui import Client

from sls_access.dashboard.file import load_dashboard_file
from sls_access.service.store.base import Role
from sls_access.service.store.sql import SqlStore
from sls_access.service.store.url import default_state_url

PROD = ("acme", "shop", "prod")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sls_access.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[StateServer]]:
    """The replicas a test starts (stopped after it)."""
    started: list[StateServer] = []
    yield started
    for server in started:
        server.stop()


def seeded(url: str, dashboard: Path) -> SqlStore:
    """Open the state at *url* with the demo dashboard's profiles and links in it."""
    store = SqlStore(url)
    store.replace_dashboard(load_dashboard_file(dashboard))
    return store


# -- SQLite: one replica, the CLI, the default state


def test_keys_and_serve_share_the_default_state_without_any_option(
    dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    assert cli("dashboard", "import", str(dashboard)).returncode == 0
    created = cli("keys", "create", "--org", "acme", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[-1]
    assert default_state_url() in created.stdout
    server = StateServer(None, tmp_path / "a")
    servers.append(server.start())
    status, body = server.credentials(*PROD, key)
    assert status == 200, body
    assert body["RoleArn"] == "arn:aws:iam::111111111111:role/sls-access-prod"
    # The audit event is a row too, with the AWS key id CloudTrail shows; never the access key.
    store = SqlStore(default_state_url())
    try:
        until(lambda: any(e.outcome == "vended" for e in store.audit("acme")), 5, "the audit row")
        (event,) = [e for e in store.audit("acme") if e.outcome == "vended"]
        assert (event.key, event.aws_key_id, event.status) == ("ci", body["AccessKeyId"], 200)
        assert key not in json.dumps(event.to_json())
        until(lambda: store.list_keys("acme")[0].last_used is not None, 5, "the key's last use")
    finally:
        store.close()
    # Vended AWS keys never reach the state, nor the access key (only its hash).
    database = Path(default_state_url().removeprefix("sqlite:///"))
    stored = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    for secret in (str(body["SecretAccessKey"]), str(body["Token"]), key, key.split("_", 2)[2]):
        assert secret.encode() not in stored
    revoked = cli("keys", "revoke", "--org", "acme", "--name", "ci")
    assert revoked.returncode == 0, revoked.stderr
    until(lambda: server.credentials(*PROD, key)[0] == 401, 1.0, "the revocation in force")
    assert server.credentials(*PROD, key)[1]["message"] == "revoked access key"


def test_an_admin_key_vends_nothing(dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = seeded(url, dashboard)
    _, admin = store.create_key("acme", "boss", role=Role.ADMIN)
    store.close()
    server = StateServer(url, tmp_path / "a")
    servers.append(server.start())
    status, body = server.credentials(*PROD, admin)
    assert (status, body["code"]) == (403, "forbidden")
    assert "admin key" in str(body["message"])
    assert sts.calls["AssumeRole"] == 0


def test_a_dashboard_file_with_a_state_serves_the_files_links_and_the_states_keys(
    dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = SqlStore(url)  # no profiles or links in the state at all
    _, key = store.create_key("acme", "ci")
    store.close()
    server = StateServer(url, tmp_path / "a", dashboard=dashboard)
    servers.append(server.start())
    assert server.credentials(*PROD, key)[0] == 200
    dashboard.write_text(dashboard.read_text().replace("sls-access-prod", "sls-access-prod2"))
    until(
        lambda: server.credentials(*PROD, key)[1].get("RoleArn") == "arn:aws:iam::111111111111:role/sls-access-prod2",
        2.0,
        "the file's edit in force",
    )


def test_serve_refuses_a_state_without_keys_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = cli("serve", "--state", url, "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no access keys" in result.stderr
    assert "sls-access keys create" in result.stderr


def test_keys_import_moves_an_old_key_file_in_and_its_keys_keep_working(
    dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    old = cli("keys", "create", "--dashboard", str(dashboard), "--org", "acme", "--name", "ci")
    key = old.stdout.splitlines()[-1]
    url = f"sqlite:///{tmp_path / 'state.db'}"
    imported = cli("keys", "import", str(dashboard.with_name("dashboard.keys.json")), "--state", url)
    assert imported.returncode == 0, imported.stderr
    assert "imported 1 of 1 keys" in imported.stdout
    listed = json.loads(cli("keys", "list", "--state", url, "--json").stdout)
    assert [(k["org"], k["name"], k["role"]) for k in listed] == [("acme", "ci", "deploy")]
    assert "sha256" not in listed[0]
    server = StateServer(url, tmp_path / "a", dashboard=dashboard)
    servers.append(server.start())
    assert server.credentials(*PROD, key)[0] == 200


def test_dashboard_export_is_a_file_the_import_and_the_parser_read_back(dashboard: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    dry = cli("dashboard", "import", str(dashboard), "--state", url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ deployment profile prod" in dry.stdout
    assert "nothing written" in dry.stdout
    assert cli("dashboard", "export", "--state", url).stdout.count("[") == 0  # the dry run wrote nothing
    assert cli("dashboard", "import", str(dashboard), "--state", url).returncode == 0
    exported = tmp_path / "exported.toml"
    result = cli("dashboard", "export", "--state", url, "--output", str(exported))
    assert result.returncode == 0, result.stderr
    assert load_dashboard_file(exported).to_data() == load_dashboard_file(dashboard).to_data()
    again = cli("dashboard", "import", str(exported), "--state", url)
    assert "changed 0 item(s)" in again.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text(
        textwrap.dedent("""
        [orgs.acme.deployment_profiles.x]
        role_arn = "not an arn"
    """)
    )
    refused = cli("dashboard", "import", str(broken), "--state", url)
    assert refused.returncode == 2
    assert "orgs.acme.deployment_profiles.x.role_arn" in refused.stderr


# -- PostgreSQL: two replicas on one database


def test_two_replicas_share_keys_revocations_and_links_within_a_second(
    pg_state: str, postgres: PostgresCluster, dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    store = seeded(pg_state, dashboard)
    try:
        store.create_key("acme", "bootstrap")  # serve refuses a state without keys
        a = StateServer(pg_state, tmp_path / "a", workers=2)
        b = StateServer(pg_state, tmp_path / "b")
        servers.extend([a.start(), b.start()])
        _, key = store.create_key("acme", "ci")  # made while both run
        until(
            lambda: a.credentials(*PROD, key)[0] == 200 and b.credentials(*PROD, key)[0] == 200,
            1.0,
            "a new key in force on both replicas",
        )
        # A link edited in the state is in force on both.
        store.put_link("acme", "eu", app="shop", stage="prod")
        until(
            lambda: all(
                s.credentials(*PROD, key)[1].get("RoleArn") == "arn:aws:iam::333333333333:role/sls-access-eu"
                for s in (a, b)
            ),
            1.0,
            "the link edit in force on both replicas",
        )
        store.revoke_key("acme", "ci")
        until(
            lambda: a.credentials(*PROD, key)[0] == 401 and b.credentials(*PROD, key)[0] == 401,
            1.0,
            "the revocation in force on both replicas",
        )
        # On every worker: a few more (the kernel spreads them over A's two workers; few,
        # since each failure counts against this address in the shared throttle).
        assert {a.credentials(*PROD, key)[0] for _ in range(4)} == {401}
        assert postgres.password not in a.stderr() + b.stderr() + a.stdout() + b.stdout()
    finally:
        store.close()


def test_failures_on_one_replica_count_on_the_other(
    pg_state: str, dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    store = seeded(pg_state, dashboard)
    try:
        _, key = store.create_key("acme", "ci")
        # --max-connections 4: one held failing answer at a time; the next failure meanwhile is refused.
        a = StateServer(pg_state, tmp_path / "a", extra_args=["--max-connections", "4"])
        b = StateServer(pg_state, tmp_path / "b", extra_args=["--max-connections", "4"])
        servers.extend([a.start(), b.start()])
        wrong = "sls_0123456789ab_" + "A" * 43
        # The five free failures and one more, on A (that one held a moment).
        assert [a.credentials(*PROD, wrong)[0] for _ in range(6)] == [401] * 6
        assert store.failures("addr:127.0.0.1", window=300) == 6
        # B has seen no failure itself, but its next ones are past the free ones: held, and
        # those that arrive while one is held are refused at once.
        statuses, errors = in_threads(3, lambda: b.credentials(*PROD, wrong)[0])
        assert not errors
        assert 429 in statuses
        assert b.credentials(*PROD, key)[0] == 200  # a valid key is never throttled
    finally:
        store.close()


def test_a_state_that_goes_away_answers_503_and_comes_back_by_itself(
    pg_state: str, postgres: PostgresCluster, dashboard: Path, tmp_path: Path, sts: StsProxy, servers: list[StateServer]
) -> None:
    store = seeded(pg_state, dashboard)
    _, key = store.create_key("acme", "ci")
    _, admin_key = store.create_key("acme", "lead", role=Role.ADMIN)
    store.close()
    server = StateServer(pg_state, tmp_path / "a", extra_args=["--state-max-stale", "1"])
    servers.append(server.start())
    assert server.credentials(*PROD, key)[0] == 200
    assert _admin(server, "GET", "/keys", admin_key)[0] == 200
    postgres.stop()
    try:
        until(lambda: server.credentials(*PROD, key)[1].get("code") == "state_unavailable", 15, "503 state_unavailable")
        status, body = server.credentials(*PROD, key)
        assert status == 503
        assert "AccessKeyId" not in body
        assert server.get("/healthz")[0] == 503
        # The admin side fails closed the same way (its keys are the worker's copy too).
        status, body = _admin(server, "GET", "/keys", admin_key)
        assert (status, body["code"]) == (503, "state_unavailable")
    finally:
        postgres.start()
    until(lambda: server.credentials(*PROD, key)[0] == 200, 30, "the vends back once the state is")
    until(lambda: "can be read again" in server.stderr(), 5, "the recovery logged")
    assert postgres.password not in server.stderr()


class _Replica:
    """One replica as the UI test client sees a served org (it needs only ``server``)."""

    def __init__(self, server: StateServer) -> None:
        self.server = server


def _admin(server: StateServer, method: str, path: str, key: str, body: object = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        conn.request(
            method, f"/v1/admin/orgs/acme{path}", body=None if body is None else json.dumps(body), headers=headers
        )
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, json.loads(payload) if payload else {}
    finally:
        conn.close()


def test_a_ui_session_and_a_connect_started_on_one_replica_go_on_on_the_other(
    pg_state: str,
    dashboard: Path,
    tmp_path: Path,
    sts: StsProxy,
    servers: list[StateServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = seeded(pg_state, dashboard)
    try:
        _, admin_key = store.create_key("acme", "lead", role=Role.ADMIN)
        monkeypatch.setenv("SLS_ACCESS_STATE", pg_state)  # the URL has a password: never on a command line
        a = StateServer(None, tmp_path / "a")
        b = StateServer(None, tmp_path / "b")
        for server in (a, b):  # two hosts: nothing on disk in common, the database aside
            monkeypatch.setenv("XDG_STATE_HOME", str(server.workdir / "state-home"))
            servers.append(server.start())
        # One browser behind a load balancer that is not sticky: one cookie jar, either replica.
        on_a = Client(cast(Org, _Replica(a)))
        on_b = Client(cast(Org, _Replica(b)))
        on_b.jar = on_a.jar
        _, _, form = on_a.request("GET", "/ui/sign-in")
        status, headers, _ = on_b.request("POST", "/ui/sign-in", {"key": admin_key, "csrf_token": on_a.csrf(form)})
        assert (status, headers["location"]) == (303, "/ui/profiles")
        token = on_a.jar["sls_access_session"]
        status, _, page = on_a.request("GET", "/ui/keys")  # signed in on B, known on A
        assert status == 200
        assert "lead" in page
        csrf = on_a.csrf(page)
        # A form of A's page, posted to B: the session's CSRF token is the same on every replica.
        status, _, _ = on_b.request("POST", "/ui/keys", {"name": "made-on-b", "role": "deploy", "csrf_token": csrf})
        assert status in {200, 303}
        assert "made-on-b" in {k.name for k in store.list_keys("acme")}
        # The state holds the session under the token's SHA-256: never the token, never the key.
        rows = _record_rows(pg_state)
        assert ("ui-session", hashlib.sha256(token.encode()).hexdigest()) in {(kind, name) for kind, name, _ in rows}
        assert token not in repr(rows)
        assert admin_key not in repr(rows)
        assert admin_key.split("_")[2] not in repr(rows)  # not even the key's secret part
        # Connect AWS started on A is polled on B (before: 404 "no connect started" at random).
        status, started = _admin(a, "POST", "/deployment-profiles/eu/connect", admin_key, {"account_id": ACCOUNT})
        assert status == 200, started
        status, polled = _admin(b, "GET", "/deployment-profiles/eu/connect", admin_key)
        assert status == 200, polled
        assert polled["role_arn"] == started["role_arn"]
        # Signing out on B ends the session on A too.
        assert on_b.request("POST", "/ui/sign-out", {"csrf_token": csrf})[0] == 303
        on_a.jar["sls_access_session"] = token  # a replay of the old cookie
        assert on_a.request("GET", "/ui/keys")[1]["location"] == "/ui/sign-in"
        logs = a.stderr() + b.stderr() + a.stdout() + b.stdout()
        assert token not in logs
        assert csrf not in logs
    finally:
        store.close()


def _record_rows(url: str) -> list[tuple[str, str, str]]:
    """The records table as the database holds it."""
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT kind, name, value FROM records")).all()
    finally:
        engine.dispose()
    return [(row[0], row[1], row[2]) for row in rows]
