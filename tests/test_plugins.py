"""Third-party sources through the entry-point group, like an installed package."""

from __future__ import annotations

import sys

import pytest
from support import PluginSite

from sls_access import ConfigError, Resolver, SlsAccessError
from sls_access.plugin import PluginLoadWarning

PLUGIN = """
from sls_access.plugin import Credentials, Skip, hookimpl


class VaultSource:
    name = "vault"

    def load(self, target):
        if target.org == "boom":
            raise RuntimeError("vault is sealed")
        if target.org != "plug":
            raise Skip("vault holds keys for org plug only")
        return Credentials(access_key_id="AKIAVAULT", secret_access_key="vault-secret", source=self.name)


@hookimpl
def sls_access_sources(options):
    return [VaultSource()]
"""


@pytest.fixture
def vault(site: PluginSite) -> PluginSite:
    site.install("vault", PLUGIN, dist="sls_access_vault", module="sls_access_vault_plugin", version="1.2.3")
    return site


@pytest.mark.usefixtures("vault")
def test_installed_plugin_source_sits_after_dashboard_before_env() -> None:
    resolver = Resolver()
    assert resolver.chain.names == ("dashboard", "vault", "env", "profile")
    creds = resolver.credentials("plug", "app", "dev")
    assert (creds.access_key_id, creds.source) == ("AKIAVAULT", "vault")


@pytest.mark.usefixtures("vault")
def test_installed_plugin_is_listed_with_its_version() -> None:
    info = {p.name: p for p in Resolver().plugins}
    assert info["vault"].distribution == "sls_access_vault"
    assert info["vault"].version == "1.2.3"
    assert not info["vault"].builtin
    assert info["env"].builtin


@pytest.mark.usefixtures("vault")
def test_plugin_skip_reason_is_on_the_trail() -> None:
    resolution = Resolver().explain("other", "app", "dev")
    assert [e.source for e in resolution.trail][:3] == ["dashboard", "vault", "env"]
    assert resolution.trail[1].reason == "vault holds keys for org plug only"
    assert resolution.source == "env"


@pytest.mark.usefixtures("vault")
def test_disable_plugins_switches_it_off_for_that_resolver_only() -> None:
    assert "vault" not in Resolver(disable_plugins=["vault"]).chain.names
    assert "vault" in Resolver().chain.names


@pytest.mark.usefixtures("vault")
def test_disable_plugins_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLS_ACCESS_DISABLE_PLUGINS", "vault,other")
    assert Resolver().credentials("plug", "app", "dev").source == "env"


@pytest.mark.usefixtures("vault")
def test_sources_option_orders_the_chain() -> None:
    resolver = Resolver(sources="env,vault")
    assert resolver.chain.names == ("env", "vault")
    assert resolver.credentials("plug", "app", "dev").source == "env"


@pytest.mark.usefixtures("vault")
def test_a_failing_plugin_source_fails_the_resolution_naming_it() -> None:
    with pytest.raises(SlsAccessError, match="source 'vault' failed: RuntimeError: vault is sealed"):
        Resolver().credentials("boom", "app", "dev")


def test_unknown_source_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'nope'"):
        Resolver(sources="env,nope").credentials("a", "b", "c")


def test_plugin_that_fails_to_import_fails_every_resolution_naming_the_way_out(vault: PluginSite) -> None:
    vault.install("broken", "raise ImportError('no deps')\n")
    resolver = Resolver()
    with pytest.warns(PluginLoadWarning, match="'broken'"):
        assert {p.name: p for p in resolver.plugins}["broken"].error == "ImportError: no deps"
    # Fail closed: its targets must not move silently to env keys; twice, not only the first time.
    for _ in range(2):
        with pytest.raises(
            ConfigError,
            match=r"plugin 'broken' .* failed to load: ImportError: no deps; .*"
            r"disable_plugins=broken",
        ):
            resolver.credentials("plug", "app", "dev")


def test_disabling_a_plugin_that_fails_to_import_lets_the_chain_go_on(vault: PluginSite) -> None:
    vault.install("broken", "raise ImportError('no deps')\n")
    resolver = Resolver(disable_plugins="broken")
    assert resolver.chain.names == ("dashboard", "vault", "env", "profile")
    assert resolver.credentials("plug", "app", "dev").source == "vault"


@pytest.mark.usefixtures("vault")
def test_plugins_are_not_discovered_at_import_or_creation() -> None:
    Resolver()
    assert "sls_access_vault_plugin" not in sys.modules


def test_a_broken_plugins_warning_names_the_plugin_not_a_line_of_sls_access(vault: PluginSite) -> None:
    vault.install("broken", "raise ImportError('no deps')\n")
    with pytest.warns(PluginLoadWarning) as warned:
        _ = Resolver().plugins
    (warning,) = [w for w in warned if "broken" in str(w.message)]
    assert warning.filename == "<sls-access plugin broken>"
    assert "sls_access" not in warning.filename
