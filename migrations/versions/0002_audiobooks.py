"""audiobooks: per-segment voices, chapters and pauses; the book outline of a job

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 16:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        # NULL: the job's voice (every segment of jobs made before this revision).
        batch_op.add_column(sa.Column('voice_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('chapter', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pause_after_s', sa.Float(), nullable=True))
        batch_op.create_foreign_key('fk_segments_voice_id', 'voices', ['voice_id'], ['id'])
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('book', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('book')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_segments_voice_id', type_='foreignkey')
        batch_op.drop_column('pause_after_s')
        batch_op.drop_column('chapter')
        batch_op.drop_column('voice_id')
