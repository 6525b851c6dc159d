"""The admin API over HTTP against a real ``sls-access serve`` (STS, IAM and CloudFormation: moto on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from admin_support import ACCOUNT, CALLER, Org, find_aws_cli, run_shown_command, trust_enforcing
from support import StsProxy, until

from sls_access.link.template import role_name
from sls_access.service._throttle import Throttle
from sls_access.service.admin import AdminError
from sls_access.service.admin.http import Answer, authenticate, error_answer, json_answer
from sls_access.service.admin.ops import Admin
from sls_access.service.admin.records import FileRecords
from sls_access.service.store.base import Role
from sls_access.service.store.snapshot import StateView
from sls_access.service.store.url import open_store


@pytest.fixture(scope="session")
def aws_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real AWS CLI (v1), which runs the command the service shows."""
    return find_aws_cli(tmp_path_factory.mktemp("awscli"))


@pytest.fixture
def org(tmp_path: Path, sts: StsProxy) -> Iterator[Org]:
    with Org(tmp_path) as served:
        yield served


def test_keys_are_listed_without_hashes_created_once_and_revoked(org: Org) -> None:
    status, body = org.call("POST", "/keys", body={"name": "deployer", "role": "deploy"})
    assert status == 201
    key = body["key"]
    assert key.startswith("sls_")
    assert body["name"] == "deployer"
    assert body["role"] == "deploy"
    status, listed = org.call("GET", "/keys")
    assert status == 200
    assert {(k["name"], k["role"]) for k in listed["keys"]} == {
        ("lead", "admin"),
        ("ci", "deploy"),
        ("deployer", "deploy"),
    }
    text = json.dumps(listed)
    assert key not in text
    assert "sha256" not in text
    assert org.admin_key not in text
    assert org.vend("shop", "prod", key, 200)["AccessKeyId"]  # the new key authenticates
    status, _ = org.call("DELETE", "/keys/deployer")
    assert status == 204
    org.vend("shop", "prod", key, 401)
    assert org.call("DELETE", "/keys/deployer")[0] == 404


def test_an_overlong_admin_or_ui_path_is_refused_as_a_vending_one_is(org: Org) -> None:
    auth = {"Authorization": f"Bearer {org.admin_key}"}
    for path in (f"/v1/admin/orgs/{org.name}/keys/" + "k" * 1100, "/ui/" + "p" * 1100):
        status, _, body = org.server.get(path, auth)
        assert (status, json.loads(body)["code"]) == (414, "too_large")
    status, _, _ = org.server.get(f"/v1/admin/orgs/{org.name}/keys/" + "k" * 900, auth)
    assert status == 404  # under the limit: the admin API's own answer (no such key)


def test_an_admin_key_made_by_the_api_is_an_admin_key(org: Org) -> None:
    status, body = org.call("POST", "/keys", body={"name": "second-lead", "role": "admin"})
    assert status == 201
    # In force within a second: every worker matches keys in its copy of the state.
    until(lambda: org.call("GET", "/keys", key=body["key"])[0] == 200, 5, "the new admin key accepted")
    assert org.call("POST", "/keys", body={"name": "x", "role": "root"}) == (
        400,
        {"code": "invalid", "message": "role: must be 'deploy' or 'admin'", "error": "invalid", "field": "role"},
    )
    assert org.call("POST", "/keys", body={"name": "ci", "role": "deploy"})[0] == 409


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("DELETE", "/keys/lead"),
        ("GET", "/deployment-profiles/prod"),
        ("PUT", "/deployment-profiles/prod"),
        ("DELETE", "/deployment-profiles/prod"),
        ("GET", "/links"),
        ("PUT", "/link?app=shop"),
        ("DELETE", "/link?app=shop&stage=prod"),
        ("GET", "/audit"),
        ("POST", "/deployment-profiles/prod/connect"),
        ("GET", "/deployment-profiles/prod/connect"),
    ],
)
def test_a_deploy_key_is_forbidden_on_every_admin_route(org: Org, method: str, path: str) -> None:
    status, body = org.call(method, path, key=org.deploy_key, body={"name": "x"} if method in {"POST", "PUT"} else None)
    assert (status, body["code"]) == (403, "forbidden")
    assert {k["name"] for k in org.call("GET", "/keys")[1]["keys"]} == {"lead", "ci"}  # nothing changed


