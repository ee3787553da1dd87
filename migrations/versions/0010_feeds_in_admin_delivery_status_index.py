"""feed.added_at, removed_at, poll_requested_at; index delivery (status, next_attempt_at)

Issue 19: feeds an admin adds, removes and asks to poll now (the worker does the polling),
and /healthz and /metrics counting mails per status from an index alone. Existing feeds
(from FEED_URLS) start with none of the three times: they go on being polled as configured.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FEED_TIMES = ('added_at', 'removed_at', 'poll_requested_at')


def upgrade():
    for name in FEED_TIMES:  # plain ADD COLUMNs: no batch rebuild on SQLite (see 0009)
        op.add_column('feed', sa.Column(name, sa.DateTime(), nullable=True))
    op.create_index('ix_delivery_status_next_attempt', 'delivery', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    op.drop_index('ix_delivery_status_next_attempt', table_name='delivery')
    with op.batch_alter_table('feed') as batch_op:
        for name in reversed(FEED_TIMES):
            batch_op.drop_column(name)
