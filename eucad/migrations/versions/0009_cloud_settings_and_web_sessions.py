"""Settings changed on the configuration page (cloud_settings) and browser
sessions kept across restarts (web_sessions).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:51:47.667587
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cloud_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('web_sessions',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=True),
    sa.Column('isAdmin', sa.Boolean(), nullable=False),
    sa.Column('setupDue', sa.Boolean(), nullable=False),
    sa.Column('flash', sa.Text(), nullable=True),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires'), ['expires'], unique=False)



def downgrade():
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires'))

    op.drop_table('web_sessions')
    op.drop_table('cloud_settings')
