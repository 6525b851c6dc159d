"""The service's state behind one typed seam: the :class:`Store` protocol and its values.

A store holds what the dashboard service knows beyond its own process: access keys (only
their SHA-256), failed-authentication counts (one throttle for every worker and replica),
audit events, short-lived records of the admin side (web UI sessions, pending "Connect
AWS" checks: :meth:`Store.put_record`), and the deployment profiles and links (unless a dashboard file is their
source of truth: then :attr:`Store.managed_by_file` names it and every edit raises
:class:`ManagedByFileError`).

Implementations: :class:`~sls_access.service.store.files.FileStore` (the JSON key file
and the dashboard file of earlier releases) and
:class:`~sls_access.service.store.sql.SqlStore` (SQLite or PostgreSQL through SQLAlchemy
Core, schema by Alembic migrations). :func:`~sls_access.service.store.url.open_store` picks
one from a ``--state`` URL.

Every method blocks (a file or a database round trip): the service calls them from
threads, never on its event loop, and serves requests from a per-worker in-memory
snapshot (:mod:`sls_access.service.store.snapshot`) that :meth:`Store.wait_for_change`
keeps fresh. Errors: :class:`~sls_access.ConfigError` for a value the dashboard file's
parser would refuse (its ``key`` names the field), :class:`NotFoundError`,
:class:`ConflictError`, :class:`ManagedByFileError`, and :class:`StateUnavailableError`
when the state cannot be read or written at all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from sls_access.dashboard.file import DashboardFile
from sls_access.dashboard.model import DeploymentProfile, LinkLevel
from sls_access.errors import ConfigError, SlsAccessError
from sls_access.service.keys import AccessKey, KeyFile

__all__ = [
    "AUDIT_FIELDS",
    "PROFILE_FIELDS",
    "AccessKey",
    "AuditEvent",
    "ConflictError",
    "KeyFile",
    "LinkRecord",
    "ManagedByFileError",
    "NotFoundError",
    "Role",
    "StateUnavailableError",
    "Store",
    "check_record",
]

PROFILE_FIELDS = ("role_arn", "external_id", "duration_seconds", "region", "account_id", "sessions")
"""The fields of a deployment profile, as the dashboard file spells them (``role_arn`` required)."""


RECORD_KIND_MAX, RECORD_NAME_MAX = 32, 320
"""The longest kind and name of a short-lived record (:meth:`Store.put_record`)."""


def check_record(kind: str, name: str) -> None:
    """Refuse a record's *kind* or *name* longer than a store holds (ValueError; neither is shown)."""
    if not 0 < len(kind) <= RECORD_KIND_MAX or not 0 < len(name) <= RECORD_NAME_MAX:
        raise ValueError(f"a record's kind is 1..{RECORD_KIND_MAX} characters and its name 1..{RECORD_NAME_MAX}")


class Role(enum.StrEnum):
    """What an access key may do: vend credentials (``deploy``) or use the admin API and UI (``admin``).

    An admin key vends nothing; a deploy key gets ``403`` on every admin route.
    """

    DEPLOY = "deploy"
    ADMIN = "admin"


class StateUnavailableError(SlsAccessError):
    """The state cannot be read or written now (the database is down, the file unreadable).

    The service answers ``503 state_unavailable``; never a guess from older data for
    longer than ``--state-max-stale``.
    """

    code = "state_unavailable"


class ManagedByFileError(ConfigError):
    """An edit of profiles or links while a dashboard file is their source of truth (``409 managed_by_file``)."""

    code = "managed_by_file"


class NotFoundError(ConfigError):
    """The key, deployment profile or link named does not exist (``404 not_found``); ``key`` names what."""

    code = "not_found"


class ConflictError(ConfigError):
    """The edit clashes with what is there (``409 conflict``).

    E.g. a key name in use in the org, or a deployment profile that links still use.
    """

    code = "conflict"


@attrs.frozen(kw_only=True)
class LinkRecord:
    """One link: the deployment profile linked at org, app, stage or stage + region level.

    *app*, *stage* and *region* are None above the link's level (an org link has none).
    """

    org: str
    deployment_profile: str
    app: str | None = None
    stage: str | None = None
    region: str | None = None

    @property
    def level(self) -> LinkLevel:
        """The link's level."""
        if self.region is not None:
            return LinkLevel.STAGE_REGION
        if self.stage is not None:
            return LinkLevel.STAGE
        return LinkLevel.APP if self.app is not None else LinkLevel.ORG

    def to_json(self) -> dict[str, str | None]:
        """Return the link as the admin API shows it."""
        return {
            "org": self.org,
            "app": self.app,
            "stage": self.stage,
            "region": self.region,
            "level": self.level.value,
            "deployment_profile": self.deployment_profile,
        }


