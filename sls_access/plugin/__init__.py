"""Extend sls-access with plugins: how to write one.

A plugin is a module (or object) with functions marked by :data:`hookimpl`, found
through the ``sls_access`` entry-point group. The built-in sources ``dashboard``,
``env`` and ``profile`` are plugins of exactly this kind.

A source that reads keys from a vault, in ``my_vault_plugin.py``::

    from sls_access.plugin import Credentials, Skip, hookimpl


    class VaultSource:
        name = "vault"

        def load(self, target):
            if target.org != "acme":
                raise Skip("vault holds keys for acme only")
            return Credentials(access_key_id="AKIA...", secret_access_key="...", source=self.name)


    @hookimpl
    def sls_access_sources(options):
        return [VaultSource()]

Everything a plugin needs is imported from ``sls_access.plugin``: the marker, the
types every hook passes (:class:`Target`, :class:`Credentials`, :class:`Options`,
:class:`DeploymentProfile` and its :class:`Sessions`, :class:`RoleSession`, :class:`TrailEntry`), :class:`Skip`
and the :class:`Source` protocol; :mod:`sls_access.plugin.sts` has the STS client
configuration, error mapping and response reading the built-in ``AssumeRole`` uses.

Declare it in the plugin package's ``pyproject.toml``::

    [project.entry-points.sls_access]
    vault = "my_vault_plugin"

Once installed, every new :class:`~sls_access.Resolver` tries ``vault`` after
``dashboard`` and before ``env``; ``sources="dashboard,vault,env,profile"`` orders the
chain explicitly and ``disable_plugins="vault"`` switches it off.

Other hooks change how the dashboard's access role is entered
(``sls_access_enter_role``, e.g. with a CI job's OIDC token), how its STS role session is
named (``sls_access_role_session``, returning a :class:`RoleSession`), or observe
resolutions for audit logs and metrics (``sls_access_resolution_succeeded`` and
``sls_access_resolution_failed``, which are given no secret). The hooks are listed, with
their signatures, in :mod:`sls_access.plugin.spec`.
"""

from __future__ import annotations

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._resolution import Outcome, TrailEntry
from sls_access._role_session import RoleSession
from sls_access._source import Skip, Source
from sls_access._target import Target
from sls_access.dashboard.model import DeploymentProfile, Sessions
from sls_access.errors import AccessRoleError, ConfigError, SlsAccessError
from sls_access.plugin._manager import PluginInfo, PluginLoadWarning
from sls_access.plugin._names import NAME, hookimpl
from sls_access.plugin._plugins import EnterRole

__all__ = [
    "NAME",
    "AccessRoleError",
    "ConfigError",
    "Credentials",
    "DeploymentProfile",
    "EnterRole",
    "Options",
    "Outcome",
    "PluginInfo",
    "PluginLoadWarning",
    "RoleSession",
    "Sessions",
    "Skip",
    "SlsAccessError",
    "Source",
    "Target",
    "TrailEntry",
    "hookimpl",
    "redact_botocore_logs",
]

# Shown, documented and pickled under the path plugin authors import them from (as httpx does).
for _type in (DeploymentProfile, PluginInfo, PluginLoadWarning, RoleSession, Sessions, Skip, Source):
    _type.__module__ = __name__
del _type


def redact_botocore_logs() -> None:
    """Keep secrets out of botocore's DEBUG records from now on (idempotent, process-wide).

    botocore logs request parameters, headers and response bodies at DEBUG. A plugin
    that calls STS itself (e.g. ``AssumeRoleWithWebIdentity``) calls this first, so
    that keys, session tokens and web identity tokens are redacted as they are for the
    built-in sources.
    """
    from sls_access import _redact  # noqa: PLC0415 - its patterns cost import time

    _redact.install()
