"""segments.language: the language a segment is spoken in

A BCP 47 tag (``en``, ``es``, ``pt-BR``), from the job's language, the input's
own (a WebVTT ``Language:`` header, an EPUB's ``dc:language``, ``NAME.es.srt``,
Markdown front matter) or a line's ``[lang:xx]`` tag. NULL on rows written
before: English.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_column('language')
