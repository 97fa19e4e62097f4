"""Decision records name every model a request was sent to, and the privacy action taken.

`attempts`: JSON list of the calls in order (model, region, role, calls, answered); '' for rows written
before, where only `model` is known. `privacy_action`: allow | pin | pseudonymise | block, '' before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decision", sa.Column("privacy_action", sa.String(length=16), nullable=False, server_default=""))
    op.add_column("decision", sa.Column("attempts", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("attempts")
        batch.drop_column("privacy_action")
