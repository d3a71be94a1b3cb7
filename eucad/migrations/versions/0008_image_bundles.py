"""Images registered from bundles: why one failed, its decrypted size, and
the users given launch permission.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:48:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stateReason', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('size', sa.Integer(), nullable=True))

    op.create_table('image_launch_permissions',
    sa.Column('imageId', sa.String(length=16), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['imageId'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('imageId', 'user')
    )


def downgrade():
    op.drop_table('image_launch_permissions')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_column('size')
        batch_op.drop_column('stateReason')
