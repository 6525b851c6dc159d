"""The built-in AssumeRole with a local dashboard file: a per_key profile names the caller.

With ``sessions = "per_key"`` the SourceIdentity is the caller's own identity, from the base
credentials' GetCallerIdentity ARN (cached per base access key id); when that cannot be
had the role is not entered and nothing falls back to local keys. STS is the loopback moto
behind the recording proxy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import botocore.session
import pytest
from mypy_boto3_sts import STSClient
from support import StsProxy, sts_error

from sls_access import AccessRoleError, Resolver

DASHBOARD = """
[orgs.acme.deployment_profiles.prod]
role_arn = "arn:aws:iam::111111111111:role/sls-access-prod"
sessions = "per_key"

[orgs.acme.deployment_profiles.dev]
role_arn = "arn:aws:iam::222222222222:role/sls-access-dev"

[orgs.acme.apps.shop.stages.prod]
deployment_profile = "prod"

[orgs.acme.apps.shop.stages.staging]
deployment_profile = "prod"

[orgs.acme.apps.shop.stages.dev]
deployment_profile = "dev"
"""


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard.toml"
    path.write_text(DASHBOARD)
    return path


def act_as(session_name: str, monkeypatch: pytest.MonkeyPatch, sts: StsProxy) -> None:
    """Make the base credentials those of an SSO-style role session named *session_name* (issued by moto)."""
    client = cast("STSClient", botocore.session.Session().create_client("sts", region_name="us-east-1"))
    creds = client.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/AWSReservedSSO_Deploy_0a1b", RoleSessionName=session_name
    )["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    sts.reset()


@pytest.fixture
def as_alice(monkeypatch: pytest.MonkeyPatch, sts: StsProxy) -> None:
    act_as("alice@example.com", monkeypatch, sts)


def assumed(sts: StsProxy) -> list[dict[str, str]]:
    return [request for request in sts.requests if request.get("Action") == "AssumeRole"]


@pytest.mark.usefixtures("as_alice")
def test_a_per_key_profile_sets_the_callers_identity_as_source_identity(dashboard: Path, sts: StsProxy) -> None:
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    (request,) = assumed(sts)
    assert request["SourceIdentity"] == "alice@example.com"
    assert request["RoleSessionName"] == "sls-acme.shop.prod"


def test_an_iam_users_identity_is_its_name(dashboard: Path, sts: StsProxy) -> None:
    # moto answers GetCallerIdentity for keys it did not issue with arn:aws:sts::…:user/moto.
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    (request,) = assumed(sts)
    assert request["SourceIdentity"] == "moto"


def test_a_callers_identity_that_sts_would_reject_is_sanitised(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_as("Zoë Müller", monkeypatch, sts)  # moto checks only a session name's length
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    (request,) = assumed(sts)
    assert re.fullmatch(r"Zo--M-ller-[0-9a-f]{10}", request["SourceIdentity"]), request["SourceIdentity"]


def test_a_shared_profile_neither_asks_who_the_caller_is_nor_sets_a_source_identity(
    dashboard: Path, sts: StsProxy
) -> None:
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    (request,) = assumed(sts)
    assert "SourceIdentity" not in request
    assert sts.calls["GetCallerIdentity"] == 0


@pytest.mark.usefixtures("as_alice")
def test_the_callers_identity_is_asked_once_per_base_key(dashboard: Path, sts: StsProxy) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    resolver.credentials("acme", "shop", "prod")
    resolver.credentials("acme", "shop", "staging")
    assert sts.calls["AssumeRole"] == 2
    assert sts.calls["GetCallerIdentity"] == 1


@pytest.mark.usefixtures("as_alice")
def test_the_role_is_not_entered_without_the_callers_identity(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "no") if action == "GetCallerIdentity" else None
    with pytest.raises(AccessRoleError, match=r"GetCallerIdentity.*per_key.*AccessDenied") as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    assert info.value.role_arn == "arn:aws:iam::111111111111:role/sls-access-prod"
    assert sts.calls["AssumeRole"] == 0  # and no fallback to the AWS_* keys in the environment


def test_a_caller_identity_answer_without_an_arn_is_refused(dashboard: Path, sts: StsProxy) -> None:
    # What no real STS sends: a GetCallerIdentity answer that names nobody.
    body = (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult><Account>111111111111</Account></GetCallerIdentityResult>"
        b"</GetCallerIdentityResponse>"
    )
    sts.fault = lambda action: (200, body) if action == "GetCallerIdentity" else None
    with pytest.raises(AccessRoleError, match="names no caller ARN"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "prod")
    assert sts.calls["AssumeRole"] == 0
