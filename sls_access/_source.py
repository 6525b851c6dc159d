"""What a credential source is.

A source is any object with a ``name`` and a ``load(target)`` method:

- return :class:`~sls_access.Credentials` when it applies;
- return ``None`` (or raise :class:`Skip` with a reason for the trail) when it does not;
- raise anything else when it applies but failed: resolution stops there (fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sls_access._credentials import Credentials
    from sls_access._target import Target

__all__ = ["Skip", "Source"]


@runtime_checkable
class Source(Protocol):
    """The protocol every credential source follows."""

    @property
    def name(self) -> str:
        """The source's name in the chain, the trail and the ``sources`` option."""
        ...

    def load(self, target: Target) -> Credentials | None:
        """Return credentials for *target*, or None when this source does not apply."""
        ...


class Skip(Exception):
    """Raised by a source to say it does not apply, with the reason for the trail."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
