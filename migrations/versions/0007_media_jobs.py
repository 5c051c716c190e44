"""Video and audio inputs: jobs.media and segments.track

``jobs.media`` holds what assembly needs of a media job besides its segments
(the stored source, its length and frame rate, each dub's language, voice and
subtitles, the bed); ``segments.track`` is the dub (0-based) a segment belongs to.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media', sa.JSON(), nullable=True))
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('track', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_column('track')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('media')
