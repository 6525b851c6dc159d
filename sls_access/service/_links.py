"""The links the service serves, remembered per target until the dashboard changes.

Looking a link up builds its dotted key and a :class:`~sls_access.dashboard.model.Link`
each time; a vend asks the same few targets again and again. The state hands out one
dashboard object until its profiles or links change (a file re-read, a SQL state's new
copy), so the answers are kept for that object and forgotten with it.
"""

from __future__ import annotations

from sls_access._target import Target
from sls_access.dashboard.file import DashboardFile
from sls_access.dashboard.model import Link

__all__ = ["LinkMemo"]


class LinkMemo:
    """:meth:`DashboardFile.link` answers for one dashboard object, at most *maxsize* targets.

    A target the dashboard refuses (:class:`~sls_access.dashboard.file.TargetError`) is not
    remembered: it raises again, with its message, each time. Past *maxsize* targets the
    memo starts anew, so that a caller naming ever new targets only costs lookups.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        # The dashboard and its answers in one tuple, replaced whole: an answer is never
        # filed under a dashboard it did not come from.
        self._held: tuple[DashboardFile | None, dict[Target, Link | None]] = (None, {})

    def __len__(self) -> int:
        """Return how many targets' answers are remembered."""
        return len(self._held[1])

    def link(self, dashboard: DashboardFile, target: Target) -> Link | None:
        """Return ``dashboard.link(target)``, remembered while *dashboard* is the one in force."""
        held, links = self._held
        if dashboard is not held:
            links = {}  # another dashboard: none of the old answers holds
            self._held = (dashboard, links)
        try:
            return links[target]
        except KeyError:
            pass
        link = dashboard.link(target)
        if len(links) >= self.maxsize:
            links.clear()
        links[target] = link
        return link
