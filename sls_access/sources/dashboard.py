"""The ``dashboard`` source: the deployment profile linked to the target, its role entered.

Fail closed: once a link applies, every failure to enter its role raises
:class:`~sls_access.AccessRoleError`; the chain never goes on to local keys. Nor does it
for a target the dashboard file refuses (a name one slip away from a known one, a
protected stage without its own link), nor for ``use_local_credentials`` on a protected
stage (the dashboard file is still read to know): that is a :class:`~sls_access.ConfigError`. The role
is entered through the resolver's plugins (the ``enter_role`` callable this source is
given), except with a dashboard service, which enters the role itself.

A source keeps the dashboard it found first (or that there was none): a later resolution
that finds another one (the working directory, the login or the default file changed in a
long-lived process) is a :class:`~sls_access.ConfigError`, so that one resolver's cached
keys and its new ones never come from two dashboards, and a dashboard that is gone never
lets local keys in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from sls_access._credentials import Credentials
from sls_access._options import Options
from sls_access._source import Skip
from sls_access._target import Target
from sls_access.errors import AccessRoleError, ConfigError
from sls_access.plugin import EnterRole, hookimpl

if TYPE_CHECKING:
    from sls_access.dashboard.locate import DashboardKind, DashboardLocation
    from sls_access.dashboard.model import DeploymentProfile, Link

__all__ = ["DashboardSource", "sls_access_sources"]

log = logging.getLogger(__name__)


@attrs.define
class DashboardSource:
    """Looks the target up in the dashboard and enters the linked access role."""

    options: Options
    enter_role: EnterRole
    name: str = "dashboard"
    # The dashboard found by the first resolution: (kind, location) and how to name it.
    _first: tuple[tuple[DashboardKind, str] | None, str] | None = attrs.field(default=None, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def refuse_local_keys(self, target: Target) -> None:
        """Raise :class:`~sls_access.ConfigError` when the dashboard file protects *target*'s stage.

        Asked when this source is skipped (``use_local_credentials``) and by the chain
        when another source comes first (``sources`` without ``dashboard`` first): a
        protected stage gets only its own link's keys, whatever the chain's order.
        """
        from sls_access.dashboard.locate import locate_dashboard  # noqa: PLC0415 - as in _locate

        _refuse_local_keys(target, locate_dashboard(self.options))

    def _locate(self, target: Target) -> DashboardLocation:
        """Return the dashboard in use; raise :class:`Skip` when there is none or the user skips it."""
        # The dashboard modules load on the first resolution, not with the plugin: building the
        # chain needs none of them.
        from sls_access.dashboard.locate import locate_dashboard, nothing_found  # noqa: PLC0415 - as above

        if self.options.use_local_credentials:
            self.refuse_local_keys(target)
            raise Skip("use_local_credentials is set")

        location = locate_dashboard(self.options)
        found = None if location is None else (location.kind, location.location)
        with self._lock:
            if self._first is None:
                self._first = (found, "no dashboard" if location is None else str(location))
            first, named = self._first
        if found != first:
            now = "no dashboard" if location is None else str(location)
            raise ConfigError(
                f"the dashboard changed since this resolver first used one: it was {named}, now "
                f"{now} (the working directory, the login or the default file changed); a resolver "
                "keeps its first dashboard, so that its keys never come from two: use a new Resolver "
                "(sls_access.registry.clear() for the module functions)",
                key="dashboard",
            )
        if location is None:
            raise Skip(nothing_found())
        return location

    def _link(self, target: Target, location: DashboardLocation) -> Link:
        """Return the link for *target* in a dashboard file; raise :class:`Skip` when there is none."""
        path = location.location
        dashboard = location.load()
        link = dashboard.link(target)  # a slip of a name, or a protected stage unlinked: ConfigError
        if link is None:
            if target.org not in dashboard.orgs:
                raise Skip(f"org {target.org!r} is not in {path}")
            raise Skip(f"no deployment profile is linked to {target} in {path}")
        return link

    def load(self, target: Target) -> Credentials:
        """Return the linked role's temporary keys; raise :class:`Skip` when no link applies."""
        location = self._locate(target)
        from sls_access.dashboard.locate import DashboardKind  # noqa: PLC0415 - loaded by _locate

        if location.kind is DashboardKind.SERVICE:
            from sls_access.dashboard.http import DashboardService  # noqa: PLC0415 - only for a service
            from sls_access.dashboard.login import stored_access_key  # noqa: PLC0415 - only for a service

            # The key: the option, else SERVERLESS_ACCESS_KEY (both in options), else the one
            # `sls-access login` stored for this very URL.
            key = self.options.access_key or stored_access_key(location.location) or ""
            found = DashboardService(location.location, key).credentials(target)
            return attrs.evolve(found, dashboard=str(location))
        link = self._link(target, location)
        log.debug(
            "%s: deployment profile %r linked at %s (%s); entering %s",
            target,
            link.profile.name,
            link.key,
            link.level,
            link.profile.role_arn,
        )
        return _of_role(self.enter_role(target, link.profile), target, link.profile, location)

    def plan(self, target: Target) -> str:
        """Say what :meth:`load` would do, with no network call (``explain --offline``)."""
        location = self._locate(target)
        from sls_access.dashboard.locate import DashboardKind  # noqa: PLC0415 - loaded by _locate

        if location.kind is DashboardKind.SERVICE:
            return f"would ask the dashboard service {location} (not asked offline)"
        link = self._link(target, location)
        return (
            f"would enter role {link.profile.role_arn} of deployment profile {link.profile.name!r}, "
            f"linked at {link.level} ({link.key}) in {location}"
        )


def _refuse_local_keys(target: Target, location: DashboardLocation | None) -> None:
    """Raise :class:`~sls_access.ConfigError` when the dashboard file protects *target*'s stage.

    The dashboard is read to know: an unreadable or untrusted file is an error too. No
    dashboard protects nothing; a dashboard service's protected stages are its own to
    enforce (it is not asked when the user skips it).
    """
    from sls_access.dashboard.locate import DashboardKind  # noqa: PLC0415 - loaded by the caller

    if location is not None and location.kind is DashboardKind.FILE:
        location.load().refuse_local_keys(target)


def _of_role(
    found: Credentials, target: Target, profile: DeploymentProfile, location: DashboardLocation
) -> Credentials:
    """Stamp *found* with the role it is of and the dashboard that linked it.

    A role-entry plugin that says it entered another role than the profile's fails closed,
    and so does one that does not say which role it entered when the profile pins an
    account (its keys could be of any account; the built-in entry checks STS's answer).
    """
    if found.role_arn not in {None, profile.role_arn}:
        raise AccessRoleError(
            f"the role entered is {found.role_arn}, not the deployment profile's",
            target=target,
            deployment_profile=profile.name,
            role_arn=profile.role_arn,
        )
    if found.role_arn is None and profile.account_id is not None:
        raise AccessRoleError(
            f"the role entry did not say which role its keys are of, and the deployment "
            f"profile pins account {profile.account_id}: refused (return Credentials with "
            "role_arn, e.g. from sls_access.plugin.sts.credentials_from_response(..., "
            "account_id=..., role_arn=...))",
            target=target,
            deployment_profile=profile.name,
            role_arn=profile.role_arn,
        )
    return attrs.evolve(found, role_arn=profile.role_arn, dashboard=str(location))


@hookimpl
def sls_access_sources(options: Options, enter_role: EnterRole) -> Iterable[DashboardSource]:
    """Add the dashboard source, entering roles through the resolver's plugins."""
    return [DashboardSource(options, enter_role)]
