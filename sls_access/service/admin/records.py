"""Short-lived records of the admin side: web UI sessions and pending "Connect AWS" checks.

The service keeps them in its state (:class:`StateRecords`, over
:meth:`~sls_access.service.store.base.Store.put_record` and its kin), so that every
worker and every replica on one state knows them: a sign-in or a connect started through
one replica goes on through any other, behind a load balancer with no sticky sessions.
A SQL state (SQLite or PostgreSQL) keeps them as rows; the files of earlier releases
(:class:`~sls_access.service.store.files.FileStore`) keep them in one small JSON file
beside the key file (:class:`FileRecords`, 0600, replaced atomically under a writers'
lock), shared by the workers of that one host. Expired records are dropped on every write.

A UI session is kept under its cookie token's SHA-256, never the token, and never holds
the admin key (:mod:`sls_access.service.ui.session`). Record values are never logged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sls_access._atomic import replace_file, writers_lock
from sls_access._values import iso_utc, parse_iso_utc
from sls_access.errors import ConfigError
from sls_access.service.admin import AdminError
from sls_access.service.store.base import StateUnavailableError, Store

__all__ = ["FileRecords", "Records", "StateRecords", "records_path"]

_MAX_RECORDS = 10_000
_NAME = "admin-records.json"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Records(Protocol):
    """Records by (kind, name), each kept until its expiry."""

    def put(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep *value* until *expires*."""

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record, or None when there is none or it has expired."""

    def delete(self, kind: str, name: str) -> None:
        """Forget the record, if any."""


class StateRecords:
    """:class:`Records` in the service's state *store*, as seen at *clock*'s time.

    A state that cannot be used now is ``503 state_unavailable`` (never a guess: no
    session is taken for valid, no connect for pending).
    """

    def __init__(self, store: Store, clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self._clock = clock

    def __repr__(self) -> str:
        return f"StateRecords({self.store.url!r})"

    @contextlib.contextmanager
    def _state(self) -> Iterator[None]:
        try:
            yield
        except StateUnavailableError:
            raise AdminError(503, "state_unavailable", "the state cannot be used now; try again shortly") from None

    def put(self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime) -> None:
        """Keep the record until *expires*."""
        with self._state():
            self.store.put_record(kind, name, value, expires=expires, now=self._clock())

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the record while it lives."""
        with self._state():
            return self.store.get_record(kind, name, now=self._clock())

    def delete(self, kind: str, name: str) -> None:
        """Forget the record."""
        with self._state():
            self.store.delete_record(kind, name)


def records_path(keys_path: Path) -> Path:
    """Return where the files of earlier releases keep the records: beside the key file *keys_path*."""
    return keys_path.with_name(f"{keys_path.name.removesuffix('.json')}.{_NAME}")


class FileRecords:
    """:class:`Records` in the JSON file *path* (the files of earlier releases; one host)."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileRecords({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the admin records: {exc}", path=str(self.path)) from None
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _editing(self, now: datetime | None) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with writers_lock(self.path):
            now = now or self._clock()
            live = {name: item for name, item in self._read().items() if parse_iso_utc(item["expires"]) > now}
            yield live
            items = sorted(live.items(), key=lambda pair: pair[1]["expires"])[-_MAX_RECORDS:]
            replace_file(self.path, json.dumps(dict(items)).encode(), new_mode=0o600)

    def put(
        self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime, now: datetime | None = None
    ) -> None:
        """Keep the record until *expires* (the records expired at *now*, default the clock, are dropped)."""
        with self._editing(now) as records:
            records[f"{kind}/{name}"] = {"expires": iso_utc(expires), "value": dict(value)}

    def get(self, kind: str, name: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """Return the record while it lives (at *now*, default the clock)."""
        item = self._read().get(f"{kind}/{name}")
        if item is None or parse_iso_utc(item["expires"]) <= (now or self._clock()):
            return None
        value = item["value"]
        return dict(value) if isinstance(value, dict) else None

    def delete(self, kind: str, name: str) -> None:
        """Forget the record."""
        with self._editing(None) as records:
            records.pop(f"{kind}/{name}", None)
