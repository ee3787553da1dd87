"""article.kept_out, digest.custom_subject and intro, feed.last_warnings

Issue 15: articles kept out of digests (a feed's backlog, an admin's choice, a deleted feed
article the next poll must not bring back), the subject and intro paragraph an admin gives a
digest, and what a feed's last poll had to guess or repair. Every existing row starts without
any of them: what was there goes on as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 20:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

KEPT_OUT = sa.Enum('backlog', 'admin', 'deleted', name='keptout', native_enum=False, create_constraint=True, length=16)


def upgrade():
    # Plain ADD COLUMNs on SQLite too: a batch rebuild would reflect the tables and lose their
    # CHECK constraints (see 0005). Alembic adds no CHECK there, so the column says it itself.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            "ALTER TABLE article ADD COLUMN kept_out VARCHAR(16)"
            " CONSTRAINT keptout CHECK (kept_out IN ('backlog', 'admin', 'deleted'))"
        )
    else:
        op.add_column('article', sa.Column('kept_out', KEPT_OUT, nullable=True))
    op.add_column('digest', sa.Column('custom_subject', sa.String(length=255), nullable=True))
    op.add_column('digest', sa.Column('intro', sa.Text(), nullable=True))
    op.add_column('feed', sa.Column('last_warnings', sa.Text(), nullable=True))


def downgrade():
    op.drop_column('feed', 'last_warnings')
    op.drop_column('digest', 'intro')
    op.drop_column('digest', 'custom_subject')
    op.drop_column('article', 'kept_out')
