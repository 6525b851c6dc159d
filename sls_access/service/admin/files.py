"""The admin side's :class:`~sls_access.service.admin.backend.Backend` over the service's files.

- Keys: the key file the vending path reads (:class:`KeyStore`), each key with its role
  (the vending path refuses an admin key: it vends nothing).
- Profiles and links: the dashboard file. Written only with ``serve --edit-dashboard``
  (comments kept, through tomlkit, validated by the file's own parser first, atomically,
  under the file's writers' lock); otherwise the file is under review in git and is
  ``managed_by_file``.
- Short-lived records (UI sessions, pending connects): one JSON file beside the key file
  (``<keys stem>.records.json``, 0600), so that every worker sees them.
- Audit events: the last :data:`MAX_EVENTS` of this worker, in memory (the audit lines on
  stdout are the durable log).
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from sls_access._atomic import replace_file, writers_lock
from sls_access._values import iso_utc, parse_iso_utc
from sls_access._watched import WatchedFile
from sls_access.dashboard.edit import locked, validate, write_atomically
from sls_access.dashboard.file import DashboardFile, load_dashboard_file
from sls_access.errors import ConfigError
from sls_access.service.admin import AdminError
from sls_access.service.admin.backend import Role
from sls_access.service.keys import AccessKey, KeyStore

__all__ = ["MAX_EVENTS", "FileBackend"]

MAX_EVENTS = 10_000
_MAX_RECORDS = 10_000


def _records_path(keys: Path) -> Path:
    return keys.with_name(f"{keys.name.removesuffix('.json')}.records.json")


class FileBackend:
    """See the module docstring.

    :param dashboard: the dashboard file.
    :param keys: the (deploy) key file.
    :param editable: profiles and links may be written to the dashboard file.
    :param clock: the current aware datetime.
    """

    def __init__(self, dashboard: Path, keys: Path, *, editable: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = dashboard
        self.managed_by_file = not editable
        self._clock = clock
        self._store = KeyStore(keys)
        self._dashboard = WatchedFile(dashboard, load_dashboard_file)
        self._records_path = _records_path(keys)
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_EVENTS)
        self._used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    # -- keys
    def _info(self, record: AccessKey) -> AccessKey:
        return attrs.evolve(record, last_used=self._used.get(record.id))

    def authenticate(self, key: str) -> AccessKey | None:
        """Return the valid key *key* is, else None."""
        record = self._store.current().match(key)
        return self._info(record) if record is not None and record.revoked is None else None

    def key(self, key_id: str) -> AccessKey | None:
        """Return the key with id *key_id*, revoked or not."""
        record = self._store.current().keys.get(key_id)
        return None if record is None else self._info(record)

    def keys(self, org: str) -> list[AccessKey]:
        """Return *org*'s live keys, oldest first."""
        return [self._info(record) for record in self._store.list(org)]

    def create_key(self, org: str, name: str, role: Role) -> tuple[AccessKey, str]:
        """Create a key of *role*."""
        record, key = self._store.create(org, name, now=self._clock(), role=role)
        return self._info(record), key

    def revoke_key(self, org: str, name: str) -> AccessKey | None:
        """Revoke *org*'s key *name*; None when there is none."""
        if not any(k.name == name for k in self._store.list(org)):
            return None
        return self._info(self._store.revoke(org, name, now=self._clock()))

    # -- profiles and links
    def dashboard(self) -> DashboardFile:
        """Return the dashboard file as it is now."""
        return self._dashboard.current()

    def dashboard_text(self) -> str:
        """Return the dashboard file's text."""
        return self.path.read_text("utf-8")

    def edit_dashboard(self, change: Callable[[str], str]) -> None:
        """Write ``change(text)`` to the dashboard file once it validates (see the protocol)."""
        if self.managed_by_file:
            raise AdminError(409, "managed_by_file", f"profiles and links are managed by the dashboard file "
                                                     f"{self.path}: commit the change there")
        with locked(self.path):
            previous = self.path.read_bytes()
            text = change(previous.decode("utf-8"))
            validate(text, str(self.path))
            write_atomically(self.path, text, previous=previous)

    # -- audit
    def record_event(self, fields: Mapping[str, Any]) -> None:
        """Keep the event, and the key's last use when it was a vend."""
        event = dict(fields)
        with self._lock:
            self._events.append(event)
            if event.get("outcome") == "vended" and event.get("key_id"):
                self._used[str(event["key_id"])] = self._clock()

    def events(self, org: str, limit: int) -> list[dict[str, Any]]:
        """Return *org*'s latest events, newest first."""
        with self._lock:
            found = [event for event in reversed(self._events) if event.get("org") == org]
        return found[:limit]

    # -- short-lived records
    def _read_records(self) -> dict[str, Any]:
        try:
            data = json.loads(self._records_path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the records file: {exc}", path=str(self._records_path)) from None
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _records(self) -> Iterator[dict[str, Any]]:
        with writers_lock(self._records_path):
            records = self._read_records()
            now = self._clock()
            live = {name: item for name, item in records.items() if parse_iso_utc(item["expires"]) > now}
            yield live
            items = sorted(live.items(), key=lambda pair: pair[1]["expires"])[-_MAX_RECORDS:]
            replace_file(self._records_path, json.dumps(dict(items)).encode(), new_mode=0o600)

    def put_record(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep the record until *expires*."""
        with self._records() as records:
            records[f"{kind}/{name}"] = {"expires": iso_utc(expires), "value": dict(value)}

    def get_record(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record while it lives."""
        item = self._read_records().get(f"{kind}/{name}")
        if item is None or parse_iso_utc(item["expires"]) <= self._clock():
            return None
        value = item["value"]
        return dict(value) if isinstance(value, dict) else None

    def delete_record(self, kind: str, name: str) -> None:
        """Forget the record."""
        with self._records() as records:
            records.pop(f"{kind}/{name}", None)
