"""Extend sls-access with plugins: how to write one.

A plugin is a module (or object) with functions marked by :data:`hookimpl`, found
through the ``sls_access`` entry-point group. The built-in sources ``dashboard``,
``env`` and ``profile`` are plugins of exactly this kind.

A source that reads keys from a vault, in ``my_vault_plugin.py``::

    from sls_access import Credentials
    from sls_access.plugin import hookimpl
    from sls_access.sources import Skip


    class VaultSource:
        name = "vault"

        def load(self, target):
            if target.org != "acme":
                raise Skip("vault holds keys for acme only")
            return Credentials(access_key_id="AKIA...", secret_access_key="...", source=self.name)


    @hookimpl
    def sls_access_sources(options):
        return [VaultSource()]

Declare it in the plugin package's ``pyproject.toml``::

    [project.entry-points.sls_access]
    vault = "my_vault_plugin"

Once installed, every new :class:`~sls_access.Resolver` tries ``vault`` after
``dashboard`` and before ``env``; ``sources="dashboard,vault,env,profile"`` orders the
chain explicitly and ``disable_plugins="vault"`` switches it off.

Other hooks change how the dashboard's access role is entered
(``sls_access_enter_role``, e.g. with a CI job's OIDC token), how its STS session is
named (``sls_access_role_session``, returning a :class:`RoleSession`), or observe
resolutions for audit logs and metrics (``sls_access_resolution_succeeded`` and
``sls_access_resolution_failed``, which are given no secret). The hooks are listed, with
their signatures, in :mod:`sls_access.plugin.spec`.
"""

from __future__ import annotations

import pluggy

from sls_access.plugin._session import RoleSession

__all__ = ["NAME", "RoleSession", "hookimpl", "redact_botocore_logs"]

NAME = "sls_access"
"""The pluggy project name and the entry-point group plugins are found in."""

hookimpl = pluggy.HookimplMarker(NAME)
"""Marks a function as an implementation of an sls-access hook."""


def redact_botocore_logs() -> None:
    """Keep secrets out of botocore's DEBUG records from now on (idempotent, process-wide).

    botocore logs request parameters, headers and response bodies at DEBUG. A plugin
    that calls STS itself (e.g. ``AssumeRoleWithWebIdentity``) calls this first, so
    that keys, session tokens and web identity tokens are redacted as they are for the
    built-in sources.
    """
    from sls_access import _redact  # noqa: PLC0415 - its patterns cost import time

    _redact.install()
