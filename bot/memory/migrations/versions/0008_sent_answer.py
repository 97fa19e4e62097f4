"""Where an answer was posted on its platform → its decision record (`sentanswer`).

Teams' own feedback buttons name only the activity voted on (`replyToId`); any replica may receive the vote,
so the Teams activity id → decision id mapping is a table (it was one process's memory). Unique per
(platform, tenant, message_ref); `tenant` is the decision's.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sentanswer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("message_ref", sa.String(length=255), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decision.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "tenant", "message_ref"),
    )
    with op.batch_alter_table("sentanswer") as batch:
        batch.create_index(batch.f("ix_sentanswer_created_at"), ["created_at"], unique=False)
        batch.create_index(batch.f("ix_sentanswer_decision_id"), ["decision_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sentanswer") as batch:
        batch.drop_index(batch.f("ix_sentanswer_decision_id"))
        batch.drop_index(batch.f("ix_sentanswer_created_at"))
    op.drop_table("sentanswer")
