"""article.image_*: the picture a digest shows with an article

From the feed (media:content, media:thumbnail, an image enclosure, the first image of the
content), `add-article --image-url` or the admin's form; https only (newsletter.images).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs (nullable, no default): no batch rebuild of the table on SQLite.
    op.add_column('article', sa.Column('image_url', sa.String(length=2000), nullable=True))
    op.add_column('article', sa.Column('image_width', sa.Integer(), nullable=True))
    op.add_column('article', sa.Column('image_height', sa.Integer(), nullable=True))
    op.add_column('article', sa.Column('image_alt', sa.String(length=500), nullable=True))


def downgrade():
    for column in ('image_alt', 'image_height', 'image_width', 'image_url'):
        op.drop_column('article', column)
