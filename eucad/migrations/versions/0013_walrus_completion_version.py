"""A remembered CompleteMultipartUpload keeps the version it made and who started the upload.

``walrus_completions.versionId`` lets a retried completion answer the same
``x-amz-version-id`` as the first; ``walrus_completions.owner`` lets it be
refused to a caller who could not have completed the upload.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("walrus_completions") as batch:
        batch.add_column(sa.Column("versionId", sa.String(64), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table("walrus_completions") as batch:
        batch.drop_column("owner")
        batch.drop_column("versionId")
