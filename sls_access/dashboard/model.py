"""The dashboard's data: deployment profiles and the links that pick one for a target."""

from __future__ import annotations

import enum

import attrs

__all__ = ["DeploymentProfile", "Link", "LinkLevel", "Sessions"]


class LinkLevel(enum.StrEnum):
    """How specific the link that applied is (most specific first)."""

    STAGE_REGION = "stage+region"
    STAGE = "stage"
    APP = "app"
    ORG = "org"


class Sessions(enum.StrEnum):
    """How many role sessions a deployment profile's role is entered with."""

    SHARED = "shared"
    """One session per link, shared by every caller (the default)."""
    PER_KEY = "per_key"
    """One session per caller, named after it (``SourceIdentity``; in the dashboard
    service, per access key, with session tags)."""


@attrs.frozen(kw_only=True, cache_hash=True)
class DeploymentProfile:
    """An AWS access role and how to enter it.

    :ivar account_id: the AWS account the role must be in, when the dashboard pins one:
        the ``role_arn``'s and the assumed role's account must both be this one.
    :ivar sessions: :attr:`Sessions.SHARED` (default) or :attr:`Sessions.PER_KEY`.
    """

    name: str
    role_arn: str
    external_id: str | None = attrs.field(default=None, repr=False)
    duration_seconds: int = 3600
    region: str | None = None
    account_id: str | None = None
    sessions: Sessions = Sessions.SHARED


@attrs.frozen(kw_only=True)
class Link:
    """The deployment profile that applies to a target, and at which level it was linked.

    :ivar key: the dotted key of the dashboard file that made the link.
    """

    profile: DeploymentProfile
    level: LinkLevel
    key: str
