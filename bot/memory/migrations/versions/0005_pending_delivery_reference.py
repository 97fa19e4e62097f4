"""Pending deliveries keep what a platform needs to answer later.

As JSON (Teams: the conversation reference); Slack rows need none: '' for the rows already there.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "reference" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pendingdelivery")}:
        return  # added by the steps before migrations
    op.add_column("pendingdelivery", sa.Column("reference", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("pendingdelivery") as batch:
        batch.drop_column("reference")
