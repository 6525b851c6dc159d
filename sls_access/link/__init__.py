"""Linking an AWS account: the access role's CloudFormation stack, its check, and its names.

``sls-access link`` (:mod:`sls_access.cli.link`) puts these together: build the template
(:mod:`.template`), deploy it and follow its events (:mod:`.stack`), enter the new role for
real (:mod:`.verify`), and only then edit the dashboard file (:mod:`sls_access.dashboard.edit`).
Nothing here is imported by ``import sls_access``.
"""

from __future__ import annotations

from sls_access.errors import SlsAccessError

__all__ = ["LinkError"]


class LinkError(SlsAccessError):
    """Linking an account failed before the dashboard file was changed; the message says why and what to do.

    :ivar stack_name: the CloudFormation stack concerned, when there is one.
    """

    def __init__(self, message: str, *, stack_name: str | None = None) -> None:
        self.stack_name = stack_name
        super().__init__(message)
