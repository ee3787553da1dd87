"""admin_session (admin sessions held on the server), admin_login_attempt (the login
throttle's failures, by keyed hashes) and address_request (sign-ups and preferences-link
requests waiting for the worker)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:22:53.809365

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('admin_login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_hash', sa.String(length=64), nullable=False),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_login_attempt'))
    )
    with op.batch_alter_table('admin_login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_admin_login_attempt_address_hash_at', ['address_hash', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_admin_login_attempt_at'), ['at'], unique=False)
        batch_op.create_index('ix_admin_login_attempt_client_hash_at', ['client_hash', 'at'], unique=False)

    op.create_table('address_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('sign-up', 'preferences-link', name='addressrequestkind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.Enum('form', 'link', 'one-click', 'admin', 'import', 'retention', name='consentchannel', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('consent_text_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.ForeignKeyConstraint(['consent_text_id'], ['consent_text.id'], name=op.f('fk_address_request_consent_text_id_consent_text')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_request'))
    )
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['admin_user.id'], name=op.f('fk_admin_session_admin_id_admin_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_admin_session_token_hash'))
    )
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_session_admin_id'), ['admin_id'], unique=False)



def downgrade():
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_session_admin_id'))

    op.drop_table('admin_session')
    op.drop_table('address_request')
    with op.batch_alter_table('admin_login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_login_attempt_client_hash_at')
        batch_op.drop_index(batch_op.f('ix_admin_login_attempt_at'))
        batch_op.drop_index('ix_admin_login_attempt_address_hash_at')

    op.drop_table('admin_login_attempt')
