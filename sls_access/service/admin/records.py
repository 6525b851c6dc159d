"""Short-lived records of the admin side: web UI sessions and pending "Connect AWS" checks.

The :class:`~sls_access.service.store.base.Store` holds no such records yet, so they live
in one small JSON file (:class:`FileRecords`, 0600, replaced atomically under a writers'
lock) that every worker of a host shares: beside the SQLite database or the key file, or
``$XDG_STATE_HOME/sls-access/admin-records.json`` for a PostgreSQL state (then a session
or a connect started on one host is not seen by the others: put the UI behind sticky
sessions, or one replica). Expired records are dropped on every write.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sls_access._atomic import replace_file, writers_lock
from sls_access._values import iso_utc, parse_iso_utc
from sls_access.errors import ConfigError

__all__ = ["FileRecords", "Records", "records_path"]

_MAX_RECORDS = 10_000
_NAME = "admin-records.json"


class Records(Protocol):
    """Records by (kind, name), each kept until its expiry."""

    def put(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep *value* until *expires*."""

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record, or None when there is none or it has expired."""

    def delete(self, kind: str, name: str) -> None:
        """Forget the record, if any."""


def records_path(store_url: str, keys_path: Path | None, state_home: Path) -> Path:
    """Return where a state's records go (see the module docstring)."""
    if keys_path is not None:
        return keys_path.with_name(f"{keys_path.name.removesuffix('.json')}.{_NAME}")
    if store_url.startswith("sqlite:///"):
        database = Path(urllib.parse.unquote(store_url.removeprefix("sqlite:///").partition("?")[0]))
        if database.is_absolute():
            return database.with_name(f"{database.name}.{_NAME}")
    return state_home / "sls-access" / _NAME


class FileRecords:
    """:class:`Records` in the JSON file *path*."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self._clock = clock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the admin records: {exc}", path=str(self.path)) from None
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with writers_lock(self.path):
            now = self._clock()
            live = {name: item for name, item in self._read().items() if parse_iso_utc(item["expires"]) > now}
            yield live
            items = sorted(live.items(), key=lambda pair: pair[1]["expires"])[-_MAX_RECORDS:]
            replace_file(self.path, json.dumps(dict(items)).encode(), new_mode=0o600)

    def put(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep the record until *expires*."""
        with self._editing() as records:
            records[f"{kind}/{name}"] = {"expires": iso_utc(expires), "value": dict(value)}

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record while it lives."""
        item = self._read().get(f"{kind}/{name}")
        if item is None or parse_iso_utc(item["expires"]) <= self._clock():
            return None
        value = item["value"]
        return dict(value) if isinstance(value, dict) else None

    def delete(self, kind: str, name: str) -> None:
        """Forget the record."""
        with self._editing() as records:
            records.pop(f"{kind}/{name}", None)
