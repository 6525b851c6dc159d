"""One resolver's plugins, and every call sls-access makes to them: one typed method per hook.

Nothing else calls ``pm.hook``. pluggy's own call stops at the first exception and does
not say whose it was; here every implementation is called one by one by :meth:`_each`,
so that every error names the plugin, built-in or installed alike, and observers never
break a resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._resolution import Resolution
from sls_access._role_session import RoleSession, default_session_name
from sls_access._source import Skip, Source
from sls_access._sts_client import error_text
from sls_access._target import Target
from sls_access._values import session_field_problem
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError, ConfigError, SlsAccessError
from sls_access.plugin._manager import PluginInfo, build_plugin_manager

__all__ = ["EnterRole", "PluginSource", "Plugins"]

log = logging.getLogger("sls_access.plugins")

EnterRole = Callable[[Target, DeploymentProfile], Credentials]
"""Enters a deployment profile's access role for a target, the way the installed plugins do."""

# What to raise when a plugin's implementation raised: None to log it and go on.
_OnError = Callable[[str, Exception], Exception | None]


@attrs.frozen
class PluginSource:
    """A plugin's source, wrapped so that its failures name the plugin it came from."""

    source: Source
    plugin: str
    builtin: bool = False
    """A built-in plugin's errors are not suffixed with its name (users did not install it)."""

    @property
    def name(self) -> str:
        """The wrapped source's name."""
        return self.source.name

    @property
    def plan(self) -> Callable[[Target], str] | None:
        """The wrapped source's ``plan(target)`` (``explain --offline``), if it has one."""
        plan: Callable[[Target], str] | None = getattr(self.source, "plan", None)
        return plan

    def load(self, target: Target) -> Credentials | None:
        """Load from the wrapped source; an error (not :class:`Skip`) names the plugin."""
        try:
            return self.source.load(target)
        except Skip:
            raise
        except SlsAccessError as exc:
            safe = exc.redacted()
            mention = not self.builtin
            if safe is not exc:  # the original quotes a secret: not chained either
                raise safe.from_plugin(self.plugin, mention=mention) from None
            if exc.plugin is not None:  # named already (a role entered through another plugin)
                raise
            # From the original's cause: the copy and the original say the same thing once.
            raise exc.from_plugin(self.plugin, mention=mention) from exc.__cause__
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's source is its failure
            # Not chained: its text may quote a response body (botocore's parser errors do).
            error = SlsAccessError(f"source {self.name!r} failed: {error_text(exc)}")
            raise error.from_plugin(self.plugin, mention=not self.builtin) from None


