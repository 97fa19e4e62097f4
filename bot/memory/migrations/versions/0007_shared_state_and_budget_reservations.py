"""State the replicas share, and budget reservations (new tables only, nothing existing changes).

`modelcooldown` (a cooling model for every replica), `modelwindow` (each replica's live statistics per
model), `pseudonymentry` (the pseudonym vault; `value` holds personal data, encrypted at rest like message
texts), `budgetusage` (spent and reserved per user or team and month) and `budgetreservation` (an estimate
held while a request runs). See bot/shared_state.py and routing/budget.py.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('budgetusage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('spent_usd', sa.Float(), nullable=False),
    sa.Column('reserved_usd', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope', 'key', 'month')
    )
    op.create_table('modelcooldown',
    sa.Column('model', sa.String(length=255), nullable=False),
    sa.Column('until', sa.Float(), nullable=False),
    sa.Column('strikes', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('modelwindow',
    sa.Column('replica', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=255), nullable=False),
    sa.Column('published_at', sa.Float(), nullable=False),
    sa.Column('in_flight', sa.Integer(), nullable=False),
    sa.Column('outcomes', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('replica', 'model')
    )
    with op.batch_alter_table('modelwindow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_modelwindow_published_at'), ['published_at'], unique=False)

    op.create_table('pseudonymentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('conversation', sa.String(length=400), nullable=False),
    sa.Column('placeholder', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'conversation', 'placeholder')
    )
    with op.batch_alter_table('pseudonymentry', schema=None) as batch_op:
        batch_op.create_index('ix_pseudonymentry_conversation', ['tenant', 'conversation'], unique=False)
        batch_op.create_index(batch_op.f('ix_pseudonymentry_expires_at'), ['expires_at'], unique=False)

    op.create_table('budgetreservation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('usage_id', sa.Integer(), nullable=False),
    sa.Column('amount_usd', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['usage_id'], ['budgetusage.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('budgetreservation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budgetreservation_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_budgetreservation_token'), ['token'], unique=False)
        batch_op.create_index(batch_op.f('ix_budgetreservation_usage_id'), ['usage_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('budgetreservation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_budgetreservation_usage_id'))
        batch_op.drop_index(batch_op.f('ix_budgetreservation_token'))
        batch_op.drop_index(batch_op.f('ix_budgetreservation_expires_at'))

    op.drop_table('budgetreservation')
    with op.batch_alter_table('pseudonymentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pseudonymentry_expires_at'))
        batch_op.drop_index('ix_pseudonymentry_conversation')

    op.drop_table('pseudonymentry')
    with op.batch_alter_table('modelwindow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_modelwindow_published_at'))

    op.drop_table('modelwindow')
    op.drop_table('modelcooldown')
    op.drop_table('budgetusage')
