"""The state in SQL: SQLite (one host) or PostgreSQL (replicas), through SQLAlchemy Core.

The schema comes from Alembic migrations shipped in this package, applied by
:func:`~sls_access.service.store._engine.migrate` when a store opens: versioned, each at
most once, under a PostgreSQL advisory lock so that replicas starting together do not race.

The admin side's short-lived records (web UI sessions, pending "Connect AWS" checks) are
rows of ``records`` too, so that every replica behind a load balancer knows them; they do
not bump the change counter, and expired ones are pruned whenever one is written.

Every change of keys, profiles or links bumps the one-row change counter in the same
transaction (which also orders concurrent writers: the counter's row lock is taken first)
and, on PostgreSQL, sends ``NOTIFY sls_access_state`` at commit. :meth:`SqlStore.wait_for_change`
listens for it on a dedicated connection and polls the counter besides (the fallback, and
all there is on SQLite).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sls_access.dashboard.file import DashboardFile, parse_dashboard_data
from sls_access.dashboard.model import DeploymentProfile
from sls_access.errors import ConfigError
from sls_access.service.keys import MAX_KEY, AccessKey, KeyFile, check_name, check_role, hash_key, key_id, new_key
from sls_access.service.store import _schema as t
from sls_access.service.store._dashboard import Edits, links_of, profiles_of, protected_of
from sls_access.service.store._engine import create_engine, migrate
from sls_access.service.store._rows import org_data, write_org
from sls_access.service.store.base import (
    AuditEvent,
    ConflictError,
    LinkRecord,
    ManagedByFileError,
    NotFoundError,
    Role,
    StateUnavailableError,
    check_record,
)

__all__ = ["CHANNEL", "SqlStore"]

log = logging.getLogger(__name__)

CHANNEL = "sls_access_state"
"""The PostgreSQL notification channel of state changes."""
_MIGRATION_LOCK = 0x5_15_AC_CE55
_POLL = 0.05
"""How often :meth:`SqlStore.wait_for_change` reads the counter while it waits without notifications."""
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
"""Query parameters of a database URL that carry a secret (libpq takes a password there too)."""


@functools.cache
def _audit_columns() -> tuple[tuple[str, int | None], ...]:
    """Return the audit table's columns an event fills (all but ``id`` and ``time``), with their lengths."""
    return tuple(
        (column.name, getattr(column.type, "length", None))
        for column in t.audit_events.c
        if column.name not in {"id", "time"}
    )


@functools.cache
def _audit_insert(paramstyle: str) -> str:
    """Return the audit table's INSERT (``time``, then :func:`_audit_columns`) in the driver's *paramstyle*.

    sqlite3's ``qmark``; psycopg's ``pyformat`` (where COPY is not used).
    """
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}[paramstyle]
    names = ["time", *(name for name, _ in _audit_columns())]
    # Names from the schema, values bound by the driver.
    return f"INSERT INTO {t.audit_events.name} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"  # noqa: S608


def _ts(value: datetime) -> float:
    return value.astimezone(UTC).timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _shown(url: sa.URL) -> str:
    """Return *url* as logs and messages show it: no password, neither its own nor a query parameter."""
    hidden = {name: "***" for name in url.query if name.lower() in _SECRET_PARAMETERS}
    return url.update_query_dict(hidden).render_as_string(hide_password=True)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


