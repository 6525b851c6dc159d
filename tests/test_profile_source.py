"""The profile source loads profiles through botocore, as the AWS CLI does."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.credentials
import pytest

from sls_access import ConfigError, Resolver


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


def write_credentials(home: Path, **profiles: str) -> None:
    lines = []
    for name, key in profiles.items():
        lines += [f"[{name}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = secret-{key}", ""]
    (home / "aws-credentials").write_text("\n".join(lines))


@pytest.mark.usefixtures("no_env_keys")
def test_stage_profile_variable_wins(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(aws_env, default="AKIADEFAULT", staging="AKIASTAGING", other="AKIAOTHER")
    monkeypatch.setenv("AWS_STAGING_PROFILE", "staging")
    monkeypatch.setenv("AWS_PROFILE", "other")
    creds = Resolver(profile="other").credentials("acme", "shop", "staging")
    assert creds.access_key_id == "AKIASTAGING"
    assert creds.source == "profile"


@pytest.mark.usefixtures("no_env_keys")
def test_profile_option_then_aws_profile_then_default(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_credentials(aws_env, default="AKIADEFAULT", opt="AKIAOPT", envp="AKIAENVP")
    assert Resolver().credentials("a", "b", "c").access_key_id == "AKIADEFAULT"
    monkeypatch.setenv("AWS_PROFILE", "envp")
    assert Resolver().credentials("a", "b", "c").access_key_id == "AKIAENVP"
    assert Resolver(profile="opt").credentials("a", "b", "c").access_key_id == "AKIAOPT"


@pytest.mark.usefixtures("no_env_keys")
def test_credential_process_profile_works(aws_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # else botocore lets it win over the profile's region
    script = tmp_path / "creds.py"
    script.write_text(
        "import json\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROCESS', 'SecretAccessKey': 's3cr3t',"
        " 'SessionToken': 'tok', 'Expiration': '2099-01-01T00:00:00Z'}))\n"
    )
    (aws_env / "aws-config").write_text(
        f"[profile proc]\ncredential_process = {sys.executable} {script}\nregion = eu-central-1\n"
    )
    resolver = Resolver(profile="proc")
    creds = resolver.credentials("a", "b", "c")
    assert (creds.access_key_id, creds.session_token) == ("AKIAPROCESS", "tok")
    assert creds.expiration is not None
    # botocore's expiry, read through its public refresh_needed(): to the millisecond, never later.
    expiry = datetime(2099, 1, 1, tzinfo=UTC)
    assert expiry - timedelta(seconds=1) < creds.expiration <= expiry
    assert resolver.session("a", "b", "c").get_config_variable("region") == "eu-central-1"


@pytest.mark.usefixtures("no_env_keys")
def test_explicitly_named_missing_profile_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROD_PROFILE", "nope")
    with pytest.raises(ConfigError, match="'nope'") as info:
        Resolver().credentials("acme", "shop", "prod")
    assert info.value.key == "AWS_PROD_PROFILE"


def test_env_keys_are_not_taken_by_the_profile_source(aws_env: Path) -> None:
    # The profile source must not fall into botocore's env provider: env is its own source.
    write_credentials(aws_env, default="AKIADEFAULT")
    resolver = Resolver(sources="profile")
    assert resolver.credentials("a", "b", "c").access_key_id == "AKIADEFAULT"


@pytest.mark.usefixtures("no_env_keys")
def test_role_profile_assumes_through_real_sts(aws_env: Path) -> None:
    write_credentials(aws_env, base="AKIABASEPROFILE")
    (aws_env / "aws-config").write_text(
        "[profile deployer]\nrole_arn = arn:aws:iam::666666666666:role/deployer\nsource_profile = base\n"
    )
    creds = Resolver(profile="deployer").credentials("a", "b", "c")
    assert creds.access_key_id.startswith("ASIA")
    assert creds.expiration is not None


def test_the_expiry_of_refreshable_keys_is_read_never_later_than_botocores() -> None:
    from sls_access.sources.profile import _expiry  # noqa: PLC0415 - the unit under test

    expiry = datetime.now(UTC) + timedelta(hours=1, milliseconds=500)
    refreshable = botocore.credentials.RefreshableCredentials(
        "AKIAEXAMPLE",
        "secret",
        "token",
        expiry,
        refresh_using=dict,
        method="test",
        time_fetcher=lambda: datetime.now(UTC),
    )
    found = _expiry(refreshable)

    assert found is not None
    assert expiry - timedelta(seconds=1) < found <= expiry
    assert _expiry(botocore.credentials.Credentials("AKIAEXAMPLE", "secret")) is None  # static keys: none
