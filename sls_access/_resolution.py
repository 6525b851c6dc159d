"""The result of walking the chain: the credentials and the trail of every source tried."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

from sls_access._credentials import Credentials
from sls_access._target import Target

if TYPE_CHECKING:
    from sls_access.errors import SlsAccessError

__all__ = ["Outcome", "Resolution", "TrailEntry"]


class Outcome(enum.StrEnum):
    """What happened when a source was tried."""

    USED = "used"
    SKIPPED = "skipped"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class TrailEntry:
    """One source tried: its name, the outcome and a human reason (never a secret)."""

    source: str
    outcome: Outcome
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.outcome} ({self.reason})"


@attrs.frozen(kw_only=True)
class Resolution:
    """Credentials for a target and how they were found.

    :ivar credentials: the winning source's credentials, None when no source applied or
        one failed (only :meth:`Resolver.explain` returns such a resolution).
    :ivar source: the name of the winning source, or None.
    :ivar region: the region a session for this target uses: the target's region, else
        the linked deployment profile's, else None (botocore's own configuration).
    :ivar trail: one :class:`TrailEntry` per source tried, in chain order.
    :ivar error: the error that ended the resolution, if one did.
    """

    target: Target
    credentials: Credentials | None
    source: str | None
    region: str | None = None
    trail: tuple[TrailEntry, ...] = ()
    error: SlsAccessError | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        head = f"{self.target}: " + (f"credentials from {self.source}" if self.source else "no credentials")
        return "\n".join([head, *(f"  {entry}" for entry in self.trail)])

# Shown, documented and pickled under the path users import it from, ``sls_access`` (as httpx does).
for _public in (Outcome, Resolution, TrailEntry):
    _public.__module__ = "sls_access"
del _public
