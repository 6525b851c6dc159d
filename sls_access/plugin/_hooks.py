"""Calling the hooks of one resolver's plugins, one implementation at a time.

pluggy's own call stops at the first exception and does not say whose it was; these
calls name the plugin in every error, keep observers from breaking a resolution, and
wrap third-party sources so that their failures name the plugin too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import pluggy

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._resolution import Resolution
from sls_access._target import Target
from sls_access.errors import ConfigError, SlsAccessError
from sls_access.plugin._manager import PluginInfo, build_plugin_manager
from sls_access.plugin._roles import Roles
from sls_access.sources import Skip, Source

__all__ = ["PluginHooks", "PluginSource"]

log = logging.getLogger("sls_access.plugins")


@attrs.frozen
class PluginSource:
    """A third-party source, wrapped so that its failures name the plugin it came from."""

    source: Source
    plugin: str

    @property
    def name(self) -> str:
        """The wrapped source's name."""
        return self.source.name

    def load(self, target: Target) -> Credentials | None:
        """Load from the wrapped source; an error (not :class:`Skip`) names the plugin."""
        try:
            return self.source.load(target)
        except Skip:
            raise
        except SlsAccessError as exc:
            # Keep the error's type and attributes; only its message gains the plugin.
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (f"{exc.args[0]} (plugin {self.plugin!r})", *exc.args[1:])
            raise
        except Exception as exc:
            raise SlsAccessError(f"source {self.name!r} failed: {type(exc).__name__}: {exc} "
                                 f"(plugin {self.plugin!r})") from exc


class PluginHooks:
    """One resolver's plugin manager, and the calls sls-access makes through it."""

    def __init__(self, pm: pluggy.PluginManager, infos: Sequence[PluginInfo]) -> None:
        self.pm = pm
        self.plugins = tuple(infos)
        self._names = {info.registered_as: info.name for info in infos}
        self._builtin = {info.registered_as for info in infos if info.builtin}

    @classmethod
    def build(cls, disable: frozenset[str] = frozenset()) -> PluginHooks:
        """Discover the built-in and installed plugins (minus *disable*) now."""
        return cls(*build_plugin_manager(disable))

    def __repr__(self) -> str:
        return f"PluginHooks({', '.join(info.name for info in self.plugins)})"

    def label(self, impl: pluggy.HookImpl) -> str:
        """Return the plugin's name as users know it (its entry-point name)."""
        return self._names.get(impl.plugin_name, impl.plugin_name)

    def is_builtin(self, impl: pluggy.HookImpl) -> bool:
        """Whether *impl* belongs to sls-access itself."""
        return impl.plugin_name in self._builtin

    def impls(self, hook: str) -> list[pluggy.HookImpl]:
        """Return the implementations of *hook* in pluggy's call order (tryfirst first, trylast last)."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        return [impl for impl in reversed(caller.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)]

    @staticmethod
    def call(impl: pluggy.HookImpl, **kwargs: object) -> Any:  # noqa: ANN401 - hooks return what their spec says
        """Call one implementation with the arguments it asks for, by name."""
        return impl.function(*(kwargs[name] for name in impl.argnames))

    def sources(self, options: Options) -> list[Source]:
        """Return every plugin's sources, in plugin registration order; fill ``plugins[].sources``.

        Raises :class:`~sls_access.SlsAccessError` naming a plugin that fails here, and
        :class:`~sls_access.ConfigError` when the ``sources`` option names a plugin that
        failed to load or is disabled.
        """
        roles = Roles(self, options)
        found: list[Source] = []
        added: dict[str, list[str]] = {}
        for impl in reversed(self.impls("sls_access_sources")):
            plugin = self.label(impl)
            try:
                group = list(self.call(impl, options=options, roles=roles) or ())
            except SlsAccessError as exc:
                if self.is_builtin(impl):
                    raise
                raise SlsAccessError(f"plugin {plugin!r} failed in sls_access_sources: "
                                     f"{type(exc).__name__}: {exc}") from exc
            except Exception as exc:
                raise SlsAccessError(f"plugin {plugin!r} failed in sls_access_sources: "
                                     f"{type(exc).__name__}: {exc}") from exc
            for source in group:
                if not isinstance(source, Source):
                    raise SlsAccessError(f"plugin {plugin!r} returned {type(source).__name__} from "
                                         "sls_access_sources, not a source (name and load(target))")
                found.append(source if self.is_builtin(impl) else PluginSource(source, plugin))
                added.setdefault(plugin, []).append(source.name)
        self.plugins = tuple(attrs.evolve(info, sources=tuple(added.get(info.name, ())))
                             for info in self.plugins)
        self._check_listed(options.sources or (), {source.name for source in found})
        return found

    def _check_listed(self, listed: Sequence[str], available: set[str]) -> None:
        for name in listed:
            if name in available:
                continue
            for info in self.plugins:
                if info.name != name:
                    continue
                if info.error is not None:
                    raise ConfigError(f"source {name!r} is listed but plugin {name!r} failed to load: "
                                      f"{info.error}", key="sources")
                if info.disabled:
                    raise ConfigError(f"source {name!r} is listed but plugin {name!r} is disabled "
                                      "by disable_plugins", key="sources")
                if not info.sources:
                    hooks = ", ".join(info.hooks) or "no hooks"
                    raise ConfigError(f"{name!r} is listed but plugin {name!r} adds no source ({hooks}): "
                                      "leave it out of sources", key="sources")

    def _notify(self, hook: str, **kwargs: object) -> None:
        for impl in self.impls(hook):
            try:
                self.call(impl, **kwargs)
            except Exception as exc:  # noqa: BLE001 - an observer never breaks a resolution
                log.warning("plugin %r raised in %s (ignored): %s: %s", self.label(impl), hook,
                            type(exc).__name__, exc)

    def resolution_succeeded(self, resolution: Resolution) -> None:
        """Tell the observers about a resolution that found credentials (no secret given)."""
        creds = resolution.credentials
        if creds is None or resolution.source is None:
            return
        self._notify("sls_access_resolution_succeeded", target=resolution.target, source=resolution.source,
                     trail=resolution.trail, expiration=creds.expiration, region=resolution.region,
                     key_hint=creds.key_hint)

    def resolution_failed(self, resolution: Resolution, error: SlsAccessError) -> None:
        """Tell the observers about a resolution that failed with *error*."""
        self._notify("sls_access_resolution_failed", target=resolution.target, trail=resolution.trail,
                     error=error)
