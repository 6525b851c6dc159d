"""The ``dashboard`` source: the deployment profile linked to the target, entered with STS.

Fail closed: once a link applies, every failure to enter its role raises
:class:`~sls_access.AccessRoleError`; the chain never goes on to local keys.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._sts import RoleAssumer
from sls_access._target import Target
from sls_access.dashboard.file import default_locations, find_dashboard_file, load_dashboard_file
from sls_access.dashboard.http import HttpDashboard, is_service_url
from sls_access.plugin import hookimpl
from sls_access.sources import Skip

if TYPE_CHECKING:
    from sls_access.plugin._roles import Roles

__all__ = ["DashboardSource", "sls_access_sources"]

log = logging.getLogger(__name__)


@attrs.define
class DashboardSource:
    """Looks the target up in the dashboard and assumes the linked access role.

    The role is entered through *roles* (the ``sls_access_enter_role`` hook: a plugin
    may enter it, the built-in AssumeRole last); without *roles*, with *assumer*.
    """

    options: Options
    assumer: RoleAssumer = attrs.field(factory=RoleAssumer)
    name: str = "dashboard"
    roles: Roles | None = None

    def load(self, target: Target) -> Credentials:
        """Return the linked role's temporary keys; raise :class:`Skip` when no link applies."""
        if self.options.use_local_credentials:
            raise Skip("use_local_credentials is set")
        location = self.options.dashboard
        if is_service_url(location):
            return HttpDashboard(location, self.options.access_key or "").credentials(target, source=self.name)
        path = find_dashboard_file(location)
        if path is None:
            looked = ", ".join(str(p) for p in default_locations())
            raise Skip(f"no dashboard file (looked for {looked})")
        dashboard = load_dashboard_file(path)
        if target.org not in dashboard.orgs:
            raise Skip(f"org {target.org!r} is not in {path}")
        link = dashboard.link(target)
        if link is None:
            raise Skip(f"no deployment profile is linked to {target} in {path}")
        log.debug("%s: deployment profile %r linked at %s (%s); assuming %s", target,
                  link.profile.name, link.key, link.level, link.profile.role_arn)
        if self.roles is not None:
            return self.roles.enter(target, link.profile, source=self.name)
        return self.assumer.assume(target, link.profile, source=self.name, now=self.options.clock())


@hookimpl
def sls_access_sources(options: Options, roles: Roles) -> Iterable[DashboardSource]:
    """Add the dashboard source, entering roles through the resolver's plugins."""
    return [DashboardSource(options, roles=roles)]
