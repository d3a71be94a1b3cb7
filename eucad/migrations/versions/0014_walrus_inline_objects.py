"""Walrus keeps small objects' bytes in their rows (current and noncurrent versions).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("walrus_objects") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("walrus_versions") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table("walrus_versions") as batch:
        batch.drop_column("data")
    with op.batch_alter_table("walrus_objects") as batch:
        batch.drop_column("data")
