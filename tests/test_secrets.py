"""Secrets never reach a repr, a str, the trail, an error message or a log record."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import BASE_SECRET
from support import StsProxy, sts_error

from sls_access import AccessRoleError, ConfigError, Options, Resolver
from sls_access.dashboard.file import load_dashboard_file

ACCESS_KEY = "sls-dashboard-access-key-0123456789"


def test_debug_logs_never_carry_assumed_keys(dashboard: Path, sts: StsProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    resolver = Resolver(dashboard=str(dashboard), access_key=ACCESS_KEY)
    session = resolver.session("acme", "shop", "prod")
    session.create_client("sts").get_caller_identity()  # type: ignore[attr-defined]
    creds = resolver.credentials("acme", "shop", "prod")
    assert creds.session_token
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Response body" in text  # botocore did log the STS bodies...
    for secret in (creds.secret_access_key, creds.session_token, BASE_SECRET, ACCESS_KEY):
        assert secret not in text  # ...without the secrets


def test_repr_str_and_trail_hide_secrets(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard), access_key=ACCESS_KEY)
    resolution = resolver.explain("acme", "shop", "prod")
    creds = resolution.credentials
    assert creds is not None
    assert creds.session_token
    texts = [repr(resolver), repr(resolver.options), repr(resolution), str(resolution), repr(creds), str(creds),
             *(str(entry) for entry in resolution.trail), repr(Options(access_key=ACCESS_KEY))]
    for text in texts:
        for secret in (creds.secret_access_key, creds.session_token, ACCESS_KEY, BASE_SECRET):
            assert secret not in text


def test_error_messages_hide_secrets(dashboard: Path, sts: StsProxy) -> None:
    sts.fault = lambda action: sts_error("AccessDenied", "denied") if action == "AssumeRole" else None
    with pytest.raises(AccessRoleError) as info:
        Resolver(dashboard=str(dashboard), access_key=ACCESS_KEY).credentials("acme", "shop", "prod")
    for secret in (BASE_SECRET, ACCESS_KEY):
        assert secret not in str(info.value)
        assert secret not in repr(info.value)


def test_external_id_is_not_in_repr(dashboard: Path) -> None:
    profile = load_dashboard_file(dashboard).orgs["acme"].profiles["sandbox"]
    assert "acme-7f3c" not in repr(profile)


def test_a_bad_external_id_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_text("[orgs.acme.deployment_profiles.p]\nrole_arn = 'arn:aws:iam::222222222222:role/r'\n"
                    "external_id = 'secret-ext id'\n")
    with pytest.raises(ConfigError, match="external_id") as raised:
        load_dashboard_file(path)
    assert "secret-ext" not in str(raised.value)
