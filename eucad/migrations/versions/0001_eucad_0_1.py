"""The eucad 0.1 schema: users, VM types, images, reservations, instances, Walrus.

Databases made before Alembic came (by ``create_all``) already hold these
tables: each is created only when missing, so such a database upgrades in
place and keeps its rows.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables():
    """``(name, columns and constraints, indexes)`` of every 0.1 table, in FK order."""
    return [
        ("users", [
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("accessKey", sa.String(64), nullable=False),
            sa.Column("secretKey", sa.String(128), nullable=False),
            sa.Column("isAdmin", sa.Boolean(), nullable=False),
            sa.Column("enabled", sa.Boolean(), nullable=False),
            sa.Column("created", sa.Float(), nullable=False),
        ], [("ix_users_accessKey", ["accessKey"], True)]),
        ("vmtypes", [
            sa.Column("name", sa.String(32), primary_key=True),
            sa.Column("cpu", sa.Integer(), nullable=False),
            sa.Column("ram", sa.Integer(), nullable=False),
            sa.Column("disk", sa.Integer(), nullable=False),
        ], []),
        ("images", [
            sa.Column("id", sa.String(16), primary_key=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("location", sa.String(1024), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("isPublic", sa.Boolean(), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("architecture", sa.String(16), nullable=False),
            sa.Column("kernelId", sa.String(16), nullable=True),
            sa.Column("ramdiskId", sa.String(16), nullable=True),
            sa.Column("digest", sa.String(128), nullable=True),
            sa.Column("name", sa.String(255), nullable=True),
            sa.Column("description", sa.String(255), nullable=True),
            sa.Column("registered", sa.Float(), nullable=False),
        ], [("ix_images_kind", ["kind"], False), ("ix_images_owner", ["owner"], False)]),
        ("reservations", [
            sa.Column("id", sa.String(16), primary_key=True),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("cluster", sa.String(64), nullable=False),
            sa.Column("groups", sa.String(512), nullable=False),
            sa.Column("created", sa.Float(), nullable=False),
        ], [("ix_reservations_owner", ["owner"], False)]),
        ("instances", [
            sa.Column("id", sa.String(16), primary_key=True),
            sa.Column("reservationId", sa.String(16), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("imageId", sa.String(16), nullable=False),
            sa.Column("kernelId", sa.String(16), nullable=True),
            sa.Column("ramdiskId", sa.String(16), nullable=True),
            sa.Column("vmType", sa.String(32), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("privateIp", sa.String(64), nullable=True),
            sa.Column("publicIp", sa.String(64), nullable=True),
            sa.Column("macAddress", sa.String(32), nullable=True),
            sa.Column("cluster", sa.String(64), nullable=False),
            sa.Column("node", sa.String(255), nullable=True),
            sa.Column("launchTime", sa.Float(), nullable=False),
            sa.Column("launchIndex", sa.Integer(), nullable=False),
            sa.Column("keyName", sa.String(255), nullable=True),
            sa.Column("userData", sa.Text(), nullable=True),
            sa.Column("reason", sa.String(255), nullable=False),
            sa.Column("stateChanged", sa.Float(), nullable=False),
            sa.Column("placedAt", sa.Float(), nullable=True),
            sa.ForeignKeyConstraint(["reservationId"], ["reservations.id"],
                                    ondelete="CASCADE"),
        ], [("ix_instances_owner", ["owner"], False),
            ("ix_instances_cluster", ["cluster"], False),
            ("ix_instances_reservationId", ["reservationId"], False),
            ("ix_instances_state", ["state"], False)]),
        ("walrus_buckets", [
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("created", sa.Float(), nullable=False),
            sa.Column("location", sa.String(64), nullable=False),
            sa.Column("acl", sa.JSON(), nullable=False),
            sa.Column("objectCount", sa.BigInteger(), nullable=False),
            sa.Column("bytesUsed", sa.BigInteger(), nullable=False),
        ], [("ix_walrus_buckets_owner", ["owner"], False)]),
        ("walrus_objects", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("bucket", sa.String(255), nullable=False),
            sa.Column("key", sa.String(1024), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("etag", sa.String(64), nullable=False),
            sa.Column("modified", sa.Float(), nullable=False),
            sa.Column("headers", sa.JSON(), nullable=False),
            sa.Column("meta", sa.JSON(), nullable=False),
            sa.Column("acl", sa.JSON(), nullable=False),
            sa.Column("checksums", sa.JSON(), nullable=False),
            sa.Column("segments", sa.JSON(), nullable=False),
            sa.UniqueConstraint("bucket", "key", name="walrus_objects_bucket_key"),
            sa.ForeignKeyConstraint(["bucket"], ["walrus_buckets.name"],
                                    ondelete="CASCADE"),
        ], []),
        ("walrus_uploads", [
            sa.Column("uploadId", sa.String(64), primary_key=True),
            sa.Column("bucket", sa.String(255), nullable=False),
            sa.Column("key", sa.String(1024), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("initiated", sa.Float(), nullable=False),
            sa.Column("headers", sa.JSON(), nullable=False),
            sa.Column("meta", sa.JSON(), nullable=False),
            sa.Column("acl", sa.JSON(), nullable=False),
            sa.Column("checksumAlgorithm", sa.String(16), nullable=False),
            sa.ForeignKeyConstraint(["bucket"], ["walrus_buckets.name"],
                                    ondelete="CASCADE"),
        ], [("ix_walrus_uploads_bucket", ["bucket"], False)]),
        ("walrus_parts", [
            sa.Column("uploadId", sa.String(64), primary_key=True),
            sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("blob", sa.String(32), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("etag", sa.String(64), nullable=False),
            sa.Column("modified", sa.Float(), nullable=False),
            sa.Column("checksums", sa.JSON(), nullable=False),
            sa.ForeignKeyConstraint(["uploadId"], ["walrus_uploads.uploadId"],
                                    ondelete="CASCADE"),
        ], []),
    ]


def upgrade():
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:
            continue
        op.create_table(name, *columns)
        for indexName, indexColumns, unique in indexes:
            op.create_index(indexName, name, indexColumns, unique=unique)


def downgrade():
    for name, _, _ in reversed(_tables()):
        op.drop_table(name)
