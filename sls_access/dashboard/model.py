"""The dashboard's data: deployment profiles and the links that pick one for a target."""

from __future__ import annotations

import enum

import attrs

__all__ = ["DeploymentProfile", "Link", "LinkLevel"]


class LinkLevel(enum.StrEnum):
    """How specific the link that applied is (most specific first)."""

    STAGE_REGION = "stage+region"
    STAGE = "stage"
    APP = "app"
    ORG = "org"


@attrs.frozen(kw_only=True)
class DeploymentProfile:
    """An AWS access role and how to enter it.

    :ivar account_id: the AWS account the role must be in, when the dashboard pins one:
        the ``role_arn``'s and the assumed role's account must both be this one.
    """

    name: str
    role_arn: str
    external_id: str | None = attrs.field(default=None, repr=False)
    duration_seconds: int = 3600
    region: str | None = None
    account_id: str | None = None


@attrs.frozen(kw_only=True)
class Link:
    """The deployment profile that applies to a target, and at which level it was linked.

    :ivar key: the dotted key of the dashboard file that made the link.
    """

    profile: DeploymentProfile
    level: LinkLevel
    key: str
