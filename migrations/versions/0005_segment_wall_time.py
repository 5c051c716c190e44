"""segments.wall_s: the worker's whole time for a segment; an index on (job, status)

Next to ``synth_s`` (the engine and fitting), ``wall_s`` is everything the
worker spent on the segment: loading the voice, checking, rendering,
levelling, encoding the WAV. Their difference is the worker's overhead per
segment, which ``bench/bench_orchestration.py`` reports.

``ix_segments_job_status``: whether a job has a segment left undone is asked
after every batch of results; the index answers it with a seek instead of a
pass over the job's rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 01:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wall_s', sa.Float(), nullable=True))
        batch_op.create_index('ix_segments_job_status', ['job_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index('ix_segments_job_status')
        batch_op.drop_column('wall_s')
