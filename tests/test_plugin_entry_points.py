"""Installed plugins are found as importlib.metadata finds them, wherever they are installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from support import PluginSite

from sls_access import ConfigError, Resolver
from sls_access.plugin import PluginInfo

PLUGIN = """
from sls_access.plugin import Credentials, Skip, hookimpl


class Source:
    name = "{name}"

    def load(self, target):
        if target.org != "{name}":
            raise Skip("only org {name}")
        return Credentials(access_key_id="AKIA{upper}", secret_access_key="secret", source=self.name)


@hookimpl
def sls_access_sources(options):
    return [Source()]
"""


def plugin_code(name: str) -> str:
    return PLUGIN.format(name=name, upper=name.upper())


def _dist(
    where: Path,
    directory: str,
    *,
    name: str,
    version: str = "1.0",
    entry_points: str | None = None,
    metadata_file: str = "METADATA",
) -> Path:
    info = where / directory
    info.mkdir(parents=True)
    (info / metadata_file).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)
    return info


def installed(resolver: Resolver) -> dict[str, PluginInfo]:
    return {info.name: info for info in resolver.plugins if not info.builtin}


@pytest.fixture(autouse=True)
def _fresh_metadata() -> Iterable[None]:
    importlib.invalidate_caches()
    yield
    importlib.invalidate_caches()


def test_a_plugin_in_a_dist_info_directory_on_sys_path_is_loaded_and_resolves(site: PluginSite) -> None:
    site.install("alpha", plugin_code("alpha"), dist="alpha-plugin", version="3.1")
    resolver = Resolver()

    info = installed(resolver)["alpha"]

    assert (info.distribution, info.version, info.error, info.disabled) == ("alpha-plugin", "3.1", None, False)
    assert "alpha" in resolver.chain.names
    assert resolver.credentials("alpha", "app", "dev").access_key_id == "AKIAALPHA"


def test_an_egg_info_plugin_is_found(site: PluginSite) -> None:
    (site.path / "legacy_mod.py").write_text(plugin_code("legacy"))
    site.modules.append("legacy_mod")
    _dist(
        site.path,
        "Legacy_Thing-0.3-py3.11.egg-info",
        name="Legacy-Thing",
        version="0.3",
        metadata_file="PKG-INFO",
        entry_points="[sls_access]\nlegacy = legacy_mod\n",
    )

    info = installed(Resolver())["legacy"]

    assert (info.distribution, info.version, info.module) == ("Legacy-Thing", "0.3", "legacy_mod")


def test_a_plugin_in_a_zip_on_sys_path_is_found(
    site: PluginSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_mod.py", plugin_code("zipped"))
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", "[sls_access]\nzipped = zipped_mod\n")
    monkeypatch.syspath_prepend(str(archive))
    site.modules.append("zipped_mod")
    resolver = Resolver()

    assert installed(resolver)["zipped"].distribution == "zipped"
    assert resolver.credentials("zipped", "app", "dev").access_key_id == "AKIAZIPPED"


def test_a_distribution_from_a_finder_off_sys_path_is_found(
    site: PluginSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An import hook that provides distributions of its own (as some packaging tools install).
    elsewhere = tmp_path / "elsewhere"
    _dist(elsewhere, "hidden-1.0.dist-info", name="hidden", entry_points="[sls_access]\nhidden = hidden_mod\n")
    (site.path / "hidden_mod.py").write_text(plugin_code("hidden"))
    site.modules.append("hidden_mod")

    class Finder:
        """A meta path finder that provides distributions from a directory not on sys.path."""

        @staticmethod
        def find_spec(*_: object) -> None:
            return None

        @staticmethod
        def find_distributions(context: object = None) -> Iterable[importlib.metadata.Distribution]:
            del context
            return [importlib.metadata.PathDistribution(elsewhere / "hidden-1.0.dist-info")]

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])

    assert installed(Resolver())["hidden"].distribution == "hidden"


def test_the_first_occurrence_of_a_distribution_on_sys_path_wins(
    site: PluginSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = tmp_path / "later"
    _dist(later, "Dup-2.0.dist-info", name="Dup", version="2.0", entry_points="[sls_access]\nsecond = second_mod\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(later)])
    (site.path / "first_mod.py").write_text(plugin_code("first"))
    site.modules.append("first_mod")
    _dist(site.path, "dup-1.0.dist-info", name="dup", entry_points="[sls_access]\nfirst = first_mod\n")

    plugins = installed(Resolver())

    assert plugins["first"].version == "1.0"
    assert "second" not in plugins


def test_an_installed_plugin_that_fails_to_load_fails_closed(site: PluginSite) -> None:
    _dist(site.path, "broken-1.0.dist-info", name="broken", entry_points="[sls_access]\nbroken = no_such_module\n")
    resolver = Resolver(sources="env")

    with pytest.warns(UserWarning, match="broken"):
        info = installed(resolver)["broken"]
    assert info.error is not None
    assert "ModuleNotFoundError" in info.error
    with pytest.raises(ConfigError, match="'broken'"):
        resolver.credentials("acme", "shop", "prod")


def test_unreadable_entry_points_metadata_fails_closed(site: PluginSite) -> None:
    _dist(site.path, "garbled-1.0.dist-info", name="garbled", entry_points="[console_scripts]\nno equals sign\n")
    with pytest.raises(Exception) as importlib_error:  # what importlib.metadata itself raises
        importlib.metadata.entry_points(group="sls_access")

    with pytest.raises(ConfigError, match="installed plugins could not be listed") as raised:
        Resolver(sources="env").credentials("acme", "shop", "prod")
    assert isinstance(raised.value.__cause__, importlib_error.type)


def test_the_installed_oidc_plugin_is_found_with_its_distribution_and_version() -> None:
    info = installed(Resolver())["oidc"]

    assert (info.module, info.distribution, info.version) == (
        "sls_access_oidc.plugin",
        "sls-access-oidc",
        importlib.metadata.version("sls-access-oidc"),
    )
    assert info.error is None
