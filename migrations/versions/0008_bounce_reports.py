"""bounce_report, bounce_event; consent channel 'complaint'

- bounce_report: each report the bounce listener accepted (DSN, ARF, anything else), stored
  before its 250 and processed in a step of its own (newsletter.bounce_reports).
- bounce_event: each bounce or complaint charged to a subscriber, at send time or from a report.
- consent_event.channel (and address_request.channel, same enum) may be 'complaint': an ARF
  complaint withdraws the subscriber. PostgreSQL swaps the CHECK constraints; SQLite cannot
  alter one, so there consent_event is rebuilt as 0003 left it (AUTOINCREMENT kept), given
  rather than reflected. address_request never holds 'complaint' (a complaint is no request),
  so its SQLite table keeps its old CHECK rather than being rebuilt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_CHANNELS = ('form', 'link', 'one-click', 'admin', 'import', 'retention')
_REPORT_KINDS = "kind IN ('hard', 'soft', 'message', 'complaint', 'auto-reply', 'unknown')"
_BOUNCE_KINDS = "kind IN ('hard', 'soft', 'message', 'complaint')"


def upgrade():
    op.create_table('bounce_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('mail_from', sa.String(length=512), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=512), nullable=True),
    sa.CheckConstraint(_REPORT_KINDS, name=op.f('ck_bounce_report_reportkind')),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_bounce_report_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_bounce_report_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bounce_report'))
    )
    op.create_index('ix_bounce_report_subscriber_id', 'bounce_report', ['subscriber_id'], unique=False)
    waiting = sa.text('processed_at IS NULL')
    op.create_index('ix_bounce_report_waiting', 'bounce_report', ['id'], unique=False,
                    postgresql_where=waiting, sqlite_where=waiting)
    op.create_table('bounce_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.String(length=512), nullable=True),
    sa.CheckConstraint(_BOUNCE_KINDS, name=op.f('ck_bounce_event_bouncekind')),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_bounce_event_delivery_id_delivery')),
    sa.ForeignKeyConstraint(['digest_id'], ['digest.id'], name=op.f('fk_bounce_event_digest_id_digest')),
    sa.ForeignKeyConstraint(['report_id'], ['bounce_report.id'], name=op.f('fk_bounce_event_report_id_bounce_report')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_bounce_event_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bounce_event'))
    )
    op.create_index('ix_bounce_event_digest_id', 'bounce_event', ['digest_id'], unique=False)
    op.create_index('ix_bounce_event_subscriber_id', 'bounce_event', ['subscriber_id'], unique=False)
    _allow_channels(_CHANNELS + ('complaint',))


def downgrade():
    op.execute("UPDATE consent_event SET channel = 'admin' WHERE channel = 'complaint'")
    _allow_channels(_CHANNELS)
    op.drop_index('ix_bounce_event_subscriber_id', table_name='bounce_event')
    op.drop_index('ix_bounce_event_digest_id', table_name='bounce_event')
    op.drop_table('bounce_event')
    op.drop_index('ix_bounce_report_waiting', table_name='bounce_report')
    op.drop_index('ix_bounce_report_subscriber_id', table_name='bounce_report')
    op.drop_table('bounce_report')


def _allow_channels(channels):
    check = 'channel IN ({})'.format(', '.join(f"'{channel}'" for channel in channels))
    if op.get_bind().dialect.name != 'sqlite':
        for table in ('consent_event', 'address_request'):
            op.execute(f'ALTER TABLE {table} DROP CONSTRAINT ck_{table}_consentchannel')
            op.execute(f'ALTER TABLE {table} ADD CONSTRAINT ck_{table}_consentchannel CHECK ({check})')
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
    sa.CheckConstraint(check, name='ck_consent_event_consentchannel'),
    sa.Index('ix_consent_event_subscriber_id', 'subscriber_id'),
    )
    with op.batch_alter_table(
        'consent_event', recreate='always', copy_from=consent_event, table_kwargs={'sqlite_autoincrement': True}
    ):
        pass
