"""Accepted messages tracked until their answer is posted (`bot.recovery`).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("pendingdelivery"):  # created by a release before migrations
        return
    op.create_table("pendingdelivery",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("thread", sa.String(length=128), nullable=False),
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("placeholder", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("message_id")
    )
    op.create_index(op.f("ix_pendingdelivery_lease_until"), "pendingdelivery", ["lease_until"], unique=False)
    op.create_index(op.f("ix_pendingdelivery_state"), "pendingdelivery", ["state"], unique=False)


def downgrade() -> None:
    op.drop_table("pendingdelivery")
