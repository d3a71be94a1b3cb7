"""Walrus names and keys sort by their bytes on PostgreSQL (the "C" collation).

S3 lists keys in UTF-8 byte order and pages with markers compared the same
way; a database created with en_US or ICU collation sorted them otherwise.
SQLite already compares bytes: nothing changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: (table, column, length) of every byte-ordered column, the referenced one first.
_COLUMNS = [
    ("walrus_buckets", "name", 255),
    ("walrus_objects", "bucket", 255),
    ("walrus_objects", "key", 1024),
    ("walrus_uploads", "bucket", 255),
    ("walrus_uploads", "key", 1024),
]


def _alter(collation):
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in _COLUMNS:
        op.execute('ALTER TABLE "%s" ALTER COLUMN "%s" TYPE VARCHAR(%d) COLLATE %s'
                   % (table, column, length, collation))


def upgrade():
    _alter('"C"')


def downgrade():
    _alter('"default"')