def test_a_wrong_or_missing_key_is_unauthorized(org: Org) -> None:
    assert org.call("GET", "/keys", key="sls_000000000000_" + "A" * 43)[0] == 401
    assert org.call("GET", "/keys", key="")[0] == 401


def test_an_admin_key_vends_nothing(org: Org) -> None:
    status, body = org.server.credentials(org.name, "shop", "prod", org.admin_key)
    assert (status, body["code"]) == (403, "forbidden")


def test_an_admin_key_of_another_org_is_forbidden(org: Org) -> None:
    with org.store() as store:
        _, other = store.create_key("someoneelse", "lead", role=Role.ADMIN)
    # A key made outside this worker is in force within a second (the worker's copy of the state).
    until(lambda: org.call("GET", "/keys", key=other)[0] != 401, 5, "the new key known to the worker")
    status, body = org.call("GET", "/keys", key=other)
    assert (status, body["code"]) == (403, "forbidden")


def test_profiles_are_read_and_written_with_the_files_fields(org: Org) -> None:
    fields = {
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/new",
        "external_id": "ext-123",
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "duration_seconds": 1800,
        "sessions": "per_key",
    }
    status, body = org.call("PUT", "/deployment-profiles/new", body=fields)
    assert status == 200
    assert body == {"name": "new", **fields}
    assert org.call("GET", "/deployment-profiles/new") == (200, body)
    profile = org.profiles()["new"]
    assert (profile.role_arn, profile.duration_seconds, profile.region) == (fields["role_arn"], 1800, "eu-west-1")
    assert org.call("GET", "/deployment-profiles/none")[0] == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role_arn": "not-an-arn"}, "role_arn"),
        ({"role_arn": f"arn:aws:iam::{ACCOUNT}:role/x", "duration_seconds": 60}, "duration_seconds"),
        ({"role_arn": f"arn:aws:iam::{ACCOUNT}:role/x", "account_id": "111111111111"}, "role_arn"),
        ({"role_arn": f"arn:aws:iam::{ACCOUNT}:role/x", "sessions": "perkey"}, "sessions"),
        ({"role_arn": f"arn:aws:iam::{ACCOUNT}:role/x", "region": "mars-1"}, "region"),
        ({"role_arn": f"arn:aws:iam::{ACCOUNT}:role/x", "colour": "blue"}, "colour"),
        ({"region": "eu-west-1"}, "role_arn"),
    ],
)
def test_an_edit_the_file_parser_refuses_is_a_400_naming_the_field(
    org: Org, fields: dict[str, object], field: str
) -> None:
    status, body = org.call("PUT", "/deployment-profiles/bad", body=fields)
    assert (status, body["code"], body["field"]) == (400, "invalid", field)
    assert "bad" not in org.profiles()


def test_a_profile_in_use_is_not_deleted_and_the_links_are_named(org: Org) -> None:
    status, body = org.call("DELETE", "/deployment-profiles/prod")
    assert (status, body["code"]) == (409, "in_use")
    assert f"orgs.{org.name}.apps.shop.stages.prod" in body["message"]
    assert org.call("DELETE", "/link?app=shop&stage=prod")[0] == 204
    assert org.call("DELETE", "/deployment-profiles/prod")[0] == 204
    assert "prod" not in org.profiles()


