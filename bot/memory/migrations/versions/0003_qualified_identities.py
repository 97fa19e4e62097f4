"""Identities are (platform, tenant, user): messages, decisions and votes carry the platform and tenant.

Existing rows get them from their conversation (a message's author and a decision's asker are on the platform
and in the tenant of their conversation) or, for a vote, from its decision. A database upgraded by the
hand-written steps that preceded Alembic may hold some of these columns already: those are left as they are.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FROM_CONVERSATION = ("UPDATE {table} SET {column} = COALESCE((SELECT c.{column} FROM conversation c "
                      "WHERE c.id = {table}.conversation_id), '') WHERE {table}.conversation_id IS NOT NULL")
_FROM_DECISION = ("UPDATE feedback SET {column} = COALESCE((SELECT d.{column} FROM decision d "
                  "WHERE d.id = feedback.decision_id), '')")

# (table, column, length, backfill), in the order the steps before Alembic added them
COLUMNS = (
    ("message", "platform", 32, _FROM_CONVERSATION),
    ("message", "tenant", 128, _FROM_CONVERSATION),
    ("decision", "tenant", 128, _FROM_CONVERSATION),
    ("feedback", "platform", 32, _FROM_DECISION),
    ("feedback", "tenant", 128, _FROM_DECISION),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, column, length, backfill in COLUMNS:
        if column in {c["name"] for c in inspector.get_columns(table)}:
            continue
        # NOT NULL needs a value for the existing rows: '' until the backfill sets the real one
        op.add_column(table, sa.Column(column, sa.String(length=length), nullable=False, server_default=""))
        op.execute(backfill.format(table=table, column=column))


def downgrade() -> None:
    for table, column, _length, _backfill in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
