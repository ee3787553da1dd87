"""drop ix_delivery_digest_id: the unique (digest_id, subscriber_id) index starts with the column

Every delivery row is updated twice while it is sent (claim, outcome), each time in every
index of the table; one index fewer is less work per mail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:45:00

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_digest_id'))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_digest_id'), ['digest_id'], unique=False)