AUDIT_FIELDS = (
    "time",
    "client",
    "method",
    "path",
    "status",
    "outcome",
    "org",
    "app",
    "stage",
    "region",
    "key",
    "key_id",
    "role",
    "aws_key_id",
    "session",
    "source_identity",
    "ms",
)


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One request's audit record: the audit line's fields (never an access key or an AWS secret).

    :ivar id: the store's sequence number (None before it is stored); newer events have
        larger ids.
    :ivar time: when the answer was made (aware, UTC).
    """

    time: datetime
    client: str
    method: str
    path: str
    status: int
    outcome: str
    ms: float
    org: str | None = None
    app: str | None = None
    stage: str | None = None
    region: str | None = None
    key: str | None = None
    key_id: str | None = None
    role: str | None = None
    aws_key_id: str | None = None
    session: str | None = None
    source_identity: str | None = None
    id: int | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], time: datetime) -> AuditEvent:
        """Return the event of an audit line's *fields* (unknown fields are ignored)."""
        values: dict[str, Any] = {name: fields.get(name) for name in AUDIT_FIELDS if name != "time"}
        return cls(time=time, **values)

    def to_json(self) -> dict[str, Any]:
        """Return the event as the admin API shows it (the audit line's fields, ``time`` in ISO 8601)."""
        body = {name: getattr(self, name) for name in AUDIT_FIELDS}
        body["time"] = self.time.isoformat(timespec="milliseconds")
        body["id"] = self.id
        return body


