"""The first schema: keys, failure counts, audit events, orgs, profiles, links, protected stages.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables and the one row of the change counter."""
    state = op.create_table(
        "state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "version": 1}])
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("org", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("revoked", sa.Float, nullable=True),
        sa.Column("last_used", sa.Float, nullable=True),
    )
    op.create_index("access_keys_org_name", "access_keys", ["org", "name"])
    op.create_table(
        "auth_failures",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
    )
    op.create_table(
        "audit_events",
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
    op.create_index("audit_events_org_id", "audit_events", ["org", "id"])
    op.create_table("orgs", sa.Column("name", sa.String(128), primary_key=True))
    op.create_table(
        "profiles",
        sa.Column("org", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("role_arn", sa.String(2048), nullable=False),
        sa.Column("external_id", sa.String(1224)),
        sa.Column("duration_seconds", sa.Integer),
        sa.Column("region", sa.String(32)),
        sa.Column("account_id", sa.String(12)),
        sa.Column("sessions", sa.String(16)),
    )
    op.create_table(
        "links",
        sa.Column("org", sa.String(128), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(128), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("deployment_profile", sa.String(128), nullable=False),
    )
    op.create_table(
        "protected_stages",
        sa.Column("org", sa.String(128), primary_key=True),
        sa.Column("app", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(128), primary_key=True),
    )


def downgrade() -> None:
    """Drop everything."""
    for table in (
        "protected_stages",
        "links",
        "profiles",
        "orgs",
        "audit_events",
        "auth_failures",
        "access_keys",
        "state",
    ):
        op.drop_table(table)
