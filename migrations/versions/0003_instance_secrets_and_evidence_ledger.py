"""instance_secret (the suppression key kept with the data) and evidence_ledger (what evidence
heads covered); consent_event ids never reused on SQLite

- instance_secret: keys generated once and stored with the data (newsletter.instance_secrets).
  A database whose suppression list already holds rows gets the key those rows were made with,
  derived from SECRET_KEY as the service did until now, so the list keeps matching (unless
  SUPPRESSION_KEY is set: then that key made them and stays in use). `flask db upgrade` runs
  with the app's configuration, so this is the SECRET_KEY the service runs with.
- evidence_ledger: one line per consent event covered by an evidence head (newsletter.ledger).
- consent_event on SQLite: AUTOINCREMENT, so the id of a purged newest event is never given
  to a new one (evidence heads name events by id). PostgreSQL sequences never reuse ids.
  Reflection does not see AUTOINCREMENT: a later batch migration that recreates consent_event
  must pass table_kwargs={'sqlite_autoincrement': True} again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:30:00

"""
import hashlib
import hmac
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SUPPRESSION_KEY_NAME = 'suppression-key'


def upgrade():
    instance_secret = op.create_table('instance_secret',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_secret'))
    )
    op.create_table('evidence_ledger',
    sa.Column('event_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('requested', 'confirmed', 'withdrawn', 'erased', 'imported', name='consenteventtype', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_evidence_ledger'))
    )
    _recreate_consent_event_on_sqlite(sqlite_autoincrement=True)
    _keep_the_suppression_key(instance_secret)


def downgrade():
    _recreate_consent_event_on_sqlite(sqlite_autoincrement=False)
    op.drop_table('evidence_ledger')
    op.drop_table('instance_secret')


def _keep_the_suppression_key(instance_secret):
    config = current_app.config
    if config.get('SUPPRESSION_KEY'):
        return
    if op.get_bind().execute(sa.text('SELECT 1 FROM suppression LIMIT 1')).first() is None:
        return  # nothing to keep matching: the service generates a random key on first use
    # Exactly as suppression._key derived it before this revision.
    key = hmac.new(str(config['SECRET_KEY']).encode(), b'suppression', hashlib.sha256).hexdigest()
    now = datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC, like every time column
    op.bulk_insert(instance_secret, [{'name': SUPPRESSION_KEY_NAME, 'value': key, 'created_at': now}])


def _recreate_consent_event_on_sqlite(**table_kwargs):
    if op.get_bind().dialect.name != 'sqlite':
        return
    # The table as 0001 made it, given rather than reflected: reflection would lose the CHECK
    # constraints of the two enum columns.
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
    sa.CheckConstraint("channel IN ('form', 'link', 'one-click', 'admin', 'import', 'retention')", name='ck_consent_event_consentchannel'),
    sa.Index('ix_consent_event_subscriber_id', 'subscriber_id'),
    )
    with op.batch_alter_table(
        'consent_event', recreate='always', copy_from=consent_event, table_kwargs=table_kwargs
    ):
        pass
