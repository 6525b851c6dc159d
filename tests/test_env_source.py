from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import BASE_KEY_ID

from sls_access import ConfigError, Resolver, SlsAccessError


def test_stage_variables_win_over_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PRE_PROD_ACCESS_KEY_ID", "AKIASTAGE")
    monkeypatch.setenv("AWS_PRE_PROD_SECRET_ACCESS_KEY", "stage-secret")
    monkeypatch.setenv("AWS_PRE_PROD_SESSION_TOKEN", "stage-token")
    creds = Resolver().credentials("acme", "shop", "pre-prod")
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIASTAGE",
        "stage-secret",
        "stage-token",
    )
    assert creds.source == "env"


def test_plain_variables_apply_when_the_stage_has_none() -> None:
    creds = Resolver().credentials("acme", "shop", "prod")
    assert creds.access_key_id == BASE_KEY_ID
    assert creds.session_token is None
    assert creds.expiration is None


def test_partial_stage_variables_are_an_error_not_a_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROD_ACCESS_KEY_ID", "AKIASTAGE")
    with pytest.raises(ConfigError, match="AWS_PROD_SECRET_ACCESS_KEY") as info:
        Resolver().credentials("acme", "shop", "prod")
    assert info.value.key == "AWS_PROD_SECRET_ACCESS_KEY"


def test_stage_token_without_keys_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROD_SESSION_TOKEN", "tok")
    with pytest.raises(ConfigError, match="AWS_PROD_SESSION_TOKEN"):
        Resolver().credentials("acme", "shop", "prod")


def test_credential_expiration_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2099-01-01T00:00:00Z")
    creds = Resolver().credentials("acme", "shop", "prod")
    assert creds.expiration is not None
    assert creds.expiration.year == 2099


def test_env_skipped_with_reason_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    entry = Resolver().explain("acme", "shop", "prod").trail[1]
    assert entry.source == "env"
    assert entry.reason == "neither AWS_PROD_ACCESS_KEY_ID nor AWS_ACCESS_KEY_ID is set"


def test_env_keys_with_less_than_a_minute_left_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # One expiry rule for every source: keys expired on arrival are refused, not handed out.
    soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", soon)
    with pytest.raises(SlsAccessError, match=r"source .env. returned keys that expire at .* \(less than 60 s: refused"):
        Resolver().credentials("any", "app", "dev")


def test_env_keys_with_more_than_a_minute_left_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", later)
    assert Resolver().credentials("any", "app", "dev").source == "env"
