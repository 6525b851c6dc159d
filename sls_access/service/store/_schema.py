"""The state's tables, as SQLAlchemy Core sees them (the migrations create them; keep both in step).

Times are seconds since the epoch (a float): the same in SQLite and PostgreSQL, and
compared across replicas. A link or protected stage above stage level stores ``""`` for
the levels it does not name (a primary key column cannot be NULL).
"""

from __future__ import annotations

import sqlalchemy as sa

from sls_access.service.store.base import RECORD_KIND_MAX, RECORD_NAME_MAX

__all__ = [
    "METADATA",
    "access_keys",
    "audit_events",
    "auth_failures",
    "links",
    "orgs",
    "profiles",
    "protected_stages",
    "records",
    "state",
]

METADATA = sa.MetaData()

state = sa.Table(
    "state",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

access_keys = sa.Table(
    "access_keys",
    METADATA,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("org", sa.String(128), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("revoked", sa.Float, nullable=True),
    sa.Column("last_used", sa.Float, nullable=True),
)

auth_failures = sa.Table(
    "auth_failures",
    METADATA,
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.String(256), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("org", sa.String(128)),
    sa.Column("app", sa.String(128)),
    sa.Column("stage", sa.String(128)),
    sa.Column("region", sa.String(32)),
    sa.Column("key", sa.String(64)),
    sa.Column("key_id", sa.String(12)),
    sa.Column("role", sa.String(2048)),
    sa.Column("aws_key_id", sa.String(128)),
    sa.Column("session", sa.String(64)),
    sa.Column("source_identity", sa.String(64)),
    sa.Column("ms", sa.Float, nullable=False),
)

orgs = sa.Table(
    "orgs",
    METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
)

profiles = sa.Table(
    "profiles",
    METADATA,
    sa.Column("org", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role_arn", sa.String(2048), nullable=False),
    sa.Column("external_id", sa.String(1224)),
    sa.Column("duration_seconds", sa.Integer),
    sa.Column("region", sa.String(32)),
    sa.Column("account_id", sa.String(12)),
    sa.Column("sessions", sa.String(16)),
)

links = sa.Table(
    "links",
    METADATA,
    sa.Column("org", sa.String(128), primary_key=True),
    sa.Column("app", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(128), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("deployment_profile", sa.String(128), nullable=False),
)

protected_stages = sa.Table(
    "protected_stages",
    METADATA,
    sa.Column("org", sa.String(128), primary_key=True),
    sa.Column("app", sa.String(128), primary_key=True),
    sa.Column("stage", sa.String(128), primary_key=True),
)

records = sa.Table(
    "records",
    METADATA,
    sa.Column("kind", sa.String(RECORD_KIND_MAX), primary_key=True),
    sa.Column("name", sa.String(RECORD_NAME_MAX), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
)
"""Short-lived records of the admin side (UI sessions by their token's SHA-256, pending connects)."""
