"""Walrus keeps object versions: a bucket's versioning status, the current
version's id on each object, and the noncurrent versions and delete
markers in ``walrus_versions``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _byteOrdered(length):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade():
    with op.batch_alter_table("walrus_buckets") as batch:
        batch.add_column(sa.Column("versioning", sa.String(16), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("walrus_buckets") as batch:
        batch.alter_column("versioning", existing_type=sa.String(16),
                           existing_nullable=False, server_default=None)
    with op.batch_alter_table("walrus_objects") as batch:
        batch.add_column(sa.Column("versionId", sa.String(64), nullable=False,
                                   server_default="null"))
    with op.batch_alter_table("walrus_objects") as batch:
        batch.alter_column("versionId", existing_type=sa.String(64),
                           existing_nullable=False, server_default=None)
    op.create_table(
        "walrus_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("bucket", _byteOrdered(255), nullable=False),
        sa.Column("key", _byteOrdered(1024), nullable=False),
        sa.Column("versionId", sa.String(64), nullable=False),
        sa.Column("deleteMarker", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("modified", sa.Float(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("acl", sa.JSON(), nullable=False),
        sa.Column("checksums", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.UniqueConstraint("bucket", "key", "versionId",
                            name="walrus_versions_bucket_key_version"),
        sa.ForeignKeyConstraint(["bucket"], ["walrus_buckets.name"], ondelete="CASCADE"),
    )


def downgrade():
    op.drop_table("walrus_versions")
    with op.batch_alter_table("walrus_objects") as batch:
        batch.drop_column("versionId")
    with op.batch_alter_table("walrus_buckets") as batch:
        batch.drop_column("versioning")
