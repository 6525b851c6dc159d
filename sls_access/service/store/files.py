"""The state of earlier releases as a store: the JSON key file and the dashboard file.

Keys are the key file (:class:`~sls_access.service.keys.KeyStore`); profiles and links
are the dashboard file, which is their source of truth (:attr:`FileStore.managed_by_file`:
every edit is refused). Both are re-read when they change, one ``stat`` each per read, so a
revocation is in force from the next request on.

The admin side's short-lived records (UI sessions, pending connects) are a JSON file
beside the key file (:class:`~sls_access.service.admin.records.FileRecords`), shared by
the workers of one host only.

What files cannot share is kept per process (failure counts: the service's throttle counts
them itself; last-used times) or not at all (audit events: the stdout audit line is the
record). For one throttle and audit rows across workers and replicas, use a SQL state.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from sls_access.dashboard.file import DashboardFile
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import ConfigError
from sls_access.service._vend import WatchedDashboard
from sls_access.service.admin.records import FileRecords, records_path
from sls_access.service.keys import AccessKey, KeyFile, KeyStore, default_keys_path
from sls_access.service.store._dashboard import links_of, profiles_of, protected_of
from sls_access.service.store.base import (
    AuditEvent,
    LinkRecord,
    ManagedByFileError,
    Role,
    StateUnavailableError,
    check_record,
)

__all__ = ["FileStore"]

_POLL = 0.05


class FileStore:
    """A :class:`~sls_access.service.store.base.Store` over a dashboard file and its key file.

    :param dashboard: the dashboard file (read now: a bad one raises :class:`~sls_access.ConfigError`).
    :param keys: the key file; default ``<dashboard stem>.keys.json`` beside it.
    """

    def __init__(self, dashboard: str | os.PathLike[str], *, keys: str | os.PathLike[str] | None = None) -> None:
        path = Path(dashboard).expanduser()
        if not path.is_file():
            raise ConfigError("dashboard file not found", path=str(path), key="dashboard")
        self._dashboard = WatchedDashboard(path)
        self._keys = KeyStore(default_keys_path(path) if keys is None else Path(keys).expanduser())
        self.url = f"file:{self._keys.path}"
        self.managed_by_file: str | None = str(self._dashboard.path)
        self._lock = threading.Lock()
        self._used: dict[str, datetime] = {}
        self._records = FileRecords(records_path(self._keys.path))

    def __repr__(self) -> str:
        return f"FileStore({self.url!r})"

    @property
    def keys_path(self) -> Path:
        """The key file."""
        return self._keys.path

    @property
    def read_only(self) -> bool:
        """Always: the dashboard file is the source of truth."""
        return True

    def version(self) -> int:
        """Return a number that changes whenever either file does (their identities, hashed)."""
        stamps = []
        for path in (self._keys.path, self._dashboard.path):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                stamps.append((0, 0, 0, 0))
            except OSError as exc:
                raise StateUnavailableError(f"cannot read {path}: {exc.strerror}") from None
            else:
                stamps.append((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns))
        return hash(tuple(stamps)) & 0x7FFF_FFFF_FFFF_FFFF

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Poll the files' identities until they change or *timeout* passes."""
        deadline = time.monotonic() + timeout
        while True:
            version = self.version()
            left = deadline - time.monotonic()
            if version != since or left <= 0:
                return version
            time.sleep(min(left, _POLL))

    def close(self) -> None:
        """Nothing to release."""

    def create_key(
        self, org: str, name: str, *, role: Role = Role.DEPLOY, now: datetime | None = None
    ) -> tuple[AccessKey, str]:
        """Create a key in the key file."""
        return self._keys.create(org, name, now=now, role=str(role))

    def _with_use(self, record: AccessKey) -> AccessKey:
        used = self._used.get(record.id)
        return record if used is None else attrs.evolve(record, last_used=used)

    def list_keys(self, org: str | None = None, *, revoked: bool = False) -> list[AccessKey]:
        """Return the key file's records (last-used times as this process saw them)."""
        return [self._with_use(record) for record in self._keys.list(org, revoked=revoked)]

    def revoke_key(self, org: str, name: str, *, now: datetime | None = None) -> AccessKey:
        """Revoke a key in the key file."""
        return self._keys.revoke(org, name, now=now)

    def import_keys(self, records: Iterable[AccessKey]) -> int:
        """Not offered: the key file is the old format itself."""
        raise ConfigError("keys are imported into a SQL state (--state), not into a key file", key="state")

    def keys(self) -> KeyFile:
        """Return the key file's records."""
        return self._keys.current()

    def match_key(self, key: str) -> AccessKey | None:
        """Return the record *key* belongs to, or None."""
        return self._keys.current().match(key)

    def touch_keys(self, used: Mapping[str, datetime]) -> None:
        """Remember last-used times in this process."""
        with self._lock:
            for record_id, when in used.items():
                if record_id not in self._used or self._used[record_id] < when:
                    self._used[record_id] = when

    def record_failure(self, subjects: Sequence[str], *, window: float) -> int:
        """Return 0: the service's throttle counts failures per process itself."""
        return 0

    def failures(self, subject: str, *, window: float) -> int:
        """Return 0 (see :meth:`record_failure`)."""
        return 0

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Keep nothing: with files, the stdout audit line is the only record."""

    def prune_audit(self, before: datetime) -> int:
        """Delete nothing (see :meth:`append_audit`)."""
        return 0

    def audit(
        self,
        org: str,
        *,
        app: str | None = None,
        stage: str | None = None,
        key: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[AuditEvent]:
        """Return no events (see :meth:`append_audit`): read the service's stdout audit lines."""
        return []

    def put_record(
        self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime, now: datetime | None = None
    ) -> None:
        """Keep the record in the records file beside the key file (this host's workers share it)."""
        check_record(kind, name)
        self._records.put(kind, name, value, expires=expires, now=now)

    def get_record(self, kind: str, name: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """Return the record from the records file while it lives."""
        return self._records.get(kind, name, now=now)

    def delete_record(self, kind: str, name: str) -> None:
        """Forget the record."""
        self._records.delete(kind, name)

    def dashboard(self) -> DashboardFile:
        """Return the dashboard file, parsed."""
        return self._dashboard.current()

    def profiles(self, org: str) -> list[DeploymentProfile]:
        """Return *org*'s deployment profiles."""
        return profiles_of(self.dashboard(), org)

    def links(self, org: str) -> list[LinkRecord]:
        """Return *org*'s links."""
        return links_of(self.dashboard(), org)

    def protected_stages(self, org: str, *, app: str | None = None) -> tuple[str, ...]:
        """Return the protected stages of *org* (or of *app*)."""
        return protected_of(self.dashboard(), org, app)

    def _refuse(self) -> ManagedByFileError:
        return ManagedByFileError(
            f"profiles and links are managed by the dashboard file {self.managed_by_file}: "
            "edit it (and commit it) instead",
            key="dashboard",
        )

    def put_profile(self, org: str, name: str, fields: Mapping[str, object]) -> DeploymentProfile:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()

    def delete_profile(self, org: str, name: str) -> None:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()

    def put_link(
        self,
        org: str,
        deployment_profile: str,
        *,
        app: str | None = None,
        stage: str | None = None,
        region: str | None = None,
    ) -> LinkRecord:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()

    def delete_link(
        self, org: str, *, app: str | None = None, stage: str | None = None, region: str | None = None
    ) -> None:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()

    def set_protected_stages(self, org: str, stages: Sequence[str], *, app: str | None = None) -> None:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()

    def replace_dashboard(self, dashboard: DashboardFile) -> None:
        """Refused: the dashboard file is the source of truth."""
        raise self._refuse()
