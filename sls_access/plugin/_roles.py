"""Entering a deployment profile's access role through the hooks; the built-in way last.

:class:`Roles` asks :func:`~sls_access.plugin.spec.sls_access_role_session` for the
session name, then :func:`~sls_access.plugin.spec.sls_access_enter_role` for the keys.
:class:`AssumeRolePlugin` is the built-in implementation (``trylast``): STS AssumeRole
with botocore's default credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._sts import RoleAssumer, role_session_name
from sls_access._target import Target
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import AccessRoleError, ConfigError, SlsAccessError
from sls_access.plugin import hookimpl
from sls_access.plugin._session import RoleSession, check_session_field

if TYPE_CHECKING:
    from sls_access.plugin._hooks import PluginHooks

__all__ = ["AssumeRolePlugin", "Roles"]

_SESSION_HOOK = "sls_access_role_session"
_ENTER_HOOK = "sls_access_enter_role"


class AssumeRolePlugin:
    """The built-in way in: STS ``AssumeRole`` with botocore's default credential chain.

    One instance per :class:`~sls_access.Resolver` (it holds that resolver's STS clients).
    """

    def __init__(self) -> None:
        self.assumer = RoleAssumer()

    @hookimpl(trylast=True)
    def sls_access_enter_role(self, target: Target, profile: DeploymentProfile, session: RoleSession,
                              options: Options) -> Credentials:
        """Assume the profile's role; any failure is an :class:`~sls_access.AccessRoleError`."""
        return self.assumer.assume(target, profile, source="dashboard", session_name=session.name,
                                   source_identity=session.source_identity, now=options.clock())


@attrs.frozen
class Roles:
    """Enters access roles the way the resolver's plugins say; given to source plugins.

    Errors are :class:`~sls_access.AccessRoleError` (or :class:`~sls_access.ConfigError`
    for an invalid session name) and name the plugin at fault.
    """

    hooks: PluginHooks
    options: Options

    def _error(self, target: Target, profile: DeploymentProfile, message: str,
               code: str | None = None) -> AccessRoleError:
        return AccessRoleError(message, target=target, deployment_profile=profile.name,
                               role_arn=profile.role_arn, code=code)

    def session(self, target: Target, profile: DeploymentProfile) -> RoleSession:
        """Return the role session for *target*: the first plugin's, else the default name."""
        for impl in self.hooks.impls(_SESSION_HOOK):
            plugin = self.hooks.label(impl)
            try:
                result = self.hooks.call(impl, target=target, profile=profile, options=self.options)
            except Exception as exc:
                raise self._error(target, profile, f"plugin {plugin!r} failed in {_SESSION_HOOK}: "
                                  f"{type(exc).__name__}: {exc}") from exc
            if result is None:
                continue
            if isinstance(result, str):
                result = RoleSession(name=result)
            if not isinstance(result, RoleSession):
                raise ConfigError(f"plugin {plugin!r} returned {type(result).__name__}, "
                                  "not a RoleSession or str", key=_SESSION_HOOK)
            problems = [check_session_field("RoleSessionName", result.name)]
            if result.source_identity is not None:
                problems.append(check_session_field("SourceIdentity", result.source_identity))
            for problem in problems:
                if problem is not None:
                    raise ConfigError(f"plugin {plugin!r}: {problem}", key=_SESSION_HOOK)
            return result
        return RoleSession(name=role_session_name(target))

    def enter(self, target: Target, profile: DeploymentProfile, *, source: str) -> Credentials:
        """Return *profile*'s role credentials for *target*, from the first plugin that enters it.

        :param source: the name of the asking source, set as the credentials' ``source``.
        """
        session = self.session(target, profile)
        for impl in self.hooks.impls(_ENTER_HOOK):
            plugin = self.hooks.label(impl)
            try:
                result = self.hooks.call(impl, target=target, profile=profile, session=session,
                                         options=self.options)
            except SlsAccessError as exc:
                if self.hooks.is_builtin(impl):
                    raise
                raise self._error(target, profile, f"plugin {plugin!r}: {exc}", _code(exc)) from exc
            except Exception as exc:
                raise self._error(target, profile, f"plugin {plugin!r} failed in {_ENTER_HOOK}: "
                                  f"{type(exc).__name__}: {exc}", _code(exc)) from exc
            if result is None:
                continue
            if not isinstance(result, Credentials):
                raise self._error(target, profile, f"plugin {plugin!r} returned {type(result).__name__} "
                                  f"from {_ENTER_HOOK}, not sls_access.Credentials")
            return attrs.evolve(result, source=source,
                                region=target.region or result.region or profile.region)
        raise self._error(target, profile, "no plugin entered the role "
                          "(the built-in assume-role plugin is missing)")


def _code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None
