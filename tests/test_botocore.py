"""botocore integration: refreshable sessions, and register() into botocore's own chain."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

import botocore.credentials
import botocore.session
import pytest
from conftest import BASE_KEY_ID
from support import FakeClock, StsProxy, sts_error

import sls_access
from sls_access import AccessRoleError, Resolver
from sls_access._provider import SlsAccessProvider

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient


def sts_client(session: botocore.session.Session) -> STSClient:
    return cast("STSClient", session.create_client("sts"))


def test_session_signs_with_valid_keys_for_three_hours(dashboard: Path, sts: StsProxy, clock: FakeClock) -> None:
    sts.clock = clock
    session = Resolver(dashboard=str(dashboard), clock=clock).session("acme", "shop", "prod")
    client = sts_client(session)  # created at minute 0, used until hour 3
    creds = session.get_credentials()
    assert isinstance(creds, botocore.credentials.RefreshableCredentials)
    assert creds.method == "sls-access"
    identities = []
    for minute in range(0, 181, 10):
        frozen = creds.get_frozen_credentials()
        assert sts.issued[str(frozen.access_key)] - clock() > timedelta(minutes=10), minute
        if minute % 60 == 0:  # a call with the session's keys once an hour
            identities.append(client.get_caller_identity()["Arn"])
        clock.advance(minutes=10)
    assert len(identities) == 4
    assert all(":assumed-role/sls-access-prod/" in arn for arn in identities)
    assert 4 <= sts.calls["AssumeRole"] <= 5


def test_session_with_static_keys_has_plain_credentials() -> None:
    session = Resolver().session("acme", "shop", "prod")
    creds = session.get_credentials()
    assert creds is not None
    assert creds.get_frozen_credentials().access_key == BASE_KEY_ID
    assert sts_client(session).get_caller_identity()["Account"]


def test_session_fails_closed_at_creation(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "denied") if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError):
        Resolver(dashboard=str(dashboard)).session("acme", "shop", "prod")


def test_register_into_the_default_session_then_a_real_call(dashboard: Path, sts: StsProxy) -> None:
    session = botocore.session.get_session()
    sls_access.register(session, "acme", "shop", "prod", dashboard=str(dashboard))
    resolver = session.get_component("credential_provider")
    methods = [provider.METHOD for provider in resolver.providers]
    assert methods.index("sls-access") == methods.index("env") - 1
    arn = sts_client(session).get_caller_identity()["Arn"]
    assert ":assumed-role/sls-access-prod/" in arn
    assert sts.calls["AssumeRole"] == 1


def test_register_twice_keeps_one_provider(dashboard: Path) -> None:
    session = botocore.session.get_session()
    resolver = Resolver(dashboard=str(dashboard))
    resolver.register(session, "acme", "shop", "prod")
    resolver.register(session, "acme", "shop", "dev")
    methods = [p.METHOD for p in session.get_component("credential_provider").providers]
    assert methods.count("sls-access") == 1


def test_registered_provider_yields_to_botocore_when_nothing_applies(
    monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (aws_env / "aws-credentials").write_text("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_PROFILE", "other")
    session = botocore.session.Session()
    # Our chain finds nothing for this stage with sources=env: botocore's own chain goes on.
    Resolver(sources="env").register(session, "acme", "shop", "prod")
    creds = session.get_credentials()
    assert creds is not None
    assert creds.method == "shared-credentials-file"


def test_registered_provider_fails_closed(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "denied") if action == "AssumeRole" else None
    session = botocore.session.Session()
    Resolver(dashboard=str(dashboard)).register(session, "acme", "shop", "prod")
    with pytest.raises(AccessRoleError):
        session.get_credentials()


def test_provider_names_are_botocore_conventions() -> None:
    assert SlsAccessProvider.METHOD == "sls-access"
    assert SlsAccessProvider.CANONICAL_NAME == "custom-sls-access"


def test_boto3_session_uses_the_chain(dashboard: Path) -> None:
    b3 = sls_access.boto3_session("acme", "shop", "prod", dashboard=str(dashboard))
    arn = b3.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/sls-access-prod/" in arn
