"""Short-lived records of the admin side (UI sessions, pending "Connect AWS" checks) in the state.

They were a JSON file per host, so a sign-in or a connect started on one replica was
unknown to the others behind a load balancer that is not sticky.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the records table and its index on the expiry (what pruning reads)."""
    op.create_table(
        "records",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(320), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_index("ix_records_expires", "records", ["expires"])


def downgrade() -> None:
    """Drop the records (sessions end; pending connects are started again)."""
    op.drop_index("ix_records_expires", table_name="records")
    op.drop_table("records")
