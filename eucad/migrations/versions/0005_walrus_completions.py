"""Walrus remembers completed multipart uploads and an upload's checksum type.

``walrus_completions`` answers a retried CompleteMultipartUpload alike;
``walrus_uploads.checksumType`` (COMPOSITE or FULL_OBJECT, empty for
uploads begun before) says how the parts' checksums combine.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("walrus_uploads") as batch:
        batch.add_column(sa.Column("checksumType", sa.String(16), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("walrus_uploads") as batch:
        batch.alter_column("checksumType", existing_type=sa.String(16),
                           existing_nullable=False, server_default=None)
    op.create_table(
        "walrus_completions",
        sa.Column("uploadId", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.String(255), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("checksums", sa.JSON(), nullable=False),
        sa.Column("completed", sa.Float(), nullable=False),
    )
    op.create_index("ix_walrus_completions_bucket", "walrus_completions", ["bucket"])
    op.create_index("ix_walrus_completions_completed", "walrus_completions", ["completed"])


def downgrade():
    op.drop_table("walrus_completions")
    with op.batch_alter_table("walrus_uploads") as batch:
        batch.drop_column("checksumType")
