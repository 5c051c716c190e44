"""artifacts keep object keys only: URLs are signed when they are read

A presigned S3 URL stored at assembly time stopped working after
``storage.presign_expiry_s``; status, wait and the render summary now sign the
stored key on every read, so the column goes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot drop a column in place (Alembic copies the table).
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_column('url')


def downgrade() -> None:
    # The dropped URLs were stale by then anyway; older code reads NULL as "no URL".
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url', sa.Text(), nullable=True))
