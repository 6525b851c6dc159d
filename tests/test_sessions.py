"""Sessions from a resolver: each new and independent, sharing only botocore's parsed data and built-in handlers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import botocore
import botocore.exceptions
import botocore.session
import pytest
from mypy_boto3_sts import STSClient

from sls_access import Resolver

TARGET = ("acme", "shop", "prod")


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


def test_sessions_share_the_data_loader_per_data_path(dashboard: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
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
