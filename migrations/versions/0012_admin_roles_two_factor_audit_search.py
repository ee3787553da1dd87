"""admin roles, two-factor sign-in, the audit log, admin invitations, subscriber search

Issue 19 point 1 and 2: admin_user.role (every existing admin stays an admin),
admin_user.totp_secret and totp_last_step, admin_recovery_code, audit_event; delivery kind
'admin-invite'; the subscriber search anywhere in the address (a pg_trgm GIN index on
PostgreSQL, which needs the extension) and by source.

SQLite cannot alter a CHECK constraint: there the delivery table's CREATE statement is
rewritten in place with the kind list widened (SQLite's documented way for a constraint every
row still meets), keeping every other constraint and index as it is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 20:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_KINDS = "'confirm', 'digest', 'digest-test', 'preferences-link'"
_KIND_CONSTRAINT = 'ck_delivery_mailkind'


def upgrade():
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute(
            "ALTER TABLE admin_user ADD COLUMN role VARCHAR(16) DEFAULT 'admin' NOT NULL"
            " CONSTRAINT ck_admin_user_adminrole CHECK (role IN ('admin', 'editor'))"
        )
    else:
        op.add_column('admin_user', sa.Column(
            'role',
            sa.Enum('admin', 'editor', name='adminrole', native_enum=False, create_constraint=True, length=16),
            server_default='admin', nullable=False,
        ))
    op.add_column('admin_user', sa.Column('totp_secret', sa.String(length=64), nullable=True))
    op.add_column('admin_user', sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.create_table('admin_recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['admin_user.id'], name=op.f('fk_admin_recovery_code_admin_id_admin_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_recovery_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_admin_recovery_code_code_hash'))
    )
    op.create_index(op.f('ix_admin_recovery_code_admin_id'), 'admin_recovery_code', ['admin_id'], unique=False)
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('admin_id', sa.Integer(), nullable=True),
    sa.Column('admin_email', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['admin_id'], ['admin_user.id'], name=op.f('fk_audit_event_admin_id_admin_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    op.create_index(op.f('ix_audit_event_action'), 'audit_event', ['action'], unique=False)
    op.create_index(op.f('ix_audit_event_admin_id'), 'audit_event', ['admin_id'], unique=False)
    op.create_index(op.f('ix_audit_event_at'), 'audit_event', ['at'], unique=False)
    _allow_kinds(_KINDS + ", 'admin-invite'", _KINDS)
    if not sqlite:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_subscriber_email_trgm', 'subscriber', ['email'], unique=False,
                    postgresql_using='gin', postgresql_ops={'email': 'gin_trgm_ops'})
    op.create_index('ix_subscriber_source_id', 'subscriber', ['source', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_subscriber_source_id', table_name='subscriber')
    op.drop_index('ix_subscriber_email_trgm', table_name='subscriber')
    op.execute("DELETE FROM delivery WHERE kind = 'admin-invite'")
    _allow_kinds(_KINDS, _KINDS + ", 'admin-invite'")
    op.drop_table('audit_event')
    op.drop_table('admin_recovery_code')
    op.drop_column('admin_user', 'totp_last_step')
    op.drop_column('admin_user', 'totp_secret')
    with op.batch_alter_table('admin_user') as batch_op:
        batch_op.drop_constraint(op.f('ck_admin_user_adminrole'), type_='check')
        batch_op.drop_column('role')


def _allow_kinds(kinds, before):
    check = f'kind IN ({kinds})'
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.execute(f'ALTER TABLE delivery DROP CONSTRAINT {_KIND_CONSTRAINT}')
        op.execute(f'ALTER TABLE delivery ADD CONSTRAINT {_KIND_CONSTRAINT} CHECK ({check})')
        return
    # SQLite's documented way to change a CHECK constraint that existing rows still meet:
    # the table's CREATE statement rewritten in place (no rebuild, which would have to drop a
    # table bounce_report and bounce_event refer to), with the schema version moved on.
    table_sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'delivery'")
    ).scalar_one()
    old_check = f'kind IN ({before})'
    if old_check not in table_sql:
        raise RuntimeError(f'delivery.kind is not constrained as expected: {table_sql}')
    version = bind.execute(sa.text('PRAGMA schema_version')).scalar_one()
    op.execute('PRAGMA writable_schema = ON')
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'delivery'"),
        {'sql': table_sql.replace(old_check, check, 1)},
    )
    op.execute(f'PRAGMA schema_version = {version + 1}')
    op.execute('PRAGMA writable_schema = OFF')
