"""delivery: the claim's two indexes, waiting rows by due time and leased rows by lease end

ix_delivery_open held every queued, retrying and sending row, and the claim's condition
(waiting and due, or sending with its lease run out) let PostgreSQL fall back to a bitmap scan
of ix_delivery_status_next_attempt that read every due row and every row a sender still held,
dead index entries included, to sort them and keep 500: 24 ms per claim halfway through a
100k digest, on the sender's event loop. Now each half of the condition has a partial index
that yields its rows in the order the claim takes them (waiting rows by when they are due,
then by id; abandoned ones by when their lease ran out), so a claim reads little more than
it takes (bench/README.md, session 7).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 03:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('queued', 'retrying', 'sending')")
_WAITING = sa.text("status IN ('queued', 'retrying')")
_LEASED = sa.text("status = 'sending'")


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_waiting', ['next_attempt_at', 'id'], unique=False,
                              postgresql_where=_WAITING, sqlite_where=_WAITING)
        batch_op.create_index('ix_delivery_leased', ['lease_expires_at'], unique=False,
                              postgresql_where=_LEASED, sqlite_where=_LEASED)
        batch_op.drop_index('ix_delivery_open', postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_open', ['id', 'next_attempt_at'], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.drop_index('ix_delivery_leased', postgresql_where=_LEASED, sqlite_where=_LEASED)
        batch_op.drop_index('ix_delivery_waiting', postgresql_where=_WAITING, sqlite_where=_WAITING)
