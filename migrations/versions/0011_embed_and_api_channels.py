"""consent channels 'embed' and 'api', address_request.source_url (SPEC §8)

Sign-ups from the publisher's pages (widget, iframe, plain form) and from the public API
record their own channel and the page the reader was on. Only the CHECK constraints of the two
channel columns change, and address_request gains a column. PostgreSQL swaps the constraints;
SQLite cannot alter one, so there both tables are rebuilt as 0008 left them (0009 and 0010 did not touch them), given rather than
reflected (reflection would lose the CHECK constraints, and consent_event's AUTOINCREMENT is
passed again); address_request's CHECK then names 'complaint' too, as the model does. A downgrade files the new channels under 'form'.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_CHANNELS = ('form', 'link', 'one-click', 'admin', 'import', 'retention', 'complaint')
_NEW = ('embed', 'api')


def upgrade():
    _allow(_CHANNELS + _NEW, source_url=True)


def downgrade():
    for table in ('consent_event', 'address_request'):
        op.execute(f"UPDATE {table} SET channel = 'form' WHERE channel IN ('embed', 'api')")
    _allow(_CHANNELS, source_url=False)


def _check(channels):
    return 'channel IN ({})'.format(', '.join(f"'{channel}'" for channel in channels))


def _allow(channels, *, source_url):
    if op.get_bind().dialect.name != 'sqlite':
        for table in ('consent_event', 'address_request'):
            op.execute(f'ALTER TABLE {table} DROP CONSTRAINT ck_{table}_consentchannel')
            op.execute(f'ALTER TABLE {table} ADD CONSTRAINT ck_{table}_consentchannel CHECK ({_check(channels)})')
        if source_url:
            op.add_column('address_request', sa.Column('source_url', sa.String(length=2048), nullable=True))
        else:
            op.drop_column('address_request', 'source_url')
        return
    metadata = sa.MetaData()
    sa.Table('subscriber', metadata, sa.Column('id', sa.Integer(), primary_key=True))
    sa.Table('consent_text', metadata, sa.Column('id', sa.Integer(), primary_key=True))
    consent_event = sa.Table('consent_event', metadata,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('consent_text_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('personal_salt', sa.String(length=32), nullable=True),
    sa.Column('personal_digest', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['consent_text_id'], ['consent_text.id'], name='fk_consent_event_consent_text_id_consent_text'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name='fk_consent_event_subscriber_id_subscriber'),
    sa.PrimaryKeyConstraint('id', name='pk_consent_event'),
    sa.CheckConstraint("type IN ('requested', 'confirmed', 'withdrawn', 'erased', 'imported')", name='ck_consent_event_consenteventtype'),
    sa.CheckConstraint(_check(channels), name='ck_consent_event_consentchannel'),
    sa.Index('ix_consent_event_subscriber_id', 'subscriber_id'),
    )
    with op.batch_alter_table(
        'consent_event', recreate='always', copy_from=consent_event, table_kwargs={'sqlite_autoincrement': True}
    ):
        pass
    address_request = sa.Table('address_request', metadata,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('consent_text_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    *([sa.Column('source_url', sa.String(length=2048), nullable=True)] if not source_url else []),
    sa.ForeignKeyConstraint(['consent_text_id'], ['consent_text.id'], name='fk_address_request_consent_text_id_consent_text'),
    sa.PrimaryKeyConstraint('id', name='pk_address_request'),
    sa.CheckConstraint("kind IN ('sign-up', 'preferences-link')", name='ck_address_request_addressrequestkind'),
    sa.CheckConstraint(_check(channels), name='ck_address_request_consentchannel'),
    )
    with op.batch_alter_table('address_request', recreate='always', copy_from=address_request) as batch:
        if source_url:
            batch.add_column(sa.Column('source_url', sa.String(length=2048), nullable=True))
        else:
            batch.drop_column('source_url')