@runtime_checkable
class Store(Protocol):
    """Where the dashboard service keeps its state; see the module docstring.

    :ivar url: where the state is, without a password (for logs and messages).
    :ivar managed_by_file: the dashboard file that is the source of truth for profiles and
        links, or None when the store holds them itself.
    """

    url: str
    managed_by_file: str | None

    @property
    def read_only(self) -> bool:
        """Whether profiles and links are read-only here (:attr:`managed_by_file` is set)."""
        ...

    # -- change notification -------------------------------------------------------------

    def version(self) -> int:
        """Return the state's change counter: it grows with every change of keys, profiles or links.

        With a dashboard file (:attr:`managed_by_file`) an edit of the file changes it too
        (not necessarily upward). Failure counts, audit events and last-used times do not
        change it.

        :raises StateUnavailableError: the state cannot be read.
        """
        ...

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Wait until :meth:`version` differs from *since*, or *timeout* seconds; return the version.

        Wakes early on a change notification where the backend has one (PostgreSQL
        ``LISTEN``); polls otherwise. Each return is a fresh read of the state (what the
        fail-closed staleness clock counts).

        :raises StateUnavailableError: the state cannot be read.
        """
        ...

    def close(self) -> None:
        """Release connections and threads (the store cannot be used after)."""
        ...

    # -- access keys ---------------------------------------------------------------------

    def create_key(
        self, org: str, name: str, *, role: Role = Role.DEPLOY, now: datetime | None = None
    ) -> tuple[AccessKey, str]:
        """Create a key for *org* named *name*; return its record and the key (shown once, never stored).

        :raises ConfigError: a bad org or key name (``key`` is ``"org"`` or ``"name"``).
        :raises ConflictError: *org* has an unrevoked key named *name*.
        """
        ...

    def list_keys(self, org: str | None = None, *, revoked: bool = False) -> list[AccessKey]:
        """Return the key records (never a key; the hash is kept out of repr and JSON), oldest first.

        Only *org*'s when given; the revoked ones too with *revoked*.
        """
        ...

    def revoke_key(self, org: str, name: str, *, now: datetime | None = None) -> AccessKey:
        """Revoke *org*'s key *name*; every worker refuses it within a second.

        :raises NotFoundError: no unrevoked key of that name.
        """
        ...

    def import_keys(self, records: Iterable[AccessKey]) -> int:
        """Add *records* (from an old key file); return how many were new (same id: kept, a revocation carried over)."""
        ...

    def keys(self) -> KeyFile:
        """Return every key record, revoked ones included, by id (what a worker's snapshot holds)."""
        ...

    def match_key(self, key: str) -> AccessKey | None:
        """Return the record *key* belongs to (revoked or not), or None; compared in constant time."""
        ...

    def touch_keys(self, used: Mapping[str, datetime]) -> None:
        """Record when keys were last used (key id -> time; later times only). Does not change :meth:`version`."""
        ...

    # -- failed authentications (one throttle for every worker and replica) ---------------

    def record_failure(self, subjects: Sequence[str], *, window: float) -> int:
        """Count one failed authentication against each of *subjects*; return the most any had before it.

        A subject's count restarts when its last failure is more than *window* seconds
        old. Shared by every worker and replica on the state.
        """
        ...

    def failures(self, subject: str, *, window: float) -> int:
        """Return *subject*'s failures within *window* seconds of its last one (0 when older)."""
        ...

    # -- audit ---------------------------------------------------------------------------

    def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Store *events* (the service batches them; the stdout line is written per request regardless)."""
        ...

    def prune_audit(self, before: datetime) -> int:
        """Delete the events older than *before*; return how many (``serve --audit-days``)."""
        ...

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
        """Return *org*'s events, newest first, at most *limit* (1..1000).

        :param key: a key's name or its id.
        :param before: only events with an id below it (the next page).
        """
        ...

    # -- short-lived records (web UI sessions, pending "Connect AWS" checks) --------------

    def put_record(
        self, kind: str, name: str, value: Mapping[str, Any], *, expires: datetime, now: datetime | None = None
    ) -> None:
        """Keep *value* (JSON-able) as record (*kind*, *name*) until *expires*, replacing one there.

        Shared by every worker and replica on the state (a SQL state; the files of earlier
        releases keep them in a file beside the key file, for one host). Records already
        expired at *now* (default: the clock) may be pruned on the way. Does not change
        :meth:`version`. A value is never logged.

        :raises ValueError: an empty *kind* or *name*, or one longer than :func:`check_record` allows.
        """
        ...

    def get_record(self, kind: str, name: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """Return the record's value, or None when there is none or it has expired at *now* (default: the clock)."""
        ...

    def delete_record(self, kind: str, name: str) -> None:
        """Forget the record, if any."""
        ...

    # -- deployment profiles and links ---------------------------------------------------

    def dashboard(self) -> DashboardFile:
        """Return the profiles and links as one parsed dashboard (validated as the file's parser does)."""
        ...

    def profiles(self, org: str) -> list[DeploymentProfile]:
        """Return *org*'s deployment profiles, by name."""
        ...

    def links(self, org: str) -> list[LinkRecord]:
        """Return *org*'s links: org level first, then by app, stage and region."""
        ...

    def protected_stages(self, org: str, *, app: str | None = None) -> tuple[str, ...]:
        """Return the stages protected at *org* level, or in *app* when given."""
        ...

    def put_profile(self, org: str, name: str, fields: Mapping[str, object]) -> DeploymentProfile:
        """Create or replace *org*'s deployment profile *name* from the dashboard file's *fields*.

        :raises ConfigError: a field the dashboard file's parser would refuse (``key`` is
            the field's name, e.g. ``"role_arn"``), an unknown field, a bad name.
        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...

    def delete_profile(self, org: str, name: str) -> None:
        """Delete *org*'s deployment profile *name*.

        :raises NotFoundError: no such profile.
        :raises ConflictError: links still use it.
        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...

    def put_link(
        self,
        org: str,
        deployment_profile: str,
        *,
        app: str | None = None,
        stage: str | None = None,
        region: str | None = None,
    ) -> LinkRecord:
        """Link *deployment_profile* at org, app, stage or stage + region level (replacing a link there).

        A region needs a stage, a stage needs an app.

        :raises ConfigError: a bad name or region, or an undefined profile (``key`` names it).
        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...

    def delete_link(
        self, org: str, *, app: str | None = None, stage: str | None = None, region: str | None = None
    ) -> None:
        """Remove the link at that level.

        :raises NotFoundError: no link there.
        :raises ConfigError: the stage is protected and this is its last own link.
        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...

    def set_protected_stages(self, org: str, stages: Sequence[str], *, app: str | None = None) -> None:
        """Replace the protected stages of *org* (or of *app*); an app's need a link of their own.

        :raises ConfigError: a bad stage name, or an app's protected stage without a link.
        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...

    def replace_dashboard(self, dashboard: DashboardFile) -> None:
        """Replace the profiles, links and protected stages of every org in *dashboard* with its own.

        Orgs not in *dashboard* are kept. What ``sls-access dashboard import`` does.

        :raises ManagedByFileError: a dashboard file is the source of truth.
        """
        ...
