"""The HTTP service: tenants, API keys, webhook deliveries, the scheduler row;
jobs gain their tenant, priority, runner, uploaded input, callback and
idempotency key.

``runner`` of existing jobs is ``cli``, or ``celery`` for jobs that were
queued: they stay with what rendered them. ``scheduler`` holds one row that
every release updates first (it serialises releases across processes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tenants',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('webhook_secret', sa.String(128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('tenant', sa.String(64), sa.ForeignKey('tenants.name', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('key_sha256', sa.String(64), nullable=False, unique=True),
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        'scheduler',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('releases', sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO scheduler (id, releases) VALUES (1, 0)")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tenant', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('runner', sa.String(16), nullable=False, server_default='cli'))
        batch_op.add_column(sa.Column('input_key', sa.String(1000), nullable=True))
        batch_op.add_column(sa.Column('callback_url', sa.String(2000), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(200), nullable=True))
        batch_op.create_index('ix_jobs_tenant', ['tenant'], unique=False)
        batch_op.create_foreign_key('fk_jobs_tenant', 'tenants', ['tenant'], ['name'])
        batch_op.create_unique_constraint('uq_job_idempotency', ['tenant', 'idempotency_key'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('job_id', sa.String(32), sa.ForeignKey('jobs.id', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('url', sa.String(2000), nullable=False),
        sa.Column('event', sa.String(32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_webhook_due', 'webhook_deliveries', ['state', 'next_at'])
    # Jobs already queued stay with the queue.
    op.execute("UPDATE jobs SET runner = 'celery' WHERE status IN ('rendering', 'assembling') "
               "AND id IN (SELECT job_id FROM segments WHERE status = 'queued')")


def downgrade() -> None:
    op.drop_index('ix_webhook_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_job_idempotency', type_='unique')
        batch_op.drop_constraint('fk_jobs_tenant', type_='foreignkey')
        batch_op.drop_index('ix_jobs_tenant')
        for col in ('idempotency_key', 'callback_url', 'input_key', 'runner', 'priority', 'tenant'):
            batch_op.drop_column(col)
    op.drop_table('scheduler')
    op.drop_table('api_keys')
    op.drop_table('tenants')
