"""Clients from a resolver (``Resolver.client``, ``sls_access.client``): cached per key, shared, refreshed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.client
import botocore.config
import pytest
from support import FakeClock, StsProxy, in_threads

import sls_access
from sls_access import Resolver, SlsAccessError
from sls_access._resolver import MAX_CLIENTS

TARGET = ("acme", "shop", "prod")


def signing_key_ids(client: botocore.client.BaseClient) -> list[str]:
    """The access key id of every request *client* signs from now on (botocore's own event)."""
    seen: list[str] = []

    def before_send(request: Any, **_: Any) -> None:
        found = re.search(r"Credential=([A-Z0-9]+)/", request.headers["Authorization"].decode())
        assert found is not None
        seen.append(found.group(1))

    client.meta.events.register("before-send.sts", before_send)
    return seen


def test_the_same_client_is_returned_for_the_same_key(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    assert resolver.client(*TARGET, "sts") is resolver.client(*TARGET, "sts")


def test_the_client_signs_with_the_targets_role(dashboard: Path) -> None:
    client: Any = Resolver(dashboard=str(dashboard)).client(*TARGET, "sts")
    assert ":assumed-role/sls-access-prod/" in client.get_caller_identity()["Arn"]


def test_sixteen_threads_get_one_client_made_once(
    dashboard: Path, sts: StsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    made: list[str] = []
    session = resolver.session

    def counting_session(*args: Any, **kwargs: Any) -> Any:
        made.append("session")
        return session(*args, **kwargs)

    monkeypatch.setattr(resolver, "session", counting_session)
    clients, errors = in_threads(16, lambda: resolver.client(*TARGET, "sts"))
    assert errors == []
    assert len(clients) == 16
    assert len({id(client) for client in clients}) == 1
    assert made == ["session"]
    assert sts.calls["AssumeRole"] == 1


def test_other_regions_services_and_configs_get_other_clients(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    config = botocore.config.Config(retries={"max_attempts": 1})
    clients = [
        resolver.client(*TARGET, "sts"),
        resolver.client(*TARGET, "sts", region="eu-west-1"),
        resolver.client(*TARGET, "s3"),
        resolver.client(*TARGET, "sts", config=config),
    ]
    assert len({id(client) for client in clients}) == 4
    assert clients[1].meta.region_name == "eu-west-1"
    assert resolver.client(*TARGET, "sts", config=config) is clients[3]


def test_a_client_kept_past_expiry_signs_with_new_keys(dashboard: Path, sts: StsProxy, clock: FakeClock) -> None:
    sts.clock = clock
    client: Any = Resolver(dashboard=str(dashboard), clock=clock).client(*TARGET, "sts")
    seen = signing_key_ids(client)
    client.get_caller_identity()
    clock.advance(minutes=55)  # 1 h keys: past the mandatory refresh (10 minutes before expiry)
    client.get_caller_identity()
    assert sts.calls["AssumeRole"] == 2
    assert len(seen) == 2
    assert seen[0] != seen[1]
    assert sts.issued[seen[1]] > clock()


def test_a_client_whose_link_fails_on_refresh_raises(dashboard: Path, sts: StsProxy, clock: FakeClock) -> None:
    sts.clock = clock
    client: Any = Resolver(dashboard=str(dashboard), clock=clock).client(*TARGET, "sts")
    sts.fault = lambda action: (
        (403, b"<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>")
        if action == "AssumeRole"
        else None
    )
    clock.advance(minutes=55)
    with pytest.raises(SlsAccessError):
        client.get_caller_identity()


def test_the_cache_keeps_at_most_max_clients(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    first = resolver.client(*TARGET, "sts")
    configs = [botocore.config.Config(user_agent_extra=f"n{n}") for n in range(MAX_CLIENTS)]
    made = [resolver.client(*TARGET, "sts", config=config) for config in configs]
    # The MAX_CLIENTS most recent are kept (returned again); the first, made before them, is not.
    assert all(
        resolver.client(*TARGET, "sts", config=config) is client for config, client in zip(configs, made, strict=True)
    )
    assert resolver.client(*TARGET, "sts") is not first


def test_a_bad_target_raises_at_the_first_call(dashboard: Path) -> None:
    with pytest.raises(SlsAccessError):
        Resolver(dashboard=str(dashboard)).client("acme", "shop", "../prod", "sts")


def test_the_module_function_returns_the_same_client(dashboard: Path) -> None:
    first = sls_access.client(*TARGET, "sts", region="us-east-1", dashboard=str(dashboard))
    assert sls_access.client(*TARGET, "sts", region="us-east-1", dashboard=str(dashboard)) is first


def test_no_secret_in_the_clients_repr(dashboard: Path) -> None:
    resolver = Resolver(dashboard=str(dashboard))
    client = resolver.client(*TARGET, "sts")
    creds = resolver.credentials(*TARGET)
    assert creds.secret_access_key not in repr(client)
    assert creds.session_token is not None
    assert creds.session_token not in repr(client)
