"""Plain views of Walrus's table rows for the paths every request takes.

GET, HEAD, PUT and listings read and write their rows with single SQL
statements (``eucad.walrus.store``) instead of loading ORM objects: a
4 KiB GET spent 0.23 ms of its database thread's time in the ORM and 0.04 ms
with one joined SELECT.  What those statements return is wrapped here in
objects that carry the same attribute names as the ORM classes of
``eucad.walrus.models``, so handlers, ACL checks and conditions work on
either.
"""

from sqlalchemy import and_, bindparam, insert, select, update

from eucad.walrus.models import Bucket, StoredObject

BUCKETS = Bucket.__table__
OBJECTS = StoredObject.__table__

OBJECT_FIELDS = ("id", "bucket", "key", "owner", "size", "etag", "modified", "headers",
                 "meta", "acl", "checksums", "segments")
BUCKET_FIELDS = ("name", "owner", "created", "location", "acl", "objectCount", "bytesUsed")


class ObjectRow:
    """One object's row (``walrus_objects``)."""

    __slots__ = OBJECT_FIELDS

    def __init__(self, **values):
        for name in OBJECT_FIELDS:
            setattr(self, name, values.get(name))


class BucketRow:
    """One bucket's row (``walrus_buckets``)."""

    __slots__ = BUCKET_FIELDS

    def __init__(self, **values):
        for name in BUCKET_FIELDS:
            setattr(self, name, values.get(name))


def _bucketColumns():
    return [BUCKETS.c[name].label("b_" + name) for name in BUCKET_FIELDS]


#: The bucket and, if it exists, one of its objects, in one statement.
BUCKET_AND_OBJECT = select(*_bucketColumns(), *[OBJECTS.c[name] for name in OBJECT_FIELDS]) \
    .select_from(BUCKETS.outerjoin(OBJECTS, and_(OBJECTS.c.bucket == BUCKETS.c.name,
                                                 OBJECTS.c.key == bindparam("key")))) \
    .where(BUCKETS.c.name == bindparam("bucket"))


def bucketAndObject(connection, bucketName, key):
    """(BucketRow, ObjectRow or None), or (None, None) without the bucket."""
    row = connection.execute(BUCKET_AND_OBJECT, {"bucket": bucketName, "key": key}).first()
    if row is None:
        return None, None
    mapping = row._mapping
    bucket = BucketRow(**{name: mapping["b_" + name] for name in BUCKET_FIELDS})
    if mapping["id"] is None:
        return bucket, None
    return bucket, ObjectRow(**{name: mapping[name] for name in OBJECT_FIELDS})


#: Object columns a PUT sets (everything but id, bucket and key).
WRITTEN_FIELDS = ("owner", "size", "etag", "modified", "headers", "meta", "acl", "checksums",
                  "segments")

# Built once: SQLAlchemy caches a statement's compiled form by its shape, but
# building one with .values(...) literals per call cost 0.2 ms of the
# database thread per PUT (measured); these take their values as parameters.
INSERT_OBJECT = insert(OBJECTS)
UPDATE_OBJECT = update(OBJECTS).where(OBJECTS.c.id == bindparam("objectId")).values(
    {name: bindparam("new_" + name) for name in WRITTEN_FIELDS})
ADD_TO_TOTALS = update(BUCKETS).where(BUCKETS.c.name == bindparam("bucketName")).values(
    objectCount=BUCKETS.c.objectCount + bindparam("addObjects"),
    bytesUsed=BUCKETS.c.bytesUsed + bindparam("addBytes"))
OLD_OBJECT = select(OBJECTS.c.id, OBJECTS.c.size, OBJECTS.c.segments).where(
    OBJECTS.c.bucket == bindparam("bucket"), OBJECTS.c.key == bindparam("key"))


def insertObject(connection, bucketName, key, values):
    """A new object row; its id."""
    return connection.execute(INSERT_OBJECT, dict(values, bucket=bucketName, key=key)) \
        .inserted_primary_key[0]


def updateObject(connection, objectId, values):
    connection.execute(UPDATE_OBJECT, dict(
        {"new_" + name: values[name] for name in WRITTEN_FIELDS}, objectId=objectId))


def addToTotals(connection, bucketName, objects, size):
    """Count ``objects`` more objects and ``size`` more bytes in a bucket."""
    connection.execute(ADD_TO_TOTALS, {"bucketName": bucketName, "addObjects": objects,
                                       "addBytes": size})


#: What a listing shows of each object, in key order from a lower bound.
LISTED_COLUMNS = (OBJECTS.c.key, OBJECTS.c.size, OBJECTS.c.etag, OBJECTS.c.modified,
                  OBJECTS.c.owner)
