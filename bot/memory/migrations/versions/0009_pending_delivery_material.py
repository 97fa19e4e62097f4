"""Pending deliveries keep what the message carried besides its text: the people it mentions and its files.

An answer resumed after a crash counts the mentioned people as personal data and reads the files (before,
it saw the text alone). JSON, encrypted at rest with a key; '' for the rows already there.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pendingdelivery", sa.Column("material", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("pendingdelivery") as batch:
        batch.drop_column("material")
