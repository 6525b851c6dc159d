"""The plugin hooks beyond sources: entering the role, naming its session, observers.

Each plugin is a module written to a temporary site directory with a dist-info that
declares it in the ``sls_access`` entry-point group, as an installed package would.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_KEY_ID
from support import PluginSite, StsProxy

from sls_access import AccessRoleError, ConfigError, NoCredentialsError, Resolver, SlsAccessError
from sls_access.plugin import PluginLoadWarning

HEADER = """
from datetime import datetime, timedelta, timezone
from sls_access.plugin import Credentials, RoleSession, Skip, hookimpl
CALLS = []
"""

# One plugin per behaviour: each records its calls in CALLS.
ENTERS = (
    HEADER
    + """
@hookimpl
def sls_access_enter_role(target, deployment_profile, session):
    CALLS.append((target, deployment_profile, session))
    return Credentials(access_key_id="AKIAPLUGINENTERED001", secret_access_key="plugin-secret",
                       session_token="plugin-token",
                       expiration=datetime.now(timezone.utc) + timedelta(hours=1))
"""
)

STEPS_ASIDE = (
    HEADER
    + """
@hookimpl
def sls_access_enter_role(target, deployment_profile, session):
    CALLS.append((target, deployment_profile, session))
    return None
"""
)

ENTERS_ANOTHER_ROLE = (
    HEADER
    + """
@hookimpl
def sls_access_enter_role(target):
    return Credentials(access_key_id="AKIAPLUGINOTHERROLE1", secret_access_key="plugin-secret",
                       role_arn="arn:aws:iam::999999999999:role/other")
"""
)

RAISES_NAMED = (
    HEADER
    + """
from sls_access.plugin import AccessRoleError


@hookimpl
def sls_access_enter_role(target, deployment_profile):
    raise AccessRoleError("the broker said no", target=target, deployment_profile=deployment_profile.name,
                          role_arn=deployment_profile.role_arn).from_plugin("broker")
"""
)

RAISES = (
    HEADER
    + """
@hookimpl
def sls_access_enter_role(target):
    raise RuntimeError("the vault is sealed")
"""
)

RETURNS_A_STRING = (
    HEADER
    + """
@hookimpl
def sls_access_enter_role(target):
    return "not credentials"
"""
)

NAMES_SESSION = (
    HEADER
    + """
@hookimpl
def sls_access_role_session(target, deployment_profile):
    return RoleSession(name=f"ci-{target.stage}", source_identity="alice@example.com")
"""
)

NAMES_SESSION_PLAINLY = (
    HEADER
    + """
@hookimpl
def sls_access_role_session(target):
    return f"deploy-{target.stage}"
"""
)

LEAVES_SESSION = (
    HEADER
    + """
@hookimpl
def sls_access_role_session(target):
    return None
"""
)

INVALID_NAME = (
    HEADER
    + """
@hookimpl
def sls_access_role_session(target):
    return "has space"
"""
)

INVALID_SOURCE_IDENTITY = (
    HEADER
    + """
@hookimpl
def sls_access_role_session(target):
    return RoleSession(name="ok-name", source_identity="x")
"""
)

OBSERVER = (
    HEADER
    + """
@hookimpl
def sls_access_resolution_succeeded(target, source, trail, expiration, region, key_hint):
    CALLS.append(("ok", dict(target=target, source=source, trail=trail, expiration=expiration,
                             region=region, key_hint=key_hint)))


@hookimpl
def sls_access_resolution_failed(target, trail, error):
    CALLS.append(("failed", dict(target=target, trail=trail, error=error)))
"""
)

RAISING_OBSERVER = (
    HEADER
    + """
@hookimpl
def sls_access_resolution_succeeded(target):
    raise ValueError("metrics backend is down")


@hookimpl
def sls_access_resolution_failed(target):
    raise ValueError("audit log is full")
"""
)

SOURCES = (
    HEADER
    + """
class Vault:
    name = "vault"

    def load(self, target):
        raise Skip("vault: nothing for this target")


@hookimpl
def sls_access_sources(options):
    return [Vault()]
"""
)

MISCONFIGURED_SOURCE = (
    HEADER
    + """
from sls_access.plugin import ConfigError


class Vault:
    name = "vault"

    def load(self, target):
        raise ConfigError("vault path is wrong", key="VAULT_PATH")


@hookimpl
def sls_access_sources(options):
    return [Vault()]
"""
)

BROKEN_SOURCES = (
    HEADER
    + """
@hookimpl
def sls_access_sources(options):
    raise KeyError("vault url")