def test_links_are_put_listed_with_their_precedence_and_deleted(org: Org) -> None:
    status, body = org.call("PUT", "/link?app=shop&stage=prod&region=eu-west-1", body={"deployment_profile": "sandbox"})
    assert status == 200
    assert {"app": "shop", "stage": "prod", "region": "eu-west-1", "deployment_profile": "sandbox"} in body["links"]
    status, body = org.call("GET", "/links")
    texts = [row["text"] for row in body["resolution"]]
    assert f"{org.name}/shop/prod → prod, via its stage link" in texts
    assert f"{org.name}/shop/prod (eu-west-1) → sandbox, via its stage + region link" in texts
    assert texts[-1] == f"{org.name}/(any other app) → sandbox, via the org default"
    assert org.call("PUT", "/link?app=shop", body={"deployment_profile": "prod"})[0] == 200
    texts = [row["text"] for row in org.call("GET", "/links")[1]["resolution"]]
    # The defaults last, as the resolver falls back to them: the app's before the org's.
    assert texts[-2:] == [
        f"{org.name}/shop/(any other stage) → prod, via the app link",
        f"{org.name}/(any other app) → sandbox, via the org default",
    ]
    assert org.call("PUT", "/link?app=shop", body={"deployment_profile": "nope"})[1]["field"] == "deployment_profile"
    assert org.call("PUT", "/link?stage=prod", body={"deployment_profile": "prod"})[0] == 400
    assert org.call("DELETE", "/link?app=shop&stage=prod&region=eu-west-1")[0] == 204
    assert org.call("DELETE", "/link?app=shop&stage=prod&region=eu-west-1")[0] == 404


def test_with_a_dashboard_file_under_review_edits_are_409_with_the_toml_to_commit(
    tmp_path: Path, sts: StsProxy
) -> None:
    with Org(tmp_path, edit=False) as org:
        before = org.dashboard.read_bytes()
        status, body = org.call("PUT", "/deployment-profiles/new", body={"role_arn": f"arn:aws:iam::{ACCOUNT}:role/n"})
        assert (status, body["code"]) == (409, "managed_by_file")
        assert body["toml"] == (
            f'[orgs.{org.name}.deployment_profiles.new]\nrole_arn = "arn:aws:iam::{ACCOUNT}:role/n"\n'
        )
        assert org.call("PUT", "/deployment-profiles/new", body={"role_arn": "x"})[0] == 400  # still validated
        assert org.call("DELETE", "/link?app=shop&stage=prod")[1]["code"] == "managed_by_file"
        assert org.call("POST", "/keys", body={"name": "k", "role": "deploy"})[0] == 201  # keys are not in the file
        assert org.dashboard.read_bytes() == before


def test_audit_is_newest_first_filtered_and_names_the_aws_key_id(org: Org) -> None:
    assert org.server.credentials(org.name, "shop", "prod", org.deploy_key)[0] == 200
    assert org.server.credentials(org.name, "shop", "dev", org.deploy_key)[0] == 200
    assert org.server.credentials(org.name, "shop", "prod", "sls_000000000000_" + "B" * 43)[0] == 401
    until(
        lambda: len(org.call("GET", "/audit?app=shop&outcome=vended")[1]["events"]) == 2,
        3.0,
        "the vends are stored (the service writes audit rows in batches)",
    )
    status, body = org.call("GET", "/audit?app=shop&outcome=vended")
    assert status == 200
    events = body["events"]
    assert [e["stage"] for e in events] == ["dev", "prod"]
    assert all(e["aws_key_id"].startswith("ASIA") and e["key"] == "ci" for e in events)
    assert [e["stage"] for e in org.call("GET", "/audit?stage=prod&key=ci")[1]["events"]] == ["prod"]
    assert len(org.call("GET", "/audit?limit=1")[1]["events"]) == 1
    assert org.call("GET", "/audit?limit=x")[0] == 400
    everything = json.dumps(org.call("GET", "/audit?limit=1000")[1])
    assert org.deploy_key not in everything
    assert org.admin_key not in everything
    assert org.admin_key not in org.server.stdout() + org.server.stderr()


