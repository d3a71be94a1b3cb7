"""Walrus tagging, CORS and bucket policy: a tag set per object (and per
multipart upload, for the object it completes), and the buckets'
configuration documents (tagging, cors, policy).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:51:30.007958
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('walrus_bucket_configs',
    sa.Column('bucket', sa.String(length=255).with_variant(sa.String(length=255, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['bucket'], ['walrus_buckets.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('bucket', 'kind')
    )
    with op.batch_alter_table('walrus_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=True))
    with op.batch_alter_table('walrus_uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('walrus_uploads', schema=None) as batch_op:
        batch_op.drop_column('tags')
    with op.batch_alter_table('walrus_objects', schema=None) as batch_op:
        batch_op.drop_column('tags')

    op.drop_table('walrus_bucket_configs')
