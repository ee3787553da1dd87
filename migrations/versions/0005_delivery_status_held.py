"""delivery.status 'held': the mails of a digest the sender stopped, until an admin resumes it

Only the CHECK constraint of delivery.status changes (newsletter.delivery.holds). PostgreSQL
swaps the constraint; SQLite cannot alter one, so there the table is rebuilt as 0001/0002
left it, given rather than reflected (reflection would lose the CHECK constraints and the
open-rows index's WHERE). A downgrade queues the held mails again first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_STATUSES = ('queued', 'sending', 'sent', 'retrying', 'failed', 'cancelled')
_CONSTRAINT = 'ck_delivery_deliverystatus'


def upgrade():
    _allow(_STATUSES + ('held',))


def downgrade():
    op.execute("UPDATE delivery SET status = 'queued' WHERE status = 'held'")
    _allow(_STATUSES)


def _allow(statuses):
    check = 'status IN ({})'.format(', '.join(f"'{status}'" for status in statuses))
    if op.get_bind().dialect.name != 'sqlite':
        op.execute(f'ALTER TABLE delivery DROP CONSTRAINT {_CONSTRAINT}')
        op.execute(f'ALTER TABLE delivery ADD CONSTRAINT {_CONSTRAINT} CHECK ({check})')
        return
    metadata = sa.MetaData()
    sa.Table('subscriber', metadata, sa.Column('id', sa.Integer(), primary_key=True))
    sa.Table('digest', metadata, sa.Column('id', sa.Integer(), primary_key=True))
    open_rows = sa.text("status IN ('queued', 'retrying', 'sending')")
    delivery = sa.Table('delivery', metadata,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=True),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_reply', sa.String(length=512), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('sent_text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['digest_id'], ['digest.id'], name='fk_delivery_digest_id_digest'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name='fk_delivery_subscriber_id_subscriber'),
    sa.PrimaryKeyConstraint('id', name='pk_delivery'),
    sa.UniqueConstraint('digest_id', 'subscriber_id', name='uq_delivery_digest_id_subscriber_id'),
    sa.CheckConstraint("kind IN ('confirm', 'digest', 'digest-test', 'preferences-link')", name='ck_delivery_mailkind'),
    sa.CheckConstraint(check, name=_CONSTRAINT),
    sa.Index('ix_delivery_open', 'id', 'next_attempt_at', sqlite_where=open_rows),
    sa.Index('ix_delivery_subscriber_id', 'subscriber_id'),
    )
    with op.batch_alter_table('delivery', recreate='always', copy_from=delivery):
        pass
