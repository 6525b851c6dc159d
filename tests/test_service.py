"""The dashboard service as a real process (``sls-access serve`` on uvicorn, loopback), STS = moto.

Vending in the container-credentials format, botocore's own container provider, key
scoping and lifecycle (org scoping, revocation at once, restart), single flight, the
audit log, and hostile requests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import botocore.session
import pytest
import test_interop
from conftest import BASE_KEY_ID, BASE_SECRET, DEMO_DASHBOARD
from mypy_boto3_sts import STSClient
from support import DashboardServer, StsProxy, free_port, sts_error

from sls_access import DashboardError, Resolver
from sls_access.service.keys import KeyStore

# The AWS CLI v1 in a virtual environment of its own, built once (see test_interop).
aws_cli = test_interop.aws_cli

CREDENTIALS = "/v1/orgs/acme/apps/shop/stages/prod/credentials"


def new_key(server: DashboardServer, org: str = "acme", name: str = "ci") -> str:
    return KeyStore(server.keys_path).create(org, name)[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sls_access.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def caller_arn(body: dict[str, object]) -> str:
    session = botocore.session.Session()
    client = cast(
        "STSClient",
        session.create_client(
            "sts",
            aws_access_key_id=str(body["AccessKeyId"]),
            aws_secret_access_key=str(body["SecretAccessKey"]),
            aws_session_token=str(body["Token"]),
        ),
    )
    return str(client.get_caller_identity()["Arn"])


def test_vends_the_linked_roles_keys_in_the_container_credentials_format(
    dashboard_server: DashboardServer, sts: StsProxy
) -> None:
    key = new_key(dashboard_server)
    status, body = dashboard_server.credentials("acme", "shop", "prod", key)
    assert status == 200
    assert set(body) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert body["RoleArn"] == "arn:aws:iam::111111111111:role/sls-access-prod"
    expiration = datetime.strptime(str(body["Expiration"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiration - datetime.now(UTC) >= timedelta(minutes=15)
    assert "111111111111:assumed-role/sls-access-prod/sls-acme.shop.prod" in caller_arn(body)


def test_region_query_picks_the_stage_and_region_link(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    status, body = dashboard_server.credentials("acme", "shop", "prod", key, "?region=eu-west-1")
    assert status == 200
    assert body["RoleArn"] == "arn:aws:iam::333333333333:role/sls-access-eu"
    assert body["Region"] == "eu-west-1"


def test_botocore_container_provider_gets_an_assumed_role_identity(
    dashboard_server: DashboardServer, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key(dashboard_server)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{dashboard_server.url}/v1/orgs/acme/apps/shop/stages/prod/credentials"
    )
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", key)
    session = botocore.session.Session()
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.method == "container-role"
    client = cast("STSClient", session.create_client("sts"))
    assert "111111111111:assumed-role/sls-access-prod/" in client.get_caller_identity()["Arn"]


def test_the_aws_cli_gets_an_assumed_role_identity_through_its_container_provider(
    dashboard_server: DashboardServer, sts: StsProxy, aws_cli: Path
) -> None:
    key = new_key(dashboard_server)
    env = {
        name: value for name, value in os.environ.items() if name not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    }
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = (
        f"{dashboard_server.url}/v1/orgs/acme/apps/shop/stages/prod/credentials?region=eu-west-1"
    )
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = f"Bearer {key}"
    result = subprocess.run(
        [str(aws_cli), "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "333333333333:assumed-role/sls-access-eu/sls-acme.shop.prod" in json.loads(result.stdout)["Arn"]
    assert sts.calls["AssumeRole"] == 1


def test_bearer_and_bare_authorization_are_both_accepted(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    assert dashboard_server.credentials("acme", "blog", "dev", key)[0] == 200
    assert dashboard_server.credentials("acme", "blog", "dev", f"Bearer {key}")[0] == 200
    assert dashboard_server.credentials("acme", "blog", "dev", f"bearer   {key}")[0] == 200


def test_missing_or_unknown_keys_are_401(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for candidate in (None, "", "Bearer", "nonsense", forged, "sls_000000000000_" + "A" * 43):
        status, body = dashboard_server.credentials("acme", "shop", "prod", candidate)
        assert status == 401, candidate
        assert body["code"] == "unauthorized"
    assert sts.calls["AssumeRole"] == 0


def test_a_key_of_another_org_is_403(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    solo = new_key(dashboard_server, "solo", "ci")
    assert dashboard_server.credentials("solo", "api", "dev", solo)[0] == 200
    status, body = dashboard_server.credentials("acme", "shop", "prod", solo)
    assert status == 403
    assert body["code"] == "forbidden"
    assert sts.calls["AssumeRole"] == 1


def test_no_link_for_the_target_is_404(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server, "solo", "ci")
    status, body = dashboard_server.credentials("solo", "api", "prod", key)
    assert status == 404
    assert body["code"] == "no_link"
    assert sts.calls["AssumeRole"] == 0


def test_a_protected_stage_without_its_own_link_is_409_not_no_link(
    dashboard_server: DashboardServer, sts: StsProxy
) -> None:
    key = new_key(dashboard_server)
    path = dashboard_server.dashboard
    path.write_text(path.read_text().replace("[orgs.acme]\n", '[orgs.acme]\nprotected_stages = ["prod"]\n', 1))
    status, body = dashboard_server.credentials("acme", "blog", "prod", key)  # the org default must not serve it
    assert (status, body["code"]) == (409, "protected_stage")
    assert "stage 'prod' is protected" in str(body["message"])
    assert str(path) not in str(body["message"])
    assert sts.calls["AssumeRole"] == 0


def test_a_target_one_slip_away_is_400_unknown_target(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    status, body = dashboard_server.credentials("acme", "shop", "Prod", key)
    assert (status, body["code"]) == (400, "unknown_target")
    assert "did you mean 'prod'?" in str(body["message"])
    assert sts.calls["AssumeRole"] == 0


def test_a_client_of_the_service_fails_closed_on_a_refused_target(
    dashboard_server: DashboardServer, sts: StsProxy
) -> None:
    # The client side: not no_link, so the chain stops instead of taking the env keys.
    resolver = Resolver(dashboard=dashboard_server.url, access_key=new_key(dashboard_server))
    with pytest.raises(DashboardError, match="unknown_target") as info:
        resolver.credentials("acme", "shpo", "prod")
    assert info.value.status == 400
    assert info.value.resolution is not None
    assert [entry.source for entry in info.value.resolution.trail] == ["dashboard"]


def test_a_role_that_cannot_be_assumed_is_502_without_details_of_the_secret(
    dashboard_server: DashboardServer, sts: StsProxy
) -> None:
    key = new_key(dashboard_server)
    sts.fault = lambda action: sts_error("AccessDenied", "not trusted") if action == "AssumeRole" else None
    status, body = dashboard_server.credentials("acme", "shop", "prod", key)
    assert status == 502
    assert body["code"] == "role_error"
    assert "AccessDenied" in str(body["message"])
    assert "Traceback" not in dashboard_server.stderr()


def test_many_concurrent_clients_cause_one_sts_call(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    results: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def ask() -> None:
        answer = dashboard_server.credentials("acme", "shop", "dev", key)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=ask) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200] * 40
    assert len({body["AccessKeyId"] for _, body in results}) == 1
    assert sts.calls["AssumeRole"] == 1


def test_a_revoked_key_is_refused_at_once(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    other = new_key(dashboard_server, "acme", "laptop")
    assert dashboard_server.credentials("acme", "shop", "prod", key)[0] == 200
    revoked = cli("keys", "revoke", "--dashboard", str(dashboard_server.dashboard), "--org", "acme", "--name", "ci")
    assert revoked.returncode == 0, revoked.stderr
    status, body = dashboard_server.credentials("acme", "shop", "prod", key)
    assert (status, body["message"]) == (401, "revoked access key")
    assert dashboard_server.credentials("acme", "shop", "prod", other)[0] == 200


def test_the_audit_line_of_a_revoked_key_names_the_key(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    record_id = key.split("_")[1]
    assert (
        cli(
            "keys", "revoke", "--dashboard", str(dashboard_server.dashboard), "--org", "acme", "--name", "ci"
        ).returncode
        == 0
    )
    assert dashboard_server.credentials("acme", "shop", "prod", key)[0] == 401
    line = dashboard_server.audit()[-1]
    assert (line["outcome"], line["key"], line["key_id"]) == ("unauthorized", "ci", record_id)
    assert key not in dashboard_server.stdout()
    unknown = key[:-1] + ("A" if key[-1] != "A" else "B")  # no record: nothing to name
    assert dashboard_server.credentials("acme", "shop", "prod", unknown)[0] == 401
    assert (dashboard_server.audit()[-1]["key"], dashboard_server.audit()[-1]["key_id"]) == (None, None)


def test_keys_list_all_shows_revoked_keys_with_when(dashboard: Path) -> None:
    base = ("--dashboard", str(dashboard))
    assert cli("keys", "create", *base, "--org", "acme", "--name", "ci").returncode == 0
    assert cli("keys", "create", *base, "--org", "acme", "--name", "laptop").returncode == 0
    assert cli("keys", "revoke", *base, "--org", "acme", "--name", "ci").returncode == 0
    active = json.loads(cli("keys", "list", *base, "--json").stdout)
    everything = json.loads(cli("keys", "list", *base, "--json", "--all").stdout)
    assert [k["name"] for k in active] == ["laptop"]
    assert {k["name"]: k["revoked"] is not None for k in everything} == {"ci": True, "laptop": False}
    assert cli("keys", "create", *base, "--org", "acme", "--name", "ci").returncode == 0  # the name is free again


def test_a_restart_loses_no_key(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    assert dashboard_server.credentials("acme", "shop", "prod", key)[0] == 200
    dashboard_server.restart()
    assert dashboard_server.credentials("acme", "shop", "prod", key)[0] == 200


def test_dashboard_edits_apply_to_the_next_request(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server, "solo", "ci")
    assert dashboard_server.credentials("solo", "api", "prod", key)[0] == 404
    path = dashboard_server.dashboard
    path.write_text(path.read_text() + '\n[orgs.solo.apps.api.stages.prod]\ndeployment_profile = "only"\n')
    status, body = dashboard_server.credentials("solo", "api", "prod", key)
    assert status == 200
    assert body["RoleArn"] == "arn:aws:iam::555555555555:role/solo"


def test_one_audit_line_per_request_and_no_secret_anywhere(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    key = new_key(dashboard_server)
    _, body = dashboard_server.credentials("acme", "shop", "prod", key)
    dashboard_server.credentials("acme", "shop", "prod", "wrong")
    dashboard_server.credentials("solo", "api", "dev", key)
    lines = [line for line in dashboard_server.audit() if line["path"] != "/healthz"]
    assert [(line["status"], line["outcome"]) for line in lines] == [
        (200, "vended"),
        (401, "unauthorized"),
        (403, "forbidden"),
    ]
    first = lines[0]
    assert (first["org"], first["app"], first["stage"], first["key"]) == ("acme", "shop", "prod", "ci")
    assert first["role"] == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert lines[1]["key"] is None
    logs = dashboard_server.stdout() + dashboard_server.stderr()
    for secret in (key, key.split("_", 2)[2], str(body["SecretAccessKey"]), str(body["Token"])):
        assert secret not in logs


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(dashboard: Path) -> None:
    before = dashboard.read_bytes()
    created = cli("keys", "create", "--dashboard", str(dashboard), "--org", "acme", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[-1]
    assert key.startswith("sls_")
    assert created.stdout.count(key) == 1
    keys_file = dashboard.with_name("dashboard.keys.json")
    assert key not in keys_file.read_text()
    assert key.split("_", 2)[2] not in keys_file.read_text()
    assert dashboard.read_bytes() == before
    listed = cli("keys", "list", "--dashboard", str(dashboard), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(k["org"], k["name"]) for k in json.loads(listed.stdout)] == [("acme", "ci")]
    assert key.split("_", 2)[2] not in listed.stdout


def test_keys_create_refuses_an_org_not_in_the_dashboard_and_a_duplicate_name(dashboard: Path) -> None:
    unknown = cli("keys", "create", "--dashboard", str(dashboard), "--org", "nobody", "--name", "ci")
    assert unknown.returncode == 2
    assert "nobody" in unknown.stderr
    assert unknown.stdout == ""
    assert cli("keys", "create", "--dashboard", str(dashboard), "--org", "acme", "--name", "ci").returncode == 0
    again = cli("keys", "create", "--dashboard", str(dashboard), "--org", "acme", "--name", "ci")
    assert again.returncode == 2
    assert "already has a key" in again.stderr


def test_serve_with_a_broken_dashboard_fails_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[orgs.acme\n")
    result = cli("serve", "--dashboard", str(broken), "--port", "1")
    assert result.returncode == 2
    assert "broken.toml" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_without_its_key_file_exits_2_naming_the_file_and_keys_create(tmp_path: Path) -> None:
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    result = cli("serve", "--dashboard", str(dashboard), "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(tmp_path / "dashboard.keys.json") in result.stderr
    assert "sls-access keys create" in result.stderr
    assert result.stdout == ""


def test_serve_with_an_unreadable_key_file_exits_2_naming_it(tmp_path: Path) -> None:
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    keys = tmp_path / "given.keys.json"
    keys.mkdir()  # unreadable as a file even for root (a mode-000 file is not, to root)
    result = cli("serve", "--dashboard", str(dashboard), "--keys", str(keys), "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(keys) in result.stderr
    assert "cannot read the key file" in result.stderr


def test_serve_reads_a_key_file_given_from_home_as_its_workers_will(tmp_path: Path) -> None:
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    (Path.home() / "svc.keys.json").write_text("{not json")
    result = cli("serve", "--dashboard", str(dashboard), "--keys", "~/svc.keys.json", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(Path.home() / "svc.keys.json") in result.stderr


def test_serve_on_a_taken_port_exits_1_in_one_line(tmp_path: Path) -> None:
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    (tmp_path / "dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--dashboard", str(dashboard), "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == f"sls-access: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert result.stdout == ""


def test_serve_logs_its_vending_identity_at_startup(dashboard_server: DashboardServer, sts: StsProxy) -> None:
    sts_client = cast("STSClient", botocore.session.Session().create_client("sts"))
    arn = sts_client.get_caller_identity()["Arn"]
    assert f"vending as {arn} (account {arn.split(':')[4]})" in dashboard_server.stderr()
    assert BASE_SECRET not in dashboard_server.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_without_working_base_credentials_exits_1_in_one_line(
    tmp_path: Path, sts: StsProxy, workers: int
) -> None:
    # A stub for what moto (which takes any key) never says: the key is not valid.
    sts.fault = lambda action: (
        sts_error("InvalidClientTokenId", "The security token included in the request is invalid.")
        if action == "GetCallerIdentity"
        else None
    )
    dashboard = tmp_path / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    (tmp_path / "dashboard.keys.json").write_text('{"version": 1, "keys": []}\n')
    try:
        result = cli(
            "serve",
            "--dashboard",
            str(dashboard),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--workers",
            str(workers),
        )
    finally:
        sts.fault = None  # the proxy is shared: a module-scoped server may start before the next reset
    assert result.returncode == 1
    assert result.stderr == (
        "sls-access: error: cannot start: the service's base AWS credentials do not work (STS "
        "GetCallerIdentity): STS said InvalidClientTokenId: The security token included in "
        "the request is invalid.\n"
    )
    assert result.stdout == ""


@pytest.fixture(scope="module")
def shared_server(_proxy: StsProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DashboardServer, str]]:
    """One server for the hostile-request tests (they change nothing), and an acme key."""
    work = tmp_path_factory.mktemp("shared-server")
    dashboard = work / "dashboard.toml"
    dashboard.write_text(textwrap.dedent(DEMO_DASHBOARD))
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SLS_ACCESS_", "SERVERLESS_"))
    }
    env.update(
        HOME=str(work),
        AWS_CONFIG_FILE=str(work / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=_proxy.url,
        AWS_ACCESS_KEY_ID=BASE_KEY_ID,
        AWS_SECRET_ACCESS_KEY=BASE_SECRET,
    )
    _proxy.reset()  # set up before the first test's reset: no fault another module's test left behind
    server = DashboardServer(dashboard, work, env=env).start()
    key = new_key(server)
    yield server, key
    server.stop()


HOSTILE_PATHS = [
    ("/v1/orgs/acme/apps/../stages/prod/credentials", {400}),
    ("/v1/orgs/acme/apps/%2e%2e/stages/prod/credentials", {400}),
    ("/v1/orgs/acme/apps/shop%2Fx/stages/prod/credentials", {400}),
    ("/v1/orgs/acme/apps/shop/stages/prod/../../../../etc/passwd", {404}),
    ("/v1/orgs/acme/apps/%ff%fe/stages/prod/credentials", {400}),
    ("/v1/orgs/acme/apps/sh%00op/stages/prod/credentials", {400}),
    ("/v1/orgs/acme/apps/sh%20op/stages/prod/credentials", {400}),
    ("/v1/orgs/%E2%98%83/apps/shop/stages/prod/credentials", {403}),
    ("/v1/orgs/acme/apps/%E2%98%83/stages/prod/credentials", {200, 404}),
    ("/v1/orgs/acme/apps/shop/stages/prod/credentials?region=../../etc", {400}),
    ("/v1/orgs/acme/apps/shop/stages/prod/credentials?region=eu-west-1&region=us-east-1", {400}),
    ("/v1/orgs/acme/apps/shop/stages/prod/credentials?other=1", {400}),
    ("/v1/orgs/acme/apps/shop/stages/prod/credentials?%ff=1", {400}),
    ("/v1/orgs/acme/apps/shop/stages/prod/credentials?" + "a=1&" * 500, {400}),
    ("/v1/orgs/acme/apps/" + "x" * 200 + "/stages/prod/credentials", {400}),
    ("/" + "a/" * 2000, {414}),
    ("/v1/orgs//apps/shop/stages/prod/credentials", {400}),
    ("/v2/anything", {404}),
    ("/", {404}),
]


@pytest.mark.parametrize("region", ["xx-fake-9", "eu-fake-1", "EU"])
def test_a_region_botocore_does_not_know_is_400_bad_region(
    shared_server: tuple[DashboardServer, str], sts: StsProxy, region: str
) -> None:
    server, key = shared_server
    status, _, body = server.get(
        f"/v1/orgs/acme/apps/shop/stages/prod/credentials?region={region}", {"Authorization": key}
    )
    assert (status, json.loads(body)["code"]) == (400, "bad_region")
    assert sts.calls["AssumeRole"] == 0


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS, ids=[p[:40] for p, _ in HOSTILE_PATHS])
def test_hostile_paths_are_4xx(shared_server: tuple[DashboardServer, str], path: str, expected: set[int]) -> None:
    server, key = shared_server
    status, _, body = server.get(path, {"Authorization": key})
    assert status in expected
    assert status == 200 or {"code", "message"} <= set(json.loads(body))
    assert "Traceback" not in server.stderr()


def raw_request(server: DashboardServer, data: bytes) -> int:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else 0


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"GET /v1/orgs/\xff\xfe/apps/a/stages/b/credentials HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
    ],
    ids=["huge-header", "many-headers", "non-utf8-path", "post", "huge-body", "garbage", "two-auth"],
)
def test_hostile_requests_are_4xx(shared_server: tuple[DashboardServer, str], data: bytes) -> None:
    server, _ = shared_server
    status = raw_request(server, data)
    assert 400 <= status < 500
    assert "Traceback" not in server.stderr()
    assert server.get("/healthz")[0] == 200


def test_several_workers_serve_and_share_the_key_file(dashboard: Path, tmp_path: Path, sts: StsProxy) -> None:
    server = DashboardServer(dashboard, tmp_path, workers=2).start()
    try:
        key = new_key(server)
        statuses = {server.credentials("acme", "shop", "prod", key)[0] for _ in range(10)}
        assert statuses == {200}
        assert 1 <= sts.calls["AssumeRole"] <= 2
    finally:
        server.stop()


@pytest.mark.parametrize(("trusted", "client"), [(False, "127.0.0.1"), (True, "203.0.113.9")])
def test_forwarded_for_is_used_only_from_trusted_proxies(
    dashboard: Path, tmp_path: Path, trusted: bool, client: str
) -> None:
    server = DashboardServer(
        dashboard, tmp_path, extra_args=["--forwarded-allow-ips", "127.0.0.1"] if trusted else []
    ).start()
    try:
        server.get("/healthz", {"X-Forwarded-For": "203.0.113.9"})
        assert server.audit()[-1]["client"] == client
    finally:
        server.stop()


PER_KEY_DASHBOARD = """
[orgs.acme.deployment_profiles.prod]
role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"
sessions = "per_key"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"
"""


def test_the_audit_line_names_the_aws_key_each_client_received_and_its_session(tmp_path: Path, sts: StsProxy) -> None:
    dashboard = tmp_path / "per-key.toml"
    dashboard.write_text(PER_KEY_DASHBOARD)
    workdir = tmp_path / "server"
    workdir.mkdir()
    server = DashboardServer(dashboard, workdir).start()
    try:
        received = {}
        for name in ("ci", "alice"):
            key = new_key(server, name=name)
            creds = Resolver(dashboard=server.url, access_key=key).credentials("acme", "shop", "prod")
            received[name] = creds.access_key_id
        lines = [line for line in server.audit() if line["outcome"] == "vended"]
    finally:
        server.stop()
    assert {line["key"]: line["aws_key_id"] for line in lines} == received
    assert received["ci"] != received["alice"]
    requests = [r for r in sts.requests if r.get("Action") == "AssumeRole"]
    assert [(line["session"], line["source_identity"]) for line in lines] == [
        (r["RoleSessionName"], r["SourceIdentity"]) for r in requests
    ]


def test_serve_writes_one_audit_line_per_request_from_every_worker(
    dashboard: Path, tmp_path: Path, sts: StsProxy
) -> None:
    # `sls-access serve` is the one launch path: its workers log every request at INFO.
    server = DashboardServer(dashboard, tmp_path, workers=2).start()
    try:
        key = new_key(server)
        before = len(server.audit())
        statuses = [server.credentials("acme", "shop", "prod", key)[0] for _ in range(61)]
        lines = server.audit()[before:]
    finally:
        server.stop()
    assert statuses == [200] * 61
    assert [(line["status"], line["key"]) for line in lines] == [(200, "ci")] * 61


def test_a_flood_of_failing_requests_that_hang_up_does_not_turn_away_a_valid_key(
    dashboard: Path, tmp_path: Path, sts: StsProxy
) -> None:
    # Wrong keys sent on fresh connections that are closed at once, ~200 a second for 3 s:
    # their held answers must not fill the 64-connection limit (uvicorn counts running
    # handlers against it) so that a valid key meets 503, nor lock the address out for it.
    server = DashboardServer(dashboard, tmp_path, extra_args=["--max-connections", "64"]).start()
    try:
        key = new_key(server)
        request = f"GET {CREDENTIALS} HTTP/1.1\r\nHost: x\r\nAuthorization: wrong\r\n\r\n".encode()
        stop = threading.Event()
        sent = [0]

        def flood() -> None:
            while not stop.is_set():
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(request)
                sent[0] += 1
                stop.wait(0.005)

        floods = [threading.Thread(target=flood) for _ in range(2)]
        for thread in floods:
            thread.start()
        statuses: list[int] = []
        try:
            for _ in range(12):
                stop.wait(0.25)
                statuses.append(server.get(CREDENTIALS, {"Authorization": key})[0])
        finally:
            stop.set()
            for thread in floods:
                thread.join(10)
    finally:
        server.stop()
    assert sent[0] > 200
    assert statuses == [200] * 12