class SqlStore:
    """A :class:`~sls_access.service.store.base.Store` in SQLite or PostgreSQL.

    :param url: ``sqlite:////abs/path`` or ``postgresql://user:password@host/db``.
    :param managed_by_file: a dashboard file that is the source of truth for profiles
        and links: they are read from it, and every edit is refused.
    :param migrate_schema: apply the migrations now (default); else the schema must be current.
    """

    def __init__(
        self, url: str, *, managed_by_file: str | os.PathLike[str] | None = None, migrate_schema: bool = True
    ) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError("not a database URL (sqlite:///ABS/PATH or postgresql://...)", key="state") from None
        self.url = _shown(parsed)
        self._url = parsed
        self._postgres = parsed.get_backend_name() == "postgresql"
        self._engine = create_engine(parsed)
        self._file: Any = None
        self.managed_by_file: str | None = None
        if managed_by_file is not None:
            from sls_access.service._vend import WatchedDashboard  # noqa: PLC0415 - a cycle otherwise

            self._file = WatchedDashboard(managed_by_file)
            self.managed_by_file = str(self._file.path)
        self._listener: Any = None
        self._listen_lock = threading.Lock()
        if migrate_schema:
            with self._connect() as conn:
                if self._postgres:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
                migrate(conn)

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    @property
    def read_only(self) -> bool:
        """Whether profiles and links come from a dashboard file (edits are refused)."""
        return self.managed_by_file is not None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        """Run a transaction; any database failure is :class:`StateUnavailableError` (no password shown)."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError:
            raise
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DatabaseError, sa.exc.TimeoutError) as exc:
            cause = getattr(exc, "orig", None)
            reason = (str(cause).splitlines() or [""])[0] if cause is not None else type(exc).__name__
            raise StateUnavailableError(f"the state at {self.url} cannot be used: {reason}") from None

    def _bump(self, conn: Connection) -> int:
        """Take the writers' lock (the counter's row), bump the counter, and notify at commit."""
        version = conn.execute(
            sa.update(t.state)
            .where(t.state.c.id == 1)
            .values(version=t.state.c.version + 1)
            .returning(t.state.c.version)
        ).scalar_one()
        if self._postgres:
            conn.execute(sa.select(sa.func.pg_notify(CHANNEL, str(version))))
        return int(version)

    # -- change notification

    def version(self) -> int:
        """Return the change counter (with a dashboard file: changed by the file's edits too)."""
        with self._connect() as conn:
            version = int(conn.execute(sa.select(t.state.c.version).where(t.state.c.id == 1)).scalar_one())
        if self._file is None:
            return version
        try:
            st = os.stat(self._file.path)
        except OSError:
            stamp = 0
        else:
            stamp = zlib.crc32(repr((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)).encode())
        return (version << 32) | stamp

    def _listen(self, timeout: float) -> bool:
        """Wait up to *timeout* for a notification; False when there is no listening connection."""
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        with self._listen_lock:
            if self._listener is None or self._listener.closed:
                try:
                    conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
                    self._listener = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
                    self._listener.execute(f"LISTEN {CHANNEL}")
                except psycopg.Error:
                    self._listener = None
                    return False
            try:
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    break
            except psycopg.Error:
                with contextlib.suppress(psycopg.Error):
                    self._listener.close()
                self._listener = None
                return False
            return True

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Return the counter once it differs from *since*, or after *timeout* seconds."""
        deadline = time.monotonic() + timeout
        while True:
            version = self.version()
            left = deadline - time.monotonic()
            if version != since or left <= 0:
                return version
            if not (self._postgres and self._listen(min(left, 0.5))):
                time.sleep(min(left, _POLL))

    def close(self) -> None:
        """Close the listening connection and the pool."""
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._engine.dispose()

    # -- access keys

    @staticmethod
    def _record(row: sa.Row[Any]) -> AccessKey:
        return AccessKey(
            id=row.id,
            org=row.org,
            name=row.name,
            role=row.role,
            sha256=row.sha256,
            created=_dt(row.created) or datetime.now(UTC),
            revoked=_dt(row.revoked),
            last_used=_dt(row.last_used),
        )

    def create_key(
        self, org: str, name: str, *, role: Role = Role.DEPLOY, now: datetime | None = None
    ) -> tuple[AccessKey, str]:
        """Create a key; return its record and the key (shown once)."""
        check_name(org, "org")
        check_name(name, "name")
        check_role(str(role))
        with self._connect() as conn:
            self._bump(conn)
            taken = conn.execute(
                sa.select(t.access_keys.c.id).where(
                    t.access_keys.c.org == org, t.access_keys.c.name == name, t.access_keys.c.revoked.is_(None)
                )
            ).first()
            if taken is not None:
                raise ConflictError(
                    f"org {org!r} already has a key named {name!r} (revoke it first, or pick another name)", key="name"
                )
            while True:
                record_id = os.urandom(6).hex()
                if conn.execute(sa.select(t.access_keys.c.id).where(t.access_keys.c.id == record_id)).first() is None:
                    break
            key = new_key(record_id)
            record = AccessKey(
                id=record_id, org=org, name=name, role=str(role), created=_now(now), sha256=hash_key(key)
            )
            conn.execute(
                sa.insert(t.access_keys).values(
                    id=record.id,
                    org=org,
                    name=name,
                    role=record.role,
                    sha256=record.sha256,
                    created=_ts(record.created),
                )
            )
        return record, key

    def list_keys(self, org: str | None = None, *, revoked: bool = False) -> list[AccessKey]:
        """Return the key records, oldest first."""
        query = sa.select(t.access_keys)
        if org is not None:
            query = query.where(t.access_keys.c.org == org)
        if not revoked:
            query = query.where(t.access_keys.c.revoked.is_(None))
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return sorted((self._record(row) for row in rows), key=lambda k: (k.created, k.org, k.name))

    def revoke_key(self, org: str, name: str, *, now: datetime | None = None) -> AccessKey:
        """Revoke *org*'s key *name*."""
        when = _now(now)
        with self._connect() as conn:
            self._bump(conn)
            rows = conn.execute(
                sa.update(t.access_keys)
                .where(t.access_keys.c.org == org, t.access_keys.c.name == name, t.access_keys.c.revoked.is_(None))
                .values(revoked=_ts(when))
                .returning(*t.access_keys.c)
            ).all()
            if not rows:
                raise NotFoundError(f"org {org!r} has no key named {name!r}", key="name")
        return self._record(rows[0])

    def import_keys(self, records: Iterable[AccessKey]) -> int:
        """Add *records*; return how many were new.

        A record already there is kept, except that a revocation in *records* is carried
        over (a key revoked in the old file since the last import is revoked here too;
        a key revoked here is never revived).
        """
        added = 0
        c = t.access_keys.c
        with self._connect() as conn:
            self._bump(conn)
            for record in records:
                if conn.execute(sa.select(c.id).where(c.id == record.id)).first():
                    if record.revoked is not None:
                        conn.execute(
                            sa.update(t.access_keys)
                            .where(c.id == record.id, c.revoked.is_(None))
                            .values(revoked=_ts(record.revoked))
                        )
                    continue
                conn.execute(
                    sa.insert(t.access_keys).values(
                        id=record.id,
                        org=record.org,
                        name=record.name,
                        role=record.role,
                        sha256=record.sha256,
                        created=_ts(record.created),
                        revoked=None if record.revoked is None else _ts(record.revoked),
                    )
                )
                added += 1
        return added

    def keys(self) -> KeyFile:
        """Return every key record by id."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(t.access_keys)).all()
        return KeyFile({row.id: self._record(row) for row in rows})

    def match_key(self, key: str) -> AccessKey | None:
        """Return the record *key* belongs to, or None (constant-time comparison)."""
        found = key_id(key) if len(key) <= MAX_KEY else None
        with self._connect() as conn:
            row = (
                None
                if found is None
                else conn.execute(sa.select(t.access_keys).where(t.access_keys.c.id == found)).first()
            )
        expected = row.sha256 if row is not None else "0" * 64
        return self._record(row) if hmac.compare_digest(hash_key(key), expected) and row is not None else None

    def touch_keys(self, used: Mapping[str, datetime]) -> None:
        """Record last-used times (later ones only)."""
        if not used:
            return
        column = t.access_keys.c.last_used
        with self._connect() as conn:
            for record_id, when in used.items():
                stamp = _ts(when)
                conn.execute(
                    sa.update(t.access_keys)
                    .where(t.access_keys.c.id == record_id, sa.or_(column.is_(None), column < stamp))
                    .values(last_used=stamp)
                )

    # -- failed authentications

    def _upsert_failure(self, subject: str, now: float, cutoff: float) -> sa.Executable:
        c = t.auth_failures.c
        values = {"count": sa.case((c.last_at < cutoff, 1), else_=c.count + 1), "last_at": now}
        if self._postgres:
            from sqlalchemy.dialects import postgresql  # noqa: PLC0415

            pg = postgresql.insert(t.auth_failures).values(subject=subject, count=1, last_at=now)
            return pg.on_conflict_do_update(index_elements=[c.subject], set_=values).returning(c.count)
        from sqlalchemy.dialects import sqlite  # noqa: PLC0415

        lite = sqlite.insert(t.auth_failures).values(subject=subject, count=1, last_at=now)
        return lite.on_conflict_do_update(index_elements=[c.subject], set_=values).returning(c.count)

    def record_failure(self, subjects: Sequence[str], *, window: float) -> int:
        """Count a failure against each of *subjects*; return the most any had before it."""
        now = time.time()
        cutoff = now - window
        c = t.auth_failures.c
        before = 0
        with self._connect() as conn:
            for subject in sorted({subject[:200] for subject in subjects}):  # one order for all: no deadlock
                count = conn.execute(self._upsert_failure(subject, now, cutoff)).scalar_one()
                before = max(before, int(count) - 1)
            if random.random() < 0.01:  # noqa: S311 - not security: an occasional sweep of old counts
                conn.execute(sa.delete(t.auth_failures).where(c.last_at < cutoff))
        return before

    def failures(self, subject: str, *, window: float) -> int:
        """Return *subject*'s failures within *window* of its last one."""
        c = t.auth_failures.c
        with self._connect() as conn:
            row = conn.execute(
                sa.select(c.count.label("failures"), c.last_at).where(c.subject == subject[:200])
            ).first()
        return 0 if row is None or row.last_at < time.time() - window else int(row.failures)

    # -- audit

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Store *events*."""
        if not events:
            return
        columns = _audit_columns()
        # Cut to the column (a request chooses some of these): PostgreSQL would refuse the
        # whole batch, which the state's thread would then retry first, for ever.
        rows: list[tuple[Any, ...]] = []
        for event in events:
            row: list[Any] = [_ts(event.time)]
            for name, length in columns:
                value = getattr(event, name)
                row.append(value[:length] if length and isinstance(value, str) else value)
            rows.append(tuple(row))
        with self._connect() as conn:
            # Straight to the driver (no per-row work of SQLAlchemy's): a batch is thousands of
            # rows, and the thread writing it shares the interpreter with the requests being
            # answered. PostgreSQL takes them by COPY, the cheapest for its server too.
            if self._postgres:
                raw: Any = conn.connection.driver_connection  # psycopg's, in this transaction
                names = ", ".join(["time", *(name for name, _ in columns)])
                try:
                    with (
                        raw.cursor() as cursor,
                        cursor.copy(f"COPY {t.audit_events.name} ({names}) FROM STDIN") as copy,
                    ):
                        for values in rows:
                            copy.write_row(values)
                except conn.dialect.loaded_dbapi.Error as exc:  # the driver's own: not wrapped by SQLAlchemy
                    reason = (str(exc).splitlines() or [""])[0]
                    raise StateUnavailableError(f"the state at {self.url} cannot be used: {reason}") from None
            else:
                conn.exec_driver_sql(_audit_insert(conn.dialect.paramstyle), rows)

    def prune_audit(self, before: datetime) -> int:
        """Delete the events older than *before*; return how many."""
        with self._connect() as conn:
            return int(conn.execute(sa.delete(t.audit_events).where(t.audit_events.c.time < _ts(before))).rowcount)

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
        """Return *org*'s events, newest first."""
        c = t.audit_events.c
        query = sa.select(t.audit_events).where(c.org == org)
        for column, value in ((c.app, app), (c.stage, stage), (c.outcome, outcome)):
            if value is not None:
                query = query.where(column == value)
        if key is not None:
            query = query.where(sa.or_(c.key == key, c.key_id == key))
        if before is not None:
            query = query.where(c.id < before)
        query = query.order_by(c.id.desc()).limit(max(1, min(int(limit), 1000)))
        with self._connect() as conn:
            result = conn.execute(query)
            names = list(result.keys())
            rows = result.all()
        events = []
        for row in rows:
            values: dict[str, Any] = dict(zip(names, row, strict=True))
            values["time"] = _dt(values["time"])
            events.append(AuditEvent(**values))
        return events

    # -- short-lived records

    def put_record(
        self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime, now: datetime | None = None
    ) -> None:
        """Keep the record until *expires* (an upsert); prune the records expired at *now* on the way."""
        check_record(kind, name)
        c = t.records.c
        row = {"kind": kind, "name": name, "value": json.dumps(dict(value)), "expires": _ts(expires)}
        with self._connect() as conn:
            conn.execute(self._upsert_record(row))
        # A transaction of its own: the upsert's row lock is never held while waiting on the sweep's.
        with self._connect() as conn:
            conn.execute(sa.delete(t.records).where(c.expires <= _ts(now or datetime.now(UTC))))

    def _upsert_record(self, row: Mapping[str, Any]) -> sa.Executable:
        c = t.records.c
        values = {"value": row["value"], "expires": row["expires"]}
        if self._postgres:
            from sqlalchemy.dialects import postgresql  # noqa: PLC0415

            return (
                postgresql.insert(t.records)
                .values(**row)
                .on_conflict_do_update(index_elements=[c.kind, c.name], set_=values)
            )
        from sqlalchemy.dialects import sqlite  # noqa: PLC0415

        return (
            sqlite.insert(t.records).values(**row).on_conflict_do_update(index_elements=[c.kind, c.name], set_=values)
        )

    def get_record(self, kind: str, name: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """Return the record's value while it lives."""
        c = t.records.c
        with self._connect() as conn:
            value = conn.execute(
                sa.select(c.value).where(c.kind == kind, c.name == name, c.expires > _ts(now or datetime.now(UTC)))
            ).scalar_one_or_none()
        if value is None:
            return None
        try:
            found = json.loads(value)
        except ValueError:  # not ours: as good as none (its text is never shown)
            return None
        return found if isinstance(found, dict) else None

    def delete_record(self, kind: str, name: str) -> None:
        """Forget the record."""
        c = t.records.c
        with self._connect() as conn:
            conn.execute(sa.delete(t.records).where(c.kind == kind, c.name == name))

    # -- profiles and links

    def dashboard(self) -> DashboardFile:
        """Return the profiles and links (from the dashboard file, when one manages them)."""
        if self._file is not None:
            result: DashboardFile = self._file.current()
            return result
        with self._connect() as conn:
            data = org_data(conn)
        return parse_dashboard_data(data, self.url)

    def profiles(self, org: str) -> list[DeploymentProfile]:
        """Return *org*'s deployment profiles."""
        return profiles_of(self.dashboard(), org)

    def links(self, org: str) -> list[LinkRecord]:
        """Return *org*'s links."""
        return links_of(self.dashboard(), org)

    def protected_stages(self, org: str, *, app: str | None = None) -> tuple[str, ...]:
        """Return the protected stages of *org* (or of *app*)."""
        return protected_of(self.dashboard(), org, app)

    @contextlib.contextmanager
    def _edit(self, org: str) -> Iterator[Edits]:
        if self.managed_by_file is not None:
            raise ManagedByFileError(
                f"profiles and links are managed by the dashboard file {self.managed_by_file}: "
                "edit it (and commit it) instead",
                key="dashboard",
            )
        with self._connect() as conn:
            self._bump(conn)
            edits = Edits(org_data(conn, org), org)
            yield edits
            write_org(conn, org, edits.data["orgs"][org])

    def put_profile(self, org: str, name: str, fields: Mapping[str, object]) -> DeploymentProfile:
        """Create or replace a deployment profile."""
        with self._edit(org) as edits:
            return edits.put_profile(name, fields)

    def delete_profile(self, org: str, name: str) -> None:
        """Delete a deployment profile."""
        with self._edit(org) as edits:
            edits.delete_profile(name)

    def put_link(
        self,
        org: str,
        deployment_profile: str,
        *,
        app: str | None = None,
        stage: str | None = None,
        region: str | None = None,
    ) -> LinkRecord:
        """Link a deployment profile."""
        with self._edit(org) as edits:
            return edits.put_link(deployment_profile, app=app, stage=stage, region=region)

    def delete_link(
        self, org: str, *, app: str | None = None, stage: str | None = None, region: str | None = None
    ) -> None:
        """Remove a link."""
        with self._edit(org) as edits:
            edits.delete_link(app=app, stage=stage, region=region)

    def set_protected_stages(self, org: str, stages: Sequence[str], *, app: str | None = None) -> None:
        """Replace protected stages."""
        with self._edit(org) as edits:
            edits.set_protected(stages, app=app)

    def replace_dashboard(self, dashboard: DashboardFile) -> None:
        """Replace every org of *dashboard* with its own profiles and links."""
        if self.managed_by_file is not None:
            raise ManagedByFileError(
                f"profiles and links are managed by the dashboard file {self.managed_by_file}", key="dashboard"
            )
        data = dashboard.to_data()
        with self._connect() as conn:
            self._bump(conn)
            for org, body in data["orgs"].items():
                write_org(conn, org, body)
