"""The hook specifications: every hook a plugin may implement.

Each hook is prefixed ``sls_access_``; an implementation may accept any subset of the
parameters, by name. Every type a hook passes is exported by :mod:`sls_access.plugin`.
sls-access calls the implementations one by one, so that an error can always name the
plugin that raised it. Hook wrappers are not supported: a plugin that has one fails to
load (and so every resolution fails until it is fixed or disabled). Likewise:

- in :func:`sls_access_sources`, a source's ``load``, :func:`sls_access_role_session` or
  :func:`sls_access_enter_role`, an exception fails the resolution with an error naming
  the plugin (fail closed);
- in the observers :func:`sls_access_resolution_succeeded` and
  :func:`sls_access_resolution_failed`, an exception is logged as a warning naming the
  plugin and the resolution goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sls_access.plugin._names import hookspec as _spec

if TYPE_CHECKING:
    from sls_access.plugin import (
        Credentials,
        DeploymentProfile,
        EnterRole,
        Options,
        RoleSession,
        SlsAccessError,
        Source,
        Target,
        TrailEntry,
    )


@_spec
def sls_access_sources(options: Options, enter_role: EnterRole) -> Iterable[Source]:
    """Return the credential sources this plugin adds to the chain.

    Called once per :class:`~sls_access.Resolver`, when it first resolves. Sources of
    third-party plugins go after ``dashboard`` and before ``env`` unless the
    ``sources`` option orders the chain.

    :param options: the resolver's options (the dashboard access key is in
        ``options.access_key``; never log it).
    :param enter_role: ``enter_role(target, deployment_profile) -> Credentials`` enters a
        deployment profile's access role the way the installed plugins do (the hooks
        below), for sources that find deployment profiles of their own; it raises
        :class:`~sls_access.AccessRoleError` when the role cannot be entered.
    :return: source objects, each with a unique ``name`` and a ``load(target)`` method.
    """
    raise NotImplementedError


@_spec
def sls_access_role_session(
    target: Target, deployment_profile: DeploymentProfile, options: Options
) -> RoleSession | str | None:
    r"""Name the STS session an access role is entered with, and set its SourceIdentity.

    The first implementation that returns something other than None wins; when none
    does, the name is ``sls-<org>.<app>.<stage>`` and no SourceIdentity is set. The
    result is checked against the STS rules (2-64 characters of ``[\w+=,.@-]``): an
    invalid one is a :class:`~sls_access.ConfigError` naming the plugin.

    :param target: the target being resolved.
    :param deployment_profile: the linked deployment profile (role ARN, external id,
        duration, region).
    :param options: the resolver's options.
    :return: a :class:`~sls_access.plugin.RoleSession`, a plain string (the name, with
        no SourceIdentity), or None to leave the choice to others.
    """
    raise NotImplementedError


@_spec
def sls_access_enter_role(
    target: Target, deployment_profile: DeploymentProfile, session: RoleSession, options: Options
) -> Credentials | None:
    """Enter the deployment profile's access role linked to the target.

    The first implementation that returns credentials wins. The built-in one runs
    last: STS ``AssumeRole`` with botocore's default credentials, the profile's
    ``external_id`` and ``duration_seconds``, and the session from
    :func:`sls_access_role_session`. Return None to let the next one try; raise when
    the role applies to you but could not be entered: the resolution fails with an
    :class:`~sls_access.AccessRoleError` naming the plugin (fail closed, no fallback).

    :param target: the target being resolved.
    :param deployment_profile: the linked deployment profile.
    :param session: the role session name and SourceIdentity to use.
    :param options: the resolver's options.
    :return: the role's temporary credentials (with their ``expiration``), or None.
        ``source`` is stamped with the asking source's name when left None; ``region``
        becomes the target's region when it has one, else stays the plugin's, else is the
        deployment profile's.
    """
    raise NotImplementedError


@_spec
def sls_access_resolution_succeeded(  # noqa: PLR0917 - pluggy passes hook arguments by name
    target: Target,
    source: str,
    trail: tuple[TrailEntry, ...],
    expiration: datetime | None,
    region: str | None,
    key_hint: str,
) -> None:
    """Observe a resolution that found credentials (an audit log, a metric).

    Called once per resolution that walked the chain; a warm cache read calls no hook.
    No secret is given: only the key id's last four characters. An exception raised
    here is logged as a warning naming the plugin; the resolution is not affected.

    :param target: the target resolved.
    :param source: the name of the source that applied.
    :param trail: every source tried, in chain order, with its outcome and reason.
    :param expiration: when the credentials expire, or None for keys that do not.
    :param region: the region a session for the target uses, or None.
    :param key_hint: the access key id, redacted to ``****`` and its last four characters.
    """
    raise NotImplementedError


@_spec
def sls_access_resolution_failed(target: Target, trail: tuple[TrailEntry, ...], error: SlsAccessError) -> None:
    """Observe a resolution that failed or found no credentials.

    Called before the error is raised to the caller. An exception raised here is logged
    as a warning naming the plugin; the caller still gets *error*.

    :param target: the target that could not be resolved.
    :param trail: every source tried, in chain order, with its outcome and reason.
    :param error: the error the caller gets (:class:`~sls_access.NoCredentialsError`,
        :class:`~sls_access.AccessRoleError`, ...); its message carries no secret.
    """
    raise NotImplementedError
