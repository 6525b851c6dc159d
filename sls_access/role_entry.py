"""The built-in way into an access role: STS ``AssumeRole`` with botocore's default chain.

Registered as the plugin ``assume-role``; its ``sls_access_enter_role`` runs last
(``trylast``), so that a plugin such as ``sls-access-oidc`` may enter the role first.
For a deployment profile with ``sessions = "per_key"`` it sets the caller's own identity
as ``SourceIdentity`` (unless a ``sls_access_role_session`` plugin set one): the last part
of the base credentials' ``GetCallerIdentity`` ARN, asked once per base access key; when
that cannot be had, the role is not entered.
The path of a dashboard link to keys is: :mod:`~sls_access.sources.dashboard` finds the
deployment profile, the resolver's plugins enter its role (this plugin last), and
:mod:`sls_access._sts_client` makes the STS call.
"""

from __future__ import annotations

import threading

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._role_session import RoleSession
from sls_access._sts_client import RoleAssumer
from sls_access._target import Target
from sls_access._values import source_identity_of_arn
from sls_access.dashboard.model import DeploymentProfile, Sessions
from sls_access.plugin import hookimpl

__all__ = ["AssumeRolePlugin"]


class AssumeRolePlugin:
    """Enters roles with ``AssumeRole``; one instance per resolver (it holds its STS clients)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._assumer: RoleAssumer | None = None

    def _assumer_for(self, options: Options) -> RoleAssumer:
        with self._lock:
            if self._assumer is None:
                self._assumer = RoleAssumer(options.sts_config)
            return self._assumer

    @hookimpl(trylast=True)
    def sls_access_enter_role(
        self, target: Target, deployment_profile: DeploymentProfile, session: RoleSession, options: Options
    ) -> Credentials:
        """Assume the deployment profile's role; any failure is an :class:`~sls_access.AccessRoleError`."""
        assumer = self._assumer_for(options)
        identity = session.source_identity
        if identity is None and deployment_profile.sessions is Sessions.PER_KEY:
            identity = source_identity_of_arn(assumer.caller_arn(target, deployment_profile))
        return assumer.assume(
            target,
            deployment_profile,
            source=None,
            session_name=session.name,
            source_identity=identity,
            now=options.clock(),
        )
