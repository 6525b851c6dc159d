"""Sessions from a resolver: plain botocore sessions, each new and independent, sharing only
botocore's parsed data and built-in handlers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import botocore
import botocore.exceptions
import botocore.session
import pytest
from botocore.configprovider import ConstantProvider
from mypy_boto3_sts import STSClient
from support import in_threads

from sls_access import Resolver
from sls_access._botocore_session import new_session

TARGET = ("acme", "shop", "prod")
# Configuration names a client reads, from the environment, the config file or a default.
CONFIG_NAMES = (
    "region",
    "max_attempts",
    "retry_mode",
    "s3",
    "sts_regional_endpoints",
    "defaults_mode",
    "connect_timeout",
    "read_timeout",
    "tcp_keepalive",
    "data_path",
    "config_file",
    "credentials_file",
    "profile",
    "ca_bundle",
    "endpoint_url",
    "proxies_config",
    "use_dualstack_endpoint",
    "use_fips_endpoint",
    "parameter_validation",
    "api_versions",
)


def sts_client(session: botocore.session.Session) -> STSClient:
    return cast("STSClient", session.create_client("sts"))


def counter() -> tuple[list[str], Callable[..., None]]:
    seen: list[str] = []

    def handler(**kwargs: Any) -> None:
        seen.append(kwargs["event_name"])

    return seen, handler


def test_each_call_returns_a_new_session_that_signs(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    first, second = resolver.session(*TARGET), resolver.session(*TARGET)
    assert first is not second
    for session in (first, second):
        assert ":assumed-role/sls-access-prod/" in sts_client(session).get_caller_identity()["Arn"]


def test_a_handler_registered_on_one_session_does_not_reach_another(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    mine, other = resolver.session(*TARGET), resolver.session(*TARGET)
    seen, handler = counter()
    mine.register("before-call.sts.GetCallerIdentity", handler)
    sts_client(other).get_caller_identity()
    assert seen == []
    sts_client(mine).get_caller_identity()
    assert seen == ["before-call.sts.GetCallerIdentity"]


def test_a_handler_unregistered_from_one_session_stays_in_the_others(dashboard: Path) -> None:
    # Sessions read one template emitter until they change theirs (copy on write).
    resolver = Resolver(dashboard=str(dashboard))
    mine, other = resolver.session(*TARGET), resolver.session(*TARGET)
    seen, handler = counter()
    for session in (mine, other):
        session.register("before-call.sts.GetCallerIdentity", handler, unique_id="count")
    mine.unregister("before-call.sts.GetCallerIdentity", unique_id="count")
    sts_client(mine).get_caller_identity()
    assert seen == []
    sts_client(other).get_caller_identity()
    sts_client(resolver.session(*TARGET)).get_caller_identity()
    assert seen == ["before-call.sts.GetCallerIdentity"]


def test_configuration_changed_on_one_session_stays_there(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    mine, other = resolver.session(*TARGET), resolver.session(*TARGET)
    mine.set_config_variable("region", "eu-central-1")
    assert mine.get_config_variable("region") == "eu-central-1"
    assert other.get_config_variable("region") == "us-east-1"


def test_sessions_share_the_data_loader_per_data_path(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    first, second = resolver.session(*TARGET), resolver.session(*TARGET)
    assert first.get_component("data_loader") is second.get_component("data_loader")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    elsewhere = resolver.session(*TARGET)
    assert elsewhere.get_component("data_loader") is not first.get_component("data_loader")
    assert str(tmp_path) in elsewhere.get_component("data_loader").search_paths


def test_botocore_initializers_run_once_per_session(dashboard: Path) -> None:
    seen, handler = counter()

    def initializer(session: botocore.session.Session) -> None:
        session.register("before-call.sts.GetCallerIdentity", handler)

    botocore.register_initializer(initializer)
    try:
        resolver = Resolver(dashboard=str(dashboard))
        for _ in range(2):
            sts_client(resolver.session(*TARGET)).get_caller_identity()
    finally:
        botocore.unregister_initializer(initializer)
    assert seen == ["before-call.sts.GetCallerIdentity"] * 2  # not doubled by a shared template


def test_the_session_credential_chain_is_the_resolver_alone(dashboard: Path) -> None:
    session = Resolver(dashboard=str(dashboard)).session(*TARGET)
    providers = session.get_component("credential_provider").providers
    assert [provider.METHOD for provider in providers] == ["sls-access"]


def test_sessions_carry_botocores_built_in_handlers(dashboard: Path) -> None:
    # A built-in handler at work (botocore.handlers.validate_bucket_name): an invalid bucket
    # name is refused before any request is made, as by a plain session's client.
    resolver = Resolver(dashboard=str(dashboard))
    plain: Any = botocore.session.Session().create_client("s3")
    ours: Any = resolver.session(*TARGET).create_client("s3")
    for client in (plain, ours):
        with pytest.raises(botocore.exceptions.ParamValidationError, match="Invalid bucket name"):
            client.list_objects_v2(Bucket="not/a/bucket")


def test_sessions_answer_every_configuration_name_as_a_botocore_session_does(
    dashboard: Path, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shared loader and handler template change no answer, name by name.
    (aws_env / "aws-config").write_text(
        "[default]\nmax_attempts = 7\nretry_mode = adaptive\ns3 =\n    addressing_style = path\n"
    )
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    resolver = Resolver(dashboard=str(dashboard))
    resolver.session(*TARGET)  # a first session: what is shared is built
    ours, plain = resolver.session(*TARGET), botocore.session.Session()
    plain.set_config_variable("region", ours.get_config_variable("region"))
    assert ours.get_config_variable("max_attempts") == 7
    for name in CONFIG_NAMES:
        assert ours.get_config_variable(name) == plain.get_config_variable(name), name


def test_a_changed_config_file_is_seen_by_the_next_session(dashboard: Path, aws_env: Path) -> None:
    config = aws_env / "aws-config"
    config.write_text("[default]\nmax_attempts = 7\n")
    resolver = Resolver(dashboard=str(dashboard))
    assert resolver.session(*TARGET).get_config_variable("max_attempts") == 7
    config.write_text("[default]\nmax_attempts = 8\n")
    assert resolver.session(*TARGET).get_config_variable("max_attempts") == 8


def test_an_environment_variable_is_read_when_asked_as_by_botocore(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, plain = Resolver(dashboard=str(dashboard)).session(*TARGET), botocore.session.Session()
    for session in (ours, plain):
        assert session.get_config_variable("max_attempts") is None
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    assert [session.get_config_variable("max_attempts") for session in (ours, plain)] == [5, 5]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "6")
    assert [session.get_config_variable("max_attempts") for session in (ours, plain)] == [6, 6]


def test_a_setting_on_one_sessions_configuration_store_stays_there(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    mine, other = resolver.session(*TARGET), resolver.session(*TARGET)
    mine.get_component("config_store").set_config_variable("max_attempts", 9)
    mine.get_component("config_store").set_config_provider("retry_mode", ConstantProvider("adaptive"))
    assert (mine.get_config_variable("max_attempts"), mine.get_config_variable("retry_mode")) == (9, "adaptive")
    assert other.get_config_variable("max_attempts") is None
    assert other.get_config_variable("retry_mode") != "adaptive"
    assert resolver.session(*TARGET).get_config_variable("max_attempts") is None


def test_a_clients_configuration_follows_the_defaults_mode_as_botocores(
    dashboard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore merges the mode's defaults into the client's copy of the store (its providers replaced).
    monkeypatch.setenv("AWS_DEFAULTS_MODE", "standard")
    ours: Any = Resolver(dashboard=str(dashboard)).session(*TARGET).create_client("sts")
    plain: Any = botocore.session.Session().create_client("sts")
    for client in (ours, plain):
        assert client.meta.config.retries["mode"] == "standard"
    assert ours.meta.config.connect_timeout == plain.meta.config.connect_timeout != 60


def test_sessions_made_in_many_threads_at_once_are_each_their_own(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    resolver.session(*TARGET)
    regions = iter(f"{area}-{n}" for area in ("eu-west", "us-west", "ap-south", "ca-central") for n in range(1, 9))
    lock = threading.Lock()

    def call() -> tuple[str, str, object]:
        with lock:
            region = next(regions)
        session = resolver.session(*TARGET)
        session.set_config_variable("region", region)
        client: Any = session.create_client("sts")
        return region, client.meta.region_name, session.get_component("config_store")

    results, errors = in_threads(32, call)
    assert errors == []
    assert all(region == client_region for region, client_region, _ in results)
    assert len({id(store) for _, _, store in results}) == 32


def test_the_region_in_the_environment_is_read_when_asked_not_when_the_session_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = new_session()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-south-1")
    client: Any = session.create_client("sts")
    assert (session.get_config_variable("region"), client.meta.region_name) == ("eu-south-1", "eu-south-1")


def test_a_credentials_file_created_later_is_seen_by_the_next_session(dashboard: Path, aws_env: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    assert "extra" not in resolver.session(*TARGET).available_profiles
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text("[extra]\naws_access_key_id = AKIDEXAMPLE\n")
    assert "extra" in resolver.session(*TARGET).available_profiles


def test_a_broken_config_file_fails_every_session(dashboard: Path, aws_env: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    resolver.credentials(*TARGET)  # resolved while the file was sound
    (aws_env / "aws-config").write_text("[default\nregion = eu-west-1\n")
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ConfigParseError):
            resolver.session(*TARGET).get_config_variable("max_attempts")


def test_the_config_file_is_found_through_home_at_each_session(
    dashboard: Path, aws_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    monkeypatch.setenv("AWS_CONFIG_FILE", "~/aws-config")
    (Path(os.environ["HOME"]) / "aws-config").write_text("[default]\nmax_attempts = 4\n")
    assert resolver.session(*TARGET).get_config_variable("max_attempts") == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "aws-config").write_text("[default]\nmax_attempts = 5\n")
    monkeypatch.setenv("HOME", str(elsewhere))
    assert resolver.session(*TARGET).get_config_variable("max_attempts") == 5