"""
)


def calls(site: PluginSite, entry: str) -> list[Any]:
    result: list[Any] = site.module(entry).CALLS
    return result


# -- sls_access_enter_role ---------------------------------------------------------------


def test_a_plugin_that_enters_the_role_replaces_assume_role(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("vaultrole", ENTERS)
    creds = Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert creds.access_key_id == "AKIAPLUGINENTERED001"
    assert creds.source == "dashboard"
    assert sts.calls["AssumeRole"] == 0
    ((target, profile, session),) = calls(site, "vaultrole")
    assert (target.org, target.app, target.stage) == ("acme", "shop", "dev")
    assert profile.role_arn == "arn:aws:iam::444444444444:role/sls-access-shop"
    assert session.name == "sls-acme.shop.dev"


def test_the_plugin_keeps_the_region_default_of_the_profile(site: PluginSite, dashboard: Path) -> None:
    site.install("vaultrole", ENTERS)
    resolver = Resolver(dashboard=str(dashboard))
    assert resolver.credentials("acme", "blog", "dev").region == "us-east-1"  # sandbox's region
    assert resolver.credentials("acme", "shop", "prod", region="eu-west-1").region == "eu-west-1"


def test_a_plugin_returning_none_lets_the_builtin_assume_role_run(
    site: PluginSite, dashboard: Path, sts: StsProxy
) -> None:
    site.install("vaultrole", STEPS_ASIDE)
    creds = Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")
    assert creds.access_key_id != "AKIAPLUGINENTERED001"
    assert sts.calls["AssumeRole"] == 1
    assert sts.requests[-1]["RoleArn"] == "arn:aws:iam::222222222222:role/sls-access-sandbox"
    assert len(calls(site, "vaultrole")) == 1


def test_a_plugin_raising_in_enter_role_fails_closed_naming_it(
    site: PluginSite, dashboard: Path, sts: StsProxy
) -> None:
    site.install("vaultrole", RAISES)
    with pytest.raises(
        AccessRoleError, match="plugin 'vaultrole' failed in sls_access_enter_role: RuntimeError: the vault is sealed"
    ) as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")
    assert info.value.role_arn == "arn:aws:iam::222222222222:role/sls-access-sandbox"
    assert info.value.resolution is not None
    assert [(e.source, e.outcome) for e in info.value.resolution.trail] == [("dashboard", "failed")]
    assert sts.calls["AssumeRole"] == 0  # no fallback to the built-in, nor to env keys


def test_a_plugin_returning_something_else_fails_naming_it(site: PluginSite, dashboard: Path) -> None:
    site.install("vaultrole", RETURNS_A_STRING)
    with pytest.raises(AccessRoleError, match="plugin 'vaultrole' returned str from sls_access_enter_role"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")


def test_the_keys_a_plugin_enters_are_stamped_with_the_profile_role(site: PluginSite, dashboard: Path) -> None:
    site.install("vaultrole", ENTERS)
    creds = Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert creds.role_arn == "arn:aws:iam::444444444444:role/sls-access-shop"


def test_a_plugin_that_says_it_entered_another_role_fails_closed(site: PluginSite, dashboard: Path) -> None:
    site.install("vaultrole", ENTERS_ANOTHER_ROLE)
    with pytest.raises(AccessRoleError, match="the role entered is arn:aws:iam::999999999999:role/other"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")


def test_a_plugin_that_does_not_say_its_role_fails_closed_when_the_profile_pins_an_account(
    site: PluginSite, tmp_path: Path
) -> None:
    pinned = tmp_path / "pinned.toml"
    pinned.write_text(
        '[orgs.acme.deployment_profiles.prod]\nrole_arn = "arn:aws:iam::111111111111:role/r"\n'
        'account_id = "111111111111"\n[orgs.acme.apps.shop.stages.prod]\n'
        'deployment_profile = "prod"\n'
    )
    site.install("vaultrole", ENTERS)  # returns keys without role_arn: of which account?
    with pytest.raises(AccessRoleError, match="pins account 111111111111: refused"):
        Resolver(dashboard=str(pinned)).credentials("acme", "shop", "prod")


def test_disabling_the_role_plugin_brings_back_assume_role(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("vaultrole", ENTERS)
    creds = Resolver(dashboard=str(dashboard), disable_plugins="vaultrole").credentials("acme", "shop", "dev")
    assert creds.access_key_id != "AKIAPLUGINENTERED001"
    assert sts.calls["AssumeRole"] == 1


# -- sls_access_role_session -------------------------------------------------------------


def test_role_session_hook_sets_name_and_source_identity(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("naming", NAMES_SESSION)
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    request = sts.requests[-1]
    assert request["Action"] == "AssumeRole"
    assert request["RoleSessionName"] == "ci-dev"
    assert request["SourceIdentity"] == "alice@example.com"


def test_role_session_hook_may_return_just_a_name(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("naming", NAMES_SESSION_PLAINLY)
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.requests[-1]["RoleSessionName"] == "deploy-dev"
    assert "SourceIdentity" not in sts.requests[-1]


def test_role_session_default_when_the_hook_returns_none(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("naming", LEAVES_SESSION)
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.requests[-1]["RoleSessionName"] == "sls-acme.shop.dev"


@pytest.mark.parametrize(
    ("plugin", "what"), [(INVALID_NAME, "RoleSessionName 'has space'"), (INVALID_SOURCE_IDENTITY, "SourceIdentity 'x'")]
)
def test_an_invalid_session_is_a_config_error_naming_the_plugin(
    site: PluginSite, dashboard: Path, sts: StsProxy, plugin: str, what: str
) -> None:
    site.install("naming", plugin)
    with pytest.raises(ConfigError, match=f"sls_access_role_session: plugin 'naming': {what} must be 2-64"):
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    assert sts.calls["AssumeRole"] == 0


def test_the_role_plugin_gets_the_custom_session(site: PluginSite, dashboard: Path) -> None:
    site.install("naming", NAMES_SESSION)
    site.install("vaultrole", ENTERS)
    Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    ((_, _, session),) = calls(site, "vaultrole")
    assert (session.name, session.source_identity) == ("ci-dev", "alice@example.com")


# -- observers -----------------------------------------------------------------------------


def test_success_observer_gets_the_trail_and_no_secret(site: PluginSite, dashboard: Path) -> None:
    site.install("audit", OBSERVER)
    resolver = Resolver(dashboard=str(dashboard))
    creds = resolver.credentials("acme", "shop", "prod", region="eu-west-1")
    ((kind, args),) = calls(site, "audit")
    assert kind == "ok"
    assert str(args["target"]) == "acme/shop/prod in eu-west-1"
    assert args["source"] == "dashboard"
    assert args["region"] == "eu-west-1"
    assert args["expiration"] == creds.expiration
    assert args["key_hint"] == f"****{creds.access_key_id[-4:]}"
    assert [e.source for e in args["trail"]] == ["dashboard"]
    everything = repr(args)
    assert creds.secret_access_key not in everything
    assert creds.session_token is not None
    assert creds.session_token not in everything
    assert creds.access_key_id not in everything


def test_a_warm_cache_read_notifies_no_observer(site: PluginSite, dashboard: Path) -> None:
    site.install("audit", OBSERVER)
    resolver = Resolver(dashboard=str(dashboard))
    resolver.credentials("acme", "shop", "dev")
    resolver.credentials("acme", "shop", "dev")
    assert len(calls(site, "audit")) == 1


def test_failure_observer_gets_the_error_the_caller_gets(site: PluginSite, dashboard: Path, sts: StsProxy) -> None:
    site.install("audit", OBSERVER)
    sts.fault = lambda action: (
        403,
        b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
    )
    with pytest.raises(AccessRoleError) as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "shop", "dev")
    ((kind, args),) = calls(site, "audit")
    assert kind == "failed"
    assert args["error"] is info.value
    assert [(e.source, str(e.outcome)) for e in args["trail"]] == [("dashboard", "failed")]


def test_failure_observer_hears_of_no_credentials(site: PluginSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install("audit", OBSERVER)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(NoCredentialsError):
        Resolver().credentials("nobody", "app", "dev")
    ((kind, args),) = calls(site, "audit")
    assert kind == "failed"
    assert isinstance(args["error"], NoCredentialsError)
    assert [e.source for e in args["trail"]] == ["dashboard", "env", "profile"]


def test_a_raising_observer_is_logged_and_does_not_break_resolution(
    site: PluginSite, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.install("metrics", RAISING_OBSERVER)
    with caplog.at_level(logging.WARNING, logger="sls_access.plugins"):
        assert Resolver().credentials("any", "app", "dev").access_key_id == BASE_KEY_ID
    assert (
        "plugin 'metrics' raised in sls_access_resolution_succeeded (ignored): "
        "ValueError: metrics backend is down" in caplog.text
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(SlsAccessError, match="AWS_SECRET_ACCESS_KEY is set"):
        Resolver().credentials("any", "app", "dev")
    assert "plugin 'metrics' raised in sls_access_resolution_failed (ignored)" in caplog.text


# -- sources, listing ---------------------------------------------------------------------


def test_listing_says_which_sources_and_hooks_each_plugin_adds(site: PluginSite) -> None:
    site.install("vault", SOURCES)
    site.install("audit", OBSERVER)
    info = {p.name: p for p in Resolver().plugins}
    assert info["vault"].sources == ("vault",)
    assert info["vault"].hooks == ("sls_access_sources",)
    assert (info["vault"].distribution, info["vault"].version) == ("sls-access-test-vault", "2.0.1")
    assert info["audit"].sources == ()
    assert info["audit"].hooks == ("sls_access_resolution_failed", "sls_access_resolution_succeeded")
    assert info["dashboard"].sources == ("dashboard",)
    assert info["assume-role"].builtin
    assert info["assume-role"].hooks == ("sls_access_enter_role",)


def test_a_disabled_plugin_is_listed_as_disabled(site: PluginSite) -> None:
    site.install("vault", SOURCES)
    info = {p.name: p for p in Resolver(disable_plugins="vault").plugins}
    assert info["vault"].disabled
    assert info["vault"].sources == ()
    assert "sls_access_test_vault" not in sys.modules


def test_a_plugin_raising_in_the_sources_hook_fails_naming_it(site: PluginSite) -> None:
    site.install("vault", BROKEN_SOURCES)
    with pytest.raises(SlsAccessError, match="plugin 'vault' failed in sls_access_sources: KeyError"):
        Resolver().credentials("a", "b", "c")


def test_a_plugin_source_error_keeps_its_type_and_names_the_plugin(site: PluginSite) -> None:
    site.install("vault", MISCONFIGURED_SOURCE, dist="acme-vault")
    with pytest.raises(ConfigError, match=r"VAULT_PATH: vault path is wrong \(plugin 'vault'\)") as info:
        Resolver().credentials("cfg", "b", "c")
    assert info.value.key == "VAULT_PATH"


def test_a_plugin_that_failed_to_import_is_a_config_error_when_listed_in_sources(site: PluginSite) -> None:
    site.install("vault", "raise ImportError('hvac is not installed')\n")
    with (
        pytest.warns(PluginLoadWarning, match="'vault'"),
        pytest.raises(
            ConfigError,
            match="sources: source 'vault' is listed but plugin 'vault' failed "
            "to load: ImportError: hvac is not installed",
        ),
    ):
        Resolver(sources="dashboard,vault,env").credentials("a", "b", "c")


def test_a_plugin_that_failed_to_import_fails_closed_when_not_listed(site: PluginSite) -> None:
    site.install("vault", "raise ImportError('hvac is not installed')\n")
    with (
        pytest.warns(PluginLoadWarning, match="'vault'"),
        pytest.raises(ConfigError, match=r"plugin 'vault' .*failed to load: ImportError: hvac is not installed"),
    ):
        Resolver().credentials("a", "b", "c")


WRAPPER = (
    HEADER
    + """