def test_connect_aws_pending_until_the_role_exists_then_connected_and_written(
    org: Org, sts: StsProxy, moto_url: str, tmp_path: Path, aws_cli: Path
) -> None:
    sts.fault = trust_enforcing(sts, moto_url)
    status, started = org.call(
        "POST", "/deployment-profiles/prod/connect", body={"account_id": ACCOUNT, "region": "us-east-1"}
    )
    assert status == 200
    template = json.loads(started["template"])
    assert "Parameters" not in template
    trust = template["Resources"]["AccessRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"AWS": [CALLER]}  # the service's own vending identity
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": started["external_id"]}}
    assert started["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name(org.name, 'prod')}"
    assert started["command"].startswith("aws cloudformation deploy --stack-name ")
    assert "quick_create_url" not in started
    status, polled = org.call("GET", "/deployment-profiles/prod/connect")
    assert (status, polled["status"]) == (200, "pending")
    assert org.profiles()["prod"].role_arn.endswith("sls-access-prod")

    run_shown_command(
        aws_cli, started["command"], started["template"], tmp_path / "cloudshell", moto_url, started["template_file"]
    )

    status, polled = org.call("GET", "/deployment-profiles/prod/connect")
    assert (status, polled["status"], polled["role_arn"]) == (200, "connected", started["role_arn"])
    profile = org.profiles()["prod"]
    assert (profile.role_arn, profile.external_id, profile.account_id) == (
        started["role_arn"],
        started["external_id"],
        ACCOUNT,
    )
    assert org.vend("shop", "prod", org.deploy_key, 200)["RoleArn"] == started["role_arn"]
    assumed = [r for r in sts.requests if r.get("Action") == "AssumeRole"][-1]
    assert (assumed["RoleArn"], assumed["ExternalId"]) == (started["role_arn"], started["external_id"])


def test_connect_checks_a_per_key_profile_as_a_per_key_vend_enters_it(org: Org, sts: StsProxy, moto_url: str) -> None:
    # A per-key session needs sts:SetSourceIdentity and sts:TagSession in the role's trust:
    # the check must use them, or "connected" could be said of a role no vend can enter.
    sts.fault = trust_enforcing(sts, moto_url)
    per_key = {"role_arn": "arn:aws:iam::111111111111:role/sls-access-prod", "sessions": "per_key"}
    assert org.call("PUT", "/deployment-profiles/prod", body=per_key)[0] == 200
    status, started = org.call("POST", "/deployment-profiles/prod/connect", body={"account_id": ACCOUNT})
    assert status == 200
    role = json.loads(started["template"])["Resources"]["AccessRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]
    assert {"sts:SetSourceIdentity", "sts:TagSession"} <= {
        action for statement in trust["Statement"] for action in statement["Action"]
    }
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    # First without sts:TagSession, as a hand-edited trust might be: no per-key vend could enter it.
    untagged = json.loads(json.dumps(trust))
    for statement in untagged["Statement"]:
        statement["Action"] = [action for action in statement["Action"] if action != "sts:TagSession"]
    iam.create_role(RoleName=role["RoleName"], AssumeRolePolicyDocument=json.dumps(untagged))
    status, polled = org.call("GET", "/deployment-profiles/prod/connect")
    assert (status, polled["status"]) == (200, "pending")
    iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=json.dumps(trust))

    status, polled = org.call("GET", "/deployment-profiles/prod/connect")
    assert (status, polled["status"]) == (200, "connected")
    checked = [r for r in sts.requests if r.get("Action") == "AssumeRole"][-1]
    assert (checked["RoleArn"], checked["SourceIdentity"]) == (started["role_arn"], "connect-check")
    tags = {checked[f"Tags.member.{n}.Key"]: checked[f"Tags.member.{n}.Value"] for n in range(1, 5)}
    assert tags == {"sls-org": org.name, "sls-app": "connect", "sls-stage": "aws", "sls-key": "connect-check"}
    assert org.profiles()["prod"].sessions.value == "per_key"  # the connect keeps the profile's sessions


def test_connect_refuses_a_bad_account_and_polls_nothing_unstarted(org: Org) -> None:
    status, body = org.call("POST", "/deployment-profiles/prod/connect", body={"account_id": "12345"})
    assert (status, body["field"]) == (400, "account_id")
    status, body = org.call("POST", "/deployment-profiles/prod/connect", body={"account_id": ACCOUNT, "region": "x"})
    assert (status, body["field"]) == (400, "region")
    assert org.call("GET", "/deployment-profiles/prod/connect")[0] == 404


def test_connect_with_a_template_bucket_gives_the_quick_create_link(
    tmp_path: Path, sts: StsProxy, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)  # S3 straight to moto; the STS proxy forwards GET/POST only
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"templates-{tmp_path.name.lower().replace('_', '-')[-20:]}"
    s3.create_bucket(Bucket=bucket)
    with Org(tmp_path, extra_args=["--template-bucket", f"s3://{bucket}/sls"]) as org:
        status, started = org.call("POST", "/deployment-profiles/prod/connect", body={"account_id": ACCOUNT})
    assert status == 200
    url = started["quick_create_url"]
    assert url.startswith(
        "https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/quickcreate?templateURL="
    )
    (uploaded,) = s3.list_objects_v2(Bucket=bucket, Prefix="sls/")["Contents"]
    body = s3.get_object(Bucket=bucket, Key=uploaded["Key"])["Body"].read().decode()
    assert body == started["template"]


def test_connect_with_a_dashboard_file_under_review_answers_the_toml_to_commit(
    tmp_path: Path, sts: StsProxy, moto_url: str, aws_cli: Path
) -> None:
    sts.fault = trust_enforcing(sts, moto_url)
    with Org(tmp_path, edit=False) as org:
        before = org.dashboard.read_bytes()
        status, started = org.call("POST", "/deployment-profiles/prod/connect", body={"account_id": ACCOUNT})
        assert status == 200
        run_shown_command(
            aws_cli,
            started["command"],
            started["template"],
            tmp_path / "cloudshell",
            moto_url,
            started["template_file"],
        )
        status, polled = org.call("GET", "/deployment-profiles/prod/connect")
    assert (status, polled["status"], polled["role_arn"]) == (200, "connected", started["role_arn"])
    assert polled["toml"].startswith(f"[orgs.{org.name}.deployment_profiles.prod]\n")
    assert f'role_arn = "{started["role_arn"]}"' in polled["toml"]
    assert f'external_id = "{started["external_id"]}"' in polled["toml"]
    assert org.dashboard.read_bytes() == before


def test_failed_admin_sign_ins_count_in_the_state_for_every_worker(tmp_path: Path) -> None:
    # Two workers (two throttles) on one state: guesses at an admin key on one count on the
    # other, as failed vends do, so that more workers or replicas give no more guesses.
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    admin = Admin(store, FileRecords(tmp_path / "records.json"))

    def attempt(throttle: Throttle) -> int:
        with pytest.raises(AdminError) as refused:
            asyncio.run(authenticate(admin, throttle, "192.0.2.7", "sls_0123456789ab_" + "x" * 43, "acme"))
        return refused.value.status

    try:
        first, second = Throttle(free=10, lockout=3), Throttle(free=10, lockout=3)
        assert [attempt(first) for _ in range(3)] == [401, 401, 401]
        assert attempt(second) == 429  # this worker's first failure, but the state's fourth
    finally:
        store.close()


def test_admin_keys_are_matched_in_the_workers_copy_not_by_a_query_per_attempt(tmp_path: Path) -> None:
    # A flood of made-up admin keys must not take the connections the state's refresh needs:
    # keys are matched in the worker's in-memory copy, as vending keys are. With the database
    # gone, the copy (still fresh) answers alone.
    database = tmp_path / "state.db"
    store = open_store(f"sqlite:///{database}")
    record, key = store.create_key("acme", "lead", role=Role.ADMIN)
    view = StateView(store)
    view.start()
    try:
        admin = Admin(store, FileRecords(tmp_path / "records.json"), view=view)
        store.close()
        database.unlink()
        found = admin.authenticate(key)
        assert found is not None
        assert (found.id, found.role) == (record.id, Role.ADMIN)
        assert admin.authenticate("sls_0123456789ab_" + "x" * 43) is None
        assert admin.key(record.id) is not None
    finally:
        view.stop()


def test_an_answer_with_a_new_key_or_a_session_cookie_keeps_them_out_of_its_repr() -> None:
    key = "sls_0123456789ab_" + "s" * 43
    created = json_answer(201, {"name": "ci", "key": key})
    signed_in = Answer(303, "ui", [(b"set-cookie", b"sls_access_session=tok3n-s3cret; HttpOnly")], b"")
    assert key.encode() in created.body
    assert key not in repr(created)
    assert "tok3n-s3cret" not in repr(signed_in)


def test_a_json_answer_quoting_the_path_is_never_sniffed_as_a_page() -> None:
    answer = error_answer(AdminError(400, "invalid", "org: '<script>x</script>' must not contain '/'"))
    headers = dict(answer.headers)
    assert b"<script>" in answer.body
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert b"default-src 'none'" in headers[b"content-security-policy"]
