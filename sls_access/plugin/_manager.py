"""Building the plugin manager: built-in plugins, then installed ones, lazily."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import warnings
from types import ModuleType

import attrs
import pluggy

from sls_access.plugin import NAME, spec

__all__ = ["BUILTIN_PLUGINS", "PluginInfo", "PluginLoadWarning", "build_plugin_manager"]

log = logging.getLogger("sls_access.plugins")

BUILTIN_PLUGINS = (
    "sls_access.sources.dashboard",
    "sls_access.sources.env",
    "sls_access.sources.profile",
)


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be imported; the chain goes on without it."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin: its entry-point name, distribution and version, or why it failed."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None


def _distribution(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def build_plugin_manager(
    disable: frozenset[str] = frozenset(),
) -> tuple[pluggy.PluginManager, tuple[PluginInfo, ...]]:
    """Return a plugin manager with the built-in and installed plugins, and their info.

    Entry points named in *disable* are not imported. A plugin that fails to import
    is reported with a :class:`PluginLoadWarning` naming it and left out.
    """
    pm = pluggy.PluginManager(NAME)
    pm.add_hookspecs(spec)
    infos: list[PluginInfo] = []
    from sls_access import __version__  # noqa: PLC0415 - avoid an import cycle

    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        infos.append(PluginInfo(name=module_name.rsplit(".", 1)[1], module=module_name,
                                distribution="sls-access", version=__version__, builtin=True))
    for ep in importlib.metadata.entry_points(group=NAME):
        if ep.name in disable or pm.has_plugin(ep.name):
            continue
        dist, version = _distribution(ep)
        try:
            plugin: ModuleType | object = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a third party
            message = f"sls-access plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            warnings.warn(message, PluginLoadWarning, stacklevel=2)
            infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist,
                                    version=version, error=f"{type(exc).__name__}: {exc}"))
            continue
        pm.register(plugin, name=ep.name)
        infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version))
        log.debug("loaded plugin %s from %s %s", ep.name, dist, version)
    pm.check_pending()
    return pm, tuple(infos)
