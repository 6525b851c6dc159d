"""Discovering plugins: the built-in ones, then the installed ones, into one plugin manager."""

from __future__ import annotations

import importlib
import logging
import warnings

import attrs
import pluggy

from sls_access.plugin import _entry_points, _names, spec

__all__ = ["BUILTIN_PLUGINS", "PluginInfo", "PluginLoadWarning", "build_plugin_manager"]

log = logging.getLogger("sls_access.plugins")

# (name, "module" or "module:Class"): a module is registered as it is; a class is
# instantiated once per plugin manager, i.e. per Resolver (it holds per-resolver state).
BUILTIN_PLUGINS = (
    ("dashboard", "sls_access.sources.dashboard"),
    ("env", "sls_access.sources.env"),
    ("profile", "sls_access.sources.profile"),
    ("assume-role", "sls_access.role_entry:AssumeRolePlugin"),
)


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be loaded; every resolution of its resolver fails until it is fixed."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin: its entry-point name, distribution and version, or why it is not loaded.

    :ivar name: the entry-point name (the built-ins: ``dashboard``, ``env``, ``profile``,
        ``assume-role``); the name ``disable_plugins`` takes, and the name errors give.
    :ivar module: the module (``module:Class`` for an object) the plugin comes from.
    :ivar builtin: True for the plugins that come with sls-access (informative only:
        they are registered and called exactly like installed ones).
    :ivar sources: the names of the sources it adds to the chain.
    :ivar hooks: the hooks it implements.
    :ivar error: why it failed to load, when it did.
    :ivar disabled: True when ``disable_plugins`` names it (it is not imported).
    """

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None
    disabled: bool = False
    sources: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()


def _builtin(target: str) -> object:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)() if attr else module


def _hooks(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))


def _warn(ep: _entry_points.EntryPoint, what: str) -> None:
    """Warn about a plugin, located at the plugin (its entry point), not at a line of sls-access."""
    warnings.warn_explicit(f"sls-access plugin {ep.name!r} ({ep.value}) {what}", PluginLoadWarning,
                           filename=f"<sls-access plugin {ep.name}>", lineno=0, module=ep.value)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register *plugin*; refuse hook wrappers, which sls-access never calls (see the spec)."""
    pm.register(plugin, name=name)
    wrappers = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()
                      for impl in caller.get_hookimpls()
                      if impl.plugin_name == name and (impl.hookwrapper or impl.wrapper))
    if wrappers:
        pm.unregister(name=name)
        raise pluggy.PluginValidationError(plugin, f"hook wrappers are not supported ({', '.join(wrappers)})")


def build_plugin_manager(
    disable: frozenset[str] = frozenset(),
) -> tuple[pluggy.PluginManager, tuple[PluginInfo, ...]]:
    """Return a plugin manager with the built-in and installed plugins, and their info.

    Every plugin is registered under its entry-point name. Entry points named in
    *disable* are not imported (they are listed as disabled). A plugin that fails to
    load is listed with its error and a :class:`PluginLoadWarning` is issued; the
    resolver then refuses to resolve (fail closed) until it is fixed or disabled.
    """
    pm = pluggy.PluginManager(_names.NAME)
    pm.add_hookspecs(spec)
    infos: list[PluginInfo] = []
    from sls_access._version import __version__  # noqa: PLC0415 - the package's own version, at build time

    for name, target in BUILTIN_PLUGINS:
        plugin = _builtin(target)
        _register(pm, plugin, name)
        infos.append(PluginInfo(name=name, module=target, distribution="sls-access", version=__version__,
                                builtin=True, hooks=_hooks(pm, plugin)))
    for ep in _entry_points.entry_points(_names.NAME):
        if pm.has_plugin(ep.name) or any(info.name == ep.name for info in infos):
            _warn(ep, "is not loaded: another plugin has that name")
            continue
        dist, version = ep.distribution, ep.version
        if ep.name in disable:
            infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version,
                                    disabled=True))
            continue
        try:
            loaded: object = ep.load()
            _register(pm, loaded, ep.name)
        except Exception as exc:  # noqa: BLE001 - any failure of a third party to load
            error = f"{type(exc).__name__}: {exc}"
            _warn(ep, f"failed to load: {error}")
            infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version,
                                    error=error))
            continue
        infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version,
                                hooks=_hooks(pm, loaded)))
        log.debug("loaded plugin %s from %s %s", ep.name, dist, version)
    pm.check_pending()
    return pm, tuple(infos)
