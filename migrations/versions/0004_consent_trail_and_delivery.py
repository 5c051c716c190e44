"""the consent trail of voice names; delivery recorded on jobs

``voice_events`` keeps every enrollment's consent text and reference hash and
every removal, whatever later happens to the ``voices`` row (re-enrolled,
removed). Voices enrolled before this revision start their trail with their
current version, backfilled from the ``voices`` table (earlier versions'
consent was overwritten then and is gone).

``jobs.delivered_path`` / ``jobs.delivery_error``: a job is done when its
output is in storage; whether the copy to the user's path worked is recorded
apart, so ``status`` never claims a file that was not written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'voice_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('voice_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('consent', sa.Text(), nullable=True),
        sa.Column('reference_sha256', sa.String(length=64), nullable=True),
        sa.Column('actor', sa.String(length=200), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('voice_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voice_events_name'), ['name'], unique=False)
    # Enrolled voices (not the engine's own, not clips made into voices on the fly) start their trail.
    op.execute(
        "INSERT INTO voice_events (name, voice_id, version, event, consent, reference_sha256, at) "
        "SELECT name, id, version, 'enrolled', consent, source_sha256, created_at FROM voices "
        "WHERE id NOT LIKE 'builtin-%' AND id NOT LIKE 'ref-%'"
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_path', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('delivery_error', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('delivery_error')
        batch_op.drop_column('delivered_path')
    with op.batch_alter_table('voice_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voice_events_name'))
    op.drop_table('voice_events')