@hookimpl(wrapper=True)
def sls_access_enter_role(target):
    return (yield)
"""
)


def test_a_plugin_with_a_hook_wrapper_fails_to_load(site: PluginSite) -> None:
    site.install("wrapping", WRAPPER)
    with (
        pytest.warns(PluginLoadWarning, match="hook wrappers are not supported"),
        pytest.raises(ConfigError, match=r"plugin 'wrapping' .*failed to load"),
    ):
        Resolver().credentials("a", "b", "c")


def test_a_disabled_plugin_listed_in_sources_is_a_config_error(site: PluginSite) -> None:
    site.install("vault", SOURCES)
    with pytest.raises(ConfigError, match="plugin 'vault' is disabled by disable_plugins"):
        Resolver(sources="vault,env", disable_plugins="vault").credentials("a", "b", "c")


def test_a_plugin_without_sources_listed_in_sources_says_so(site: PluginSite) -> None:
    site.install("audit", OBSERVER)
    with pytest.raises(
        ConfigError,
        match="'audit' is listed but plugin 'audit' adds no source "
        r"\(sls_access_resolution_failed, sls_access_resolution_succeeded\)",
    ):
        Resolver(sources="dashboard,audit,env").credentials("a", "b", "c")


def test_a_plugin_named_like_a_builtin_is_not_loaded(site: PluginSite) -> None:
    site.install("env", SOURCES)
    resolver = Resolver()
    with pytest.warns(PluginLoadWarning, match="'env' .* another plugin has that name"):
        names = resolver.chain.names
    assert names == ("dashboard", "env", "profile")
    assert "sls_access_test_env" not in sys.modules


def test_an_error_that_names_its_plugin_already_is_raised_as_it_is(site: PluginSite, dashboard: Path) -> None:
    site.install("vaultrole", RAISES_NAMED)
    with pytest.raises(AccessRoleError, match=r"the broker said no \(plugin 'broker'\)") as info:
        Resolver(dashboard=str(dashboard)).credentials("acme", "blog", "dev")
    seen = set()
    error: BaseException | None = info.value
    while error is not None:  # a finite chain: no error is its own cause
        assert id(error) not in seen
        seen.add(id(error))
        error = error.__cause__
