"""What the admin API and the web UI edit through: one small protocol, whatever holds the state.

:class:`~sls_access.service.admin.files.FileBackend` implements it over the key file and
the dashboard file; a database-backed store implements the same methods. Values are plain
(``attrs`` records, dicts of JSON values), so that either side can be swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from sls_access.dashboard.file import DashboardFile
from sls_access.service.keys import AccessKey

__all__ = ["ROLES", "Backend", "Role"]

Role = Literal["deploy", "admin"]
ROLES: tuple[Role, ...] = ("deploy", "admin")


class Backend(Protocol):
    """The state the admin side reads and edits.

    :ivar managed_by_file: profiles and links come from a dashboard file under review (in
        git): they are shown, never written (edits are ``409 managed_by_file``).
    """

    managed_by_file: bool

    def authenticate(self, key: str) -> AccessKey | None:
        """Return the valid (not revoked) key *key* is, else None; compared in constant time."""

    def key(self, key_id: str) -> AccessKey | None:
        """Return the key with id *key_id* (revoked ones too), or None."""

    def keys(self, org: str) -> list[AccessKey]:
        """Return *org*'s keys that are not revoked, oldest first."""

    def create_key(self, org: str, name: str, role: Role) -> tuple[AccessKey, str]:
        """Create a key; return it and the key itself (shown once). A bad or taken name raises ConfigError."""

    def revoke_key(self, org: str, name: str) -> AccessKey | None:
        """Revoke *org*'s key *name*; None when there is no such key."""

    def dashboard(self) -> DashboardFile:
        """Return the deployment profiles and links, parsed and validated."""

    def dashboard_text(self) -> str:
        """Return the profiles and links as a dashboard file's TOML text."""

    def edit_dashboard(self, change: Callable[[str], str]) -> None:
        """Replace the profiles and links' TOML text with ``change(text)`` once it validates, atomically.

        :raises AdminError: ``409 managed_by_file`` when managed by a file.
        :raises ConfigError: ``change`` raised it, or the new text does not validate (nothing written).
        """

    def record_event(self, fields: Mapping[str, Any]) -> None:
        """Keep one audit event (the audit line's fields)."""

    def events(self, org: str, limit: int) -> list[dict[str, Any]]:
        """Return *org*'s latest audit events, newest first, at most *limit*."""

    def put_record(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep a short-lived record (a UI session, a pending connect) until *expires*."""

    def get_record(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record, or None when there is none or it has expired."""

    def delete_record(self, kind: str, name: str) -> None:
        """Forget the record, if any."""
