"""Walrus keeps buckets' lifecycle configurations, which it applies itself.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "walrus_lifecycle",
        sa.Column("bucket", sa.String(255).with_variant(sa.String(255, collation="C"),
                                                        "postgresql"), primary_key=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["bucket"], ["walrus_buckets.name"], ondelete="CASCADE"),
    )


def downgrade():
    op.drop_table("walrus_lifecycle")
