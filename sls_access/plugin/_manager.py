"""Discovering plugins: the built-in ones, then the installed ones, into one plugin manager."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import warnings

import attrs
import pluggy

from sls_access.errors import ConfigError
from sls_access.plugin import _names, spec

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


def _warn(ep: importlib.metadata.EntryPoint, what: str) -> None:
    """Warn about a plugin, located at the plugin (its entry point), not at a line of sls-access."""
    warnings.warn_explicit(
        f"sls-access plugin {ep.name!r} ({ep.value}) {what}",
        PluginLoadWarning,
        filename=f"<sls-access plugin {ep.name}>",
        lineno=0,
        module=ep.value,
    )


def _distribution(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """Return the name and version of the distribution that declares *ep* (None where it has none)."""
    dist = ep.dist
    return (None, None) if dist is None else (dist.name, dist.version)


def _installed() -> importlib.metadata.EntryPoints:
    """Return the installed plugins' entry points, as importlib.metadata finds them.

    Every distribution on ``sys.path`` (and of any finder that provides distributions),
    each once, its first occurrence winning. Fail closed: metadata that cannot be read
    is a :class:`~sls_access.ConfigError`, never a plugin quietly left out.
    """
    try:
        return importlib.metadata.entry_points(group=_names.NAME)
    except Exception as exc:  # whatever a broken installation raises, re-raised as ours
        raise ConfigError(f"the installed plugins could not be listed: {type(exc).__name__}: {exc}") from exc


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register *plugin*; refuse hook wrappers, which sls-access never calls (see the spec)."""
    pm.register(plugin, name=name)
    wrappers = sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        for impl in caller.get_hookimpls()
        if impl.plugin_name == name and (impl.hookwrapper or impl.wrapper)
    )
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
    Installed metadata that cannot be read at all raises :class:`~sls_access.ConfigError`.
    """
    pm = pluggy.PluginManager(_names.NAME)
    pm.add_hookspecs(spec)
    infos: list[PluginInfo] = []
    from sls_access._version import __version__  # noqa: PLC0415 - the package's own version, at build time

    for name, target in BUILTIN_PLUGINS:
        plugin = _builtin(target)
        _register(pm, plugin, name)
        infos.append(
            PluginInfo(
                name=name,
                module=target,
                distribution="sls-access",
                version=__version__,
                builtin=True,
                hooks=_hooks(pm, plugin),
            )
        )
    for ep in _installed():
        if pm.has_plugin(ep.name) or any(info.name == ep.name for info in infos):
            _warn(ep, "is not loaded: another plugin has that name")
            continue
        dist, version = _distribution(ep)
        if ep.name in disable:
            infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version, disabled=True))
            continue
        try:
            loaded: object = ep.load()
            _register(pm, loaded, ep.name)
        except Exception as exc:  # noqa: BLE001 - any failure of a third party to load
            error = f"{type(exc).__name__}: {exc}"
            _warn(ep, f"failed to load: {error}")
            infos.append(PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version, error=error))
            continue
        infos.append(
            PluginInfo(name=ep.name, module=ep.value, distribution=dist, version=version, hooks=_hooks(pm, loaded))
        )
        log.debug("loaded plugin %s from %s %s", ep.name, dist, version)
    pm.check_pending()
    return pm, tuple(infos)