class Plugins:
    """The plugins of one resolver: built-in and installed, discovered when it first resolves."""

    def __init__(self, pm: pluggy.PluginManager, infos: Sequence[PluginInfo]) -> None:
        self._pm = pm
        self.infos = tuple(infos)
        self._builtin = frozenset(info.name for info in self.infos if info.builtin)

    @classmethod
    def load(cls, disable: frozenset[str] = frozenset()) -> Plugins:
        """Discover the built-in and installed plugins (minus *disable*) now."""
        return cls(*build_plugin_manager(disable))

    def __repr__(self) -> str:
        return f"Plugins({', '.join(info.name for info in self.infos)})"

    def _each(self, hook: str, kwargs: Mapping[str, object], on_error: _OnError) -> Iterator[tuple[str, Any]]:
        """Call *hook*'s implementations in pluggy's order (tryfirst first), one by one.

        Yields ``(plugin name, result)``; an exception becomes ``on_error(plugin, exc)``.
        """
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                result = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                error = on_error(impl.plugin_name, exc)
                if error is None:
                    continue
                if error is exc:  # it names its plugin already: raised as it is, not as its own cause
                    raise
                if isinstance(exc, SlsAccessError) and type(error) is type(exc) and exc.plugin is None:
                    raise error from exc.__cause__  # a copy naming the plugin: once is enough
                raise error from exc
            yield impl.plugin_name, result

    # -- sls_access_sources -------------------------------------------------------------

    def sources(self, options: Options) -> list[Source]:
        """Return every plugin's sources, in plugin registration order; fill ``infos[].sources``.

        Fail closed: a plugin that failed to load is a :class:`~sls_access.ConfigError`
        naming it and the way out; so is a ``sources`` option naming a plugin that is
        disabled or adds no source. A plugin that raises here fails naming it.
        """
        self._check_loaded(options.sources or ())

        def failed(plugin: str, exc: Exception) -> Exception:
            return SlsAccessError(f"plugin {plugin!r} failed in sls_access_sources: {type(exc).__name__}: {exc}")

        def enter_role(target: Target, deployment_profile: DeploymentProfile) -> Credentials:
            return self.enter_role(target, deployment_profile, options)

        found: list[Source] = []
        added: dict[str, list[str]] = {}
        results = list(self._each("sls_access_sources", {"options": options, "enter_role": enter_role}, failed))
        for plugin, group in reversed(results):  # registration order: built-ins first
            for source in group or ():
                if not isinstance(source, Source):
                    raise SlsAccessError(
                        f"plugin {plugin!r} returned {type(source).__name__} from "
                        "sls_access_sources, not a source (name and load(target))"
                    )
                found.append(PluginSource(source, plugin, builtin=plugin in self._builtin))
                added.setdefault(plugin, []).append(source.name)
        self.infos = tuple(attrs.evolve(info, sources=tuple(added.get(info.name, ()))) for info in self.infos)
        self._check_listed(options.sources or (), {source.name for source in found})
        return found

    def _check_loaded(self, listed: Sequence[str]) -> None:
        for info in self.infos:
            if info.error is None:
                continue
            if info.name in listed:
                raise ConfigError(
                    f"source {info.name!r} is listed but plugin {info.name!r} failed to load: {info.error}",
                    key="sources",
                )
            raise ConfigError(
                f"plugin {info.name!r} ({info.module}) failed to load: {info.error}; every "
                f"resolution fails until it loads, is uninstalled, or is switched off with "
                f"disable_plugins={info.name} (SLS_ACCESS_DISABLE_PLUGINS)"
            )

    def _check_listed(self, listed: Sequence[str], available: set[str]) -> None:
        for name in listed:
            if name in available:
                continue
            for info in self.infos:
                if info.name != name:
                    continue
                if info.disabled:
                    raise ConfigError(
                        f"source {name!r} is listed but plugin {name!r} is disabled by disable_plugins", key="sources"
                    )
                if not info.sources:
                    hooks = ", ".join(info.hooks) or "no hooks"
                    raise ConfigError(
                        f"{name!r} is listed but plugin {name!r} adds no source ({hooks}): leave it out of sources",
                        key="sources",
                    )

    # -- sls_access_role_session and sls_access_enter_role ---------------------------------

    def role_session(self, target: Target, deployment_profile: DeploymentProfile, options: Options) -> RoleSession:
        """Return the role session for *target*: the first plugin's, else the default name."""
        hook = "sls_access_role_session"

        def failed(plugin: str, exc: Exception) -> Exception:
            return _role_error(
                target, deployment_profile, f"plugin {plugin!r} failed in {hook}: {type(exc).__name__}: {exc}", plugin
            )

        kwargs = {"target": target, "deployment_profile": deployment_profile, "options": options}
        for plugin, result in self._each(hook, kwargs, failed):
            if result is None:
                continue
            session = RoleSession(name=result) if isinstance(result, str) else result
            if not isinstance(session, RoleSession):
                raise ConfigError(
                    f"plugin {plugin!r} returned {type(result).__name__}, not a RoleSession or str", key=hook
                )
            problems = [session_field_problem("RoleSessionName", session.name)]
            if session.source_identity is not None:
                problems.append(session_field_problem("SourceIdentity", session.source_identity))
            for problem in problems:
                if problem is not None:
                    raise ConfigError(f"plugin {plugin!r}: {problem}", key=hook)
            return session
        return RoleSession(name=default_session_name(target))

    def enter_role(self, target: Target, deployment_profile: DeploymentProfile, options: Options) -> Credentials:
        """Return the access role's credentials for *target*, from the first plugin that enters it.

        Every failure is an :class:`~sls_access.AccessRoleError` naming the plugin.
        """
        hook = "sls_access_enter_role"
        session = self.role_session(target, deployment_profile, options)

        def failed(plugin: str, exc: Exception) -> Exception:
            if isinstance(exc, AccessRoleError):
                return exc.from_plugin(plugin, mention=plugin not in self._builtin)
            if isinstance(exc, SlsAccessError):
                return _role_error(target, deployment_profile, f"plugin {plugin!r}: {exc}", plugin, exc)
            return _role_error(
                target,
                deployment_profile,
                f"plugin {plugin!r} failed in {hook}: {type(exc).__name__}: {exc}",
                plugin,
                exc,
            )

        kwargs = {"target": target, "deployment_profile": deployment_profile, "session": session, "options": options}
        for plugin, result in self._each(hook, kwargs, failed):
            if result is None:
                continue
            if not isinstance(result, Credentials):
                raise _role_error(
                    target,
                    deployment_profile,
                    f"plugin {plugin!r} returned {type(result).__name__} from {hook}, not sls_access.Credentials",
                    plugin,
                )
            return attrs.evolve(result, region=target.region or result.region or deployment_profile.region)
        raise _role_error(
            target, deployment_profile, "no plugin entered the role (the built-in assume-role plugin is missing)", None
        )

    # -- observers --------------------------------------------------------------------------

    def _notify(self, hook: str, **kwargs: object) -> None:
        def ignored(plugin: str, exc: Exception) -> None:
            log.warning("plugin %r raised in %s (ignored): %s: %s", plugin, hook, type(exc).__name__, exc)

        for _ in self._each(hook, kwargs, ignored):
            pass

    def succeeded(self, resolution: Resolution) -> None:
        """Tell the observers about a resolution that found credentials (no secret given)."""
        creds = resolution.credentials
        if creds is None or resolution.source is None:
            return
        self._notify(
            "sls_access_resolution_succeeded",
            target=resolution.target,
            source=resolution.source,
            trail=resolution.trail,
            expiration=creds.expiration,
            region=resolution.region,
            key_hint=creds.key_hint,
        )

    def failed(self, resolution: Resolution, error: SlsAccessError) -> None:
        """Tell the observers about a resolution that failed with *error*."""
        self._notify("sls_access_resolution_failed", target=resolution.target, trail=resolution.trail, error=error)


def _role_error(
    target: Target,
    deployment_profile: DeploymentProfile,
    message: str,
    plugin: str | None,
    cause: Exception | None = None,
) -> AccessRoleError:
    code = getattr(cause, "code", None)
    error = AccessRoleError(
        message,
        target=target,
        deployment_profile=deployment_profile.name,
        role_arn=deployment_profile.role_arn,
        code=code if isinstance(code, str) else None,
    )
    error.plugin = plugin  # a new error, not yet raised
    return error
