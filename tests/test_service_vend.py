"""The service's role sessions: shared per link, or one per (link, access key) with ``sessions = "per_key"``.

The app is called in process the way uvicorn calls it; STS is the loopback moto behind the
recording proxy, whose ``requests`` are the AssumeRole parameters STS received. moto does
not check ``SourceIdentity`` or tag values, so the tests check them against STS's rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from support import StsProxy
from test_service_app import call

from sls_access import AccessRoleError, Target
from sls_access.service import App, KeyStore, create_app
from sls_access.service.keys import hash_key

PER_KEY = """
[orgs.acme.deployment_profiles.prod]
role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"
sessions = "per_key"

[orgs.acme.deployment_profiles.dev]
role_arn = "arn:aws:iam::222222222222:role/sls-access-dev"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"

[orgs.acme.apps.shop.stages.dev]
deployment_profile = "dev"
"""
PROD = "/v1/orgs/acme/apps/shop/stages/prod/credentials"
DEV = "/v1/orgs/acme/apps/shop/stages/dev/credentials"
STS_SESSION_FIELD = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
TAGS = ("sls-org", "sls-app", "sls-stage", "sls-key")


def sts_accepts_tag_value(value: str) -> bool:
    return len(value) <= 256 and all(ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LZN" for ch in value)


@pytest.fixture
def per_key(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard.toml"
    path.write_text(PER_KEY)
    return path


def new_keys(dashboard: Path, *names: str) -> list[str]:
    store = KeyStore(dashboard.with_name("dashboard.keys.json"))
    return [store.create("acme", name)[1] for name in names]


def assumed(sts: StsProxy) -> list[dict[str, str]]:
    return [request for request in sts.requests if request.get("Action") == "AssumeRole"]


def tags(request: dict[str, str]) -> dict[str, str]:
    keys = {k: v for k, v in request.items() if re.fullmatch(r"Tags\.member\.\d+\.Key", k)}
    return {v: request[k.replace(".Key", ".Value")] for k, v in keys.items()}


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "sls_access.audit"]


def test_two_keys_on_a_per_key_link_enter_the_role_in_two_named_sessions(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    ci, alice = new_keys(per_key, "ci-deploy", "alice")
    assert call(app, PROD, ci)[0] == 200
    assert call(app, PROD, alice)[0] == 200
    first, second = assumed(sts)
    ci_id, alice_id = ci.split("_")[1], alice.split("_")[1]
    assert (first["RoleSessionName"], first["SourceIdentity"]) == (f"ci-deploy.{ci_id}", "ci-deploy")
    assert (second["RoleSessionName"], second["SourceIdentity"]) == (f"alice.{alice_id}", "alice")
    assert tags(first) == {"sls-org": "acme", "sls-app": "shop", "sls-stage": "prod", "sls-key": "ci-deploy"}
    assert tags(second)["sls-key"] == "alice"
    assert not any(k.startswith("TransitiveTagKeys") for k in first)


def test_two_keys_get_different_aws_keys_on_a_per_key_link(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    ci, alice = new_keys(per_key, "ci", "alice")
    assert call(app, PROD, ci)[2]["AccessKeyId"] != call(app, PROD, alice)[2]["AccessKeyId"]


def test_a_shared_link_enters_the_role_once_for_every_key(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    ci, alice = new_keys(per_key, "ci", "alice")
    bodies = [call(app, DEV, key)[2] for key in (ci, alice)]
    assert bodies[0]["AccessKeyId"] == bodies[1]["AccessKeyId"]
    (request,) = assumed(sts)
    assert request["RoleSessionName"] == "sls-acme.shop.dev"
    assert "SourceIdentity" not in request
    assert tags(request) == {}


def test_200_requests_per_key_are_still_one_assume_role_per_key(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    keys = new_keys(per_key, "ci", "alice")
    statuses = {call(app, PROD, key)[0] for _ in range(200) for key in keys}
    assert statuses == {200}
    assert sts.calls["AssumeRole"] == 2


def test_the_audit_line_names_the_aws_key_and_session_the_client_received(
    per_key: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sls_access.audit")
    app = create_app(per_key)
    (ci,) = new_keys(per_key, "ci")
    _, _, body = call(app, PROD, ci)
    (line,) = audit_lines(caplog)
    (request,) = assumed(sts)
    assert line["aws_key_id"] == body["AccessKeyId"]
    assert line["aws_key_id"].startswith("ASIA")
    assert (line["session"], line["source_identity"]) == (request["RoleSessionName"], request["SourceIdentity"])
    assert (line["key"], line["key_id"]) == ("ci", ci.split("_")[1])


def test_the_audit_line_of_a_shared_session_names_it_without_a_source_identity(
    per_key: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sls_access.audit")
    app = create_app(per_key)
    (ci,) = new_keys(per_key, "ci")
    _, _, body = call(app, DEV, ci)
    (line,) = audit_lines(caplog)
    assert (line["aws_key_id"], line["session"], line["source_identity"]) == (
        body["AccessKeyId"],
        "sls-acme.shop.dev",
        None,
    )


def test_a_refused_request_names_no_aws_key(per_key: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sls_access.audit")
    call(create_app(per_key), PROD, "wrong")
    (line,) = audit_lines(caplog)
    assert (line["status"], line["aws_key_id"], line["session"]) == (401, None, None)


HOSTILE = ["x" * 70, "aws:admin", "Zoë Müller", "ci deploy", "team/ci", "a", "日本語"]


def hand_written_keys(dashboard: Path, names: list[str]) -> list[str]:
    """Keys whose names an operator typed into the key file by hand (the CLI refuses such names)."""
    keys, records = [], []
    for name in names:
        key_id = secrets.token_hex(6)
        key = f"sls_{key_id}_{secrets.token_urlsafe(32)}"
        keys.append(key)
        records.append(
            {"id": key_id, "org": "acme", "name": name, "created": "2026-01-01T00:00:00Z", "sha256": hash_key(key)}
        )
    dashboard.with_name("dashboard.keys.json").write_text(json.dumps({"version": 1, "keys": records}))
    return keys


def test_key_names_sts_would_reject_are_sanitised_never_passed_through(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    for key in hand_written_keys(per_key, HOSTILE):
        assert call(app, PROD, key)[0] == 200
    requests = assumed(sts)
    assert len(requests) == len(HOSTILE)
    for name, request in zip(HOSTILE, requests, strict=True):
        assert STS_SESSION_FIELD.fullmatch(request["RoleSessionName"]), request["RoleSessionName"]
        assert STS_SESSION_FIELD.fullmatch(request["SourceIdentity"]), request["SourceIdentity"]
        assert not request["SourceIdentity"].lower().startswith("aws:")
        assert request["SourceIdentity"] != name
        assert all(sts_accepts_tag_value(value) for value in tags(request).values())
    assert len({request["SourceIdentity"] for request in requests}) == len(HOSTILE)


def test_unicode_letters_in_a_key_name_are_kept_in_its_tag(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    (key,) = hand_written_keys(per_key, ["Zoë Müller"])
    call(app, PROD, key)
    (request,) = assumed(sts)
    assert tags(request)["sls-key"] == "Zoë Müller"


def test_a_revoked_key_is_refused_and_its_session_not_served_again(per_key: Path, sts: StsProxy) -> None:
    app: App = create_app(per_key)
    ci, alice = new_keys(per_key, "ci", "alice")
    assert call(app, PROD, ci)[0] == 200
    assert call(app, PROD, alice)[0] == 200
    KeyStore(per_key.with_name("dashboard.keys.json")).revoke("acme", "ci")
    status, _, body = call(app, PROD, ci)
    assert (status, body["message"]) == (401, "revoked access key")
    assert "AccessKeyId" not in body
    assert call(app, PROD, alice)[0] == 200
    assert sts.calls["AssumeRole"] == 2


def test_a_per_key_profile_is_never_vended_without_an_access_key(per_key: Path, sts: StsProxy) -> None:
    app = create_app(per_key)
    target = Target(org="acme", app="shop", stage="prod")
    link = app.state.dashboard().link(target)
    assert link is not None
    with pytest.raises(AccessRoleError, match="only to an access key"):
        asyncio.run(app.vendor.vend(target, link.profile))
    assert sts.calls["AssumeRole"] == 0
