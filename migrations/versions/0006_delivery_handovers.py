"""delivery.handovers: how often a mail may have reached the relay

Counted before each final dot and taken back when the relay refused the mail (newsletter.delivery
.sender), so a mail handed over twice (a sender died with it in flight) shows it. Existing rows
start at 0: what happened to them before is not known.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on SQLite too: a batch rebuild would reflect the table and lose its
    # CHECK constraints and the open-rows index's WHERE (see 0005).
    op.add_column('delivery', sa.Column('handovers', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('delivery', 'handovers')
