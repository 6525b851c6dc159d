"""The result of walking the chain: the credentials and the trail of every source tried."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from sls_access._credentials import Credentials
from sls_access._public import publish
from sls_access._target import Target

if TYPE_CHECKING:
    from sls_access.errors import SlsAccessError

__all__ = ["NOT_TRIED", "Outcome", "Resolution", "TrailEntry"]

NOT_TRIED = "not tried"
"""The outcome shown for sources after the one that applied or failed."""


class Outcome(enum.StrEnum):
    """What happened when a source was tried."""

    USED = "used"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "would be used"
    """Only in an offline plan (``explain(offline=True)``): this source would give the keys."""


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
    :ivar chain: the names of the chain's sources, in order (those after the one that
        applied or failed were not tried).
    :ivar offline: True for a plan made without any network call (``explain(offline=True)``):
        ``source`` is the source that would give the keys, ``credentials`` is None.
    :ivar dashboard: the dashboard in use, as ``explain`` names it (its path or URL and how
        it was found), when :meth:`Resolver.explain` made this resolution and there is one.

    ``str()`` is the table ``sls-access explain`` prints.
    """

    target: Target
    credentials: Credentials | None
    source: str | None
    region: str | None = None
    trail: tuple[TrailEntry, ...] = ()
    error: SlsAccessError | None = attrs.field(default=None, eq=False)
    chain: tuple[str, ...] = ()
    offline: bool = False
    dashboard: str | None = None

    def rows(self) -> list[tuple[str, str, str, bool]]:
        """Return ``(source, outcome, reason, winner)`` for every source of the chain, in order.

        Sources after the one that applied or failed have the outcome ``not tried``.
        """
        rows = [
            (entry.source, str(entry.outcome), entry.reason, entry.outcome in {Outcome.USED, Outcome.PLANNED})
            for entry in self.trail
        ]
        tried = {entry.source for entry in self.trail}
        why = (
            "an earlier source failed"
            if self.error is not None
            else "an earlier source would apply"
            if self.offline
            else "an earlier source applied"
        )
        rows += [(name, NOT_TRIED, why, False) for name in self.chain if name not in tried]
        return rows

    @property
    def role_arn(self) -> str | None:
        """The access role the keys are of, or the one that could not be entered, if any."""
        if self.credentials is not None:
            return self.credentials.role_arn
        return getattr(self.error, "role_arn", None)

    def table(self, notes: Sequence[str] = ()) -> str:
        """Return the resolution as ``sls-access explain`` prints it; *notes* go under the heading."""
        if self.offline:
            head = f"{self.target}: offline plan, nothing was asked: " + (
                f"credentials would come from {self.source}"
                if self.source
                else f"FAILED ({type(self.error).__name__})"
                if self.error is not None
                else "no source would apply"
            )
        elif self.source:
            head = f"{self.target}: credentials from {self.source}"
            if self.region:
                head += f" (region {self.region})"
        elif self.error is not None:
            head = f"{self.target}: FAILED ({type(self.error).__name__}); no credentials"
        else:
            head = f"{self.target}: no credentials (no source applied)"
        lines = [head, *([] if self.dashboard is None else [f"dashboard: {self.dashboard}"]), *notes]
        if self.role_arn is not None:
            lines.append(
                f"role: {self.role_arn}" + ("" if self.credentials is not None or self.offline else " (not entered)")
            )
        cells = [("", "SOURCE", "OUTCOME", "WHY")]
        cells += [
            ("*" if winner else "", source, outcome, " ".join(reason.split()))
            for source, outcome, reason, winner in self.rows()
        ]
        width = [max(len(row[i]) for row in cells) for i in range(3)]
        lines.append("")
        lines += [
            f"{mark:<{width[0]}} {source:<{width[1]}}  {outcome:<{width[2]}}  {why}".rstrip()
            for mark, source, outcome, why in cells
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


# Shown, documented and pickled under the path users import them from, ``sls_access`` (the table: _public).
publish(globals())
