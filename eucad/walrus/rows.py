"""Plain views of Walrus's table rows for the paths every request takes.

GET, HEAD, PUT and listings read and write their rows with single SQL
statements (``eucad.walrus.store``) instead of loading ORM objects: a
4 KiB GET spent 0.23 ms of its database thread's time in the ORM and 0.04 ms
with one joined SELECT.  What those statements return is wrapped here in
objects that carry the same attribute names as the ORM classes of
``eucad.walrus.models``, so handlers, ACL checks and conditions work on
either.
"""

from sqlalchemy import and_, bindparam, delete, insert, select, update

from eucad.walrus.models import Bucket, StoredObject

BUCKETS = Bucket.__table__
OBJECTS = StoredObject.__table__

OBJECT_FIELDS = ("id", "bucket", "key", "owner", "size", "etag", "modified", "headers",
                 "meta", "acl", "checksums", "segments", "versionId", "tags", "data")
BUCKET_FIELDS = ("name", "owner", "created", "location", "acl", "objectCount", "bytesUsed",
                 "versioning")


class ObjectRow:
    """
    One object's row (``walrus_objects``).  ``answerHeaders`` is left to
    eucad.walrus.objects, which keeps there the GET/HEAD headers it worked
    out for the row: a row in the object cache answers many GETs.
    """

    __slots__ = OBJECT_FIELDS + ("answerHeaders",)

    def __init__(self, **values):
        for name in OBJECT_FIELDS:
            setattr(self, name, values.get(name))
        self.answerHeaders = None


class BucketRow:
    """One bucket's row (``walrus_buckets``)."""

    __slots__ = BUCKET_FIELDS

    def __init__(self, **values):
        for name in BUCKET_FIELDS:
            setattr(self, name, values.get(name))

    def withoutTotals(self):
        """
        This row with no totals (``objectCount`` and ``bytesUsed`` None):
        what readers of its objects keep of it (eucad.walrus.objectcache),
        since a write of any key of the bucket changes them.
        """
        if self.objectCount is None and self.bytesUsed is None:
            return self
        kept = BucketRow(**{name: getattr(self, name) for name in BUCKET_FIELDS})
        kept.objectCount = kept.bytesUsed = None
        return kept


def _bucketColumns():
    return [BUCKETS.c[name].label("b_" + name) for name in BUCKET_FIELDS]


#: One bucket's row.
BUCKET_ROW = select(*[BUCKETS.c[name] for name in BUCKET_FIELDS]).where(
    BUCKETS.c.name == bindparam("bucket"))

#: The bucket and, if it exists, one of its objects, in one statement.
BUCKET_AND_OBJECT = select(*_bucketColumns(), *[OBJECTS.c[name] for name in OBJECT_FIELDS]) \
    .select_from(BUCKETS.outerjoin(OBJECTS, and_(OBJECTS.c.bucket == BUCKETS.c.name,
                                                 OBJECTS.c.key == bindparam("key")))) \
    .where(BUCKETS.c.name == bindparam("bucket"))


class PreparedLookup:
    """
    ``BUCKET_AND_OBJECT`` compiled once for an engine's dialect and run on
    a raw DBAPI connection from the engine's pool, its values converted by
    the columns' own result processors (JSON...).

    This is the query of every GET and HEAD, run in an I/O thread; what that
    thread does in Python it does holding the GIL, which the reactor then
    waits for.  Through a SQLAlchemy Connection the lookup cost 46 us, this
    way 20 (measured), and 4 KiB GETs went from 2550 to 2900 a second.
    """

    def __init__(self, engine):
        dialect = engine.dialect
        self.engine = engine
        # The raw path is SQLite's: other drivers (psycopg) decode JSON and
        # numbers themselves, and their result processors need the column's
        # type code, which a compiled statement alone does not give.
        self.raw = dialect.name == "sqlite"
        if not self.raw:
            return
        compiled = BUCKET_AND_OBJECT.compile(dialect=dialect)
        self.sql = compiled.string
        self.order = compiled.positiontup if compiled.positional else None
        if set(self.order if self.order is not None else compiled.binds) != {"bucket", "key"}:
            raise ValueError("unexpected parameters in %r" % (self.sql,))
        self.processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                           for column in BUCKET_AND_OBJECT.selected_columns]

    def __call__(self, bucketName, key):
        """(BucketRow, ObjectRow or None), or (None, None) without the bucket."""
        if not self.raw:
            with self.engine.connect() as connection:
                return bucketAndObject(connection, bucketName, key)
        connection = self.engine.raw_connection()
        try:
            return self.onDbapi(connection, bucketName, key)
        finally:
            connection.close()

    def onDbapi(self, connection, bucketName, key):
        """The same lookup on a DBAPI connection (a transaction's own, for writers)."""
        values = {"bucket": bucketName, "key": key}
        if self.order is not None:
            values = tuple(values[name] for name in self.order)
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, values)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None, None
        row = [value if process is None or value is None else process(value)
               for process, value in zip(self.processors, row)]
        split = len(BUCKET_FIELDS)
        bucket = BucketRow(**dict(zip(BUCKET_FIELDS, row[:split])))
        if row[split] is None:
            return bucket, None
        return bucket, ObjectRow(**dict(zip(OBJECT_FIELDS, row[split:])))


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
                  "segments", "versionId", "tags", "data")

# Built once: SQLAlchemy caches a statement's compiled form by its shape, but
# building one with .values(...) literals per call cost 0.2 ms of the
# database thread per PUT (measured); these take their values as parameters.
INSERT_OBJECT = insert(OBJECTS)
UPDATE_OBJECT = update(OBJECTS).where(OBJECTS.c.id == bindparam("objectId")).values(
    {name: bindparam("new_" + name) for name in WRITTEN_FIELDS})
ADD_TO_TOTALS = update(BUCKETS).where(BUCKETS.c.name == bindparam("bucketName")).values(
    objectCount=BUCKETS.c.objectCount + bindparam("addObjects"),
    bytesUsed=BUCKETS.c.bytesUsed + bindparam("addBytes"))
OLD_OBJECT = select(*[OBJECTS.c[name] for name in OBJECT_FIELDS]).where(
    OBJECTS.c.bucket == bindparam("bucket"), OBJECTS.c.key == bindparam("key"))


def insertObject(connection, bucketName, key, values):
    """A new object row; its id."""
    return connection.execute(INSERT_OBJECT, dict(values, bucket=bucketName, key=key)) \
        .inserted_primary_key[0]


def updateObject(connection, objectId, values):
    connection.execute(UPDATE_OBJECT, dict(
        {"new_" + name: values[name] for name in WRITTEN_FIELDS}, objectId=objectId))


DELETE_OBJECT = delete(OBJECTS).where(OBJECTS.c.id == bindparam("objectId"))


def deleteObjectRow(connection, objectId):
    """Remove one object row (its blobs are the caller's to remove after commit)."""
    connection.execute(DELETE_OBJECT, {"objectId": objectId})


def addToTotals(connection, bucketName, objects, size):
    """Count ``objects`` more objects and ``size`` more bytes in a bucket."""
    connection.execute(ADD_TO_TOTALS, {"bucketName": bucketName, "addObjects": objects,
                                       "addBytes": size})


class PreparedDelete:
    """
    What an unversioned DeleteObject does in the group commit, compiled once
    for SQLite and run on the transaction's own DBAPI connection: the bucket
    and object lookup (``PreparedLookup``), the row's removal and the
    bucket's totals.  Through SQLAlchemy Core those three statements cost
    the database thread (and so the reactor, waiting for the GIL) most of a
    delete's time (measured: 40 % of the process's GIL-holding samples).
    Other dialects take the Core path, with the same statements.
    """

    def __init__(self, engine):
        self.engine = engine
        self.lookup = PreparedLookup(engine)
        self.raw = self.lookup.raw
        if not self.raw:
            return
        self.deleteRow = _compiled(DELETE_OBJECT, engine.dialect, {"objectId"})
        self.totals = _compiled(ADD_TO_TOTALS, engine.dialect,
                                {"bucketName", "addObjects", "addBytes"})

    def bucketAndObject(self, connection, bucketName, key):
        """(BucketRow, ObjectRow or None), or (None, None), in ``connection``'s transaction."""
        if not self.raw:
            return bucketAndObject(connection, bucketName, key)
        return self.lookup.onDbapi(connection.connection, bucketName, key)

    def deleteObjectRow(self, connection, objectId):
        if not self.raw:
            return deleteObjectRow(connection, objectId)
        _execute(connection, self.deleteRow, {"objectId": objectId})

    def addToTotals(self, connection, bucketName, objects, size):
        if not self.raw:
            return addToTotals(connection, bucketName, objects, size)
        _execute(connection, self.totals, {"bucketName": bucketName, "addObjects": objects,
                                           "addBytes": size})


def _compiled(statement, dialect, names):
    """(SQL, parameter order or None) of ``statement`` for ``dialect``, taking ``names``."""
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup if compiled.positional else None
    if set(order if order is not None else compiled.binds) != names:
        raise ValueError("unexpected parameters in %r" % (compiled.string,))
    return compiled.string, order


def _execute(connection, prepared, values):
    """Run a ``_compiled`` statement on a Core connection's DBAPI connection."""
    sql, order = prepared
    if order is not None:
        values = tuple(values[name] for name in order)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, values)
    finally:
        cursor.close()


#: What a listing shows of each object, in key order from a lower bound.
LISTED_COLUMNS = (OBJECTS.c.key, OBJECTS.c.size, OBJECTS.c.etag, OBJECTS.c.modified,
                  OBJECTS.c.owner)


def _listedKeys(inclusive, bounded):
    statement = select(*LISTED_COLUMNS).where(
        OBJECTS.c.bucket == bindparam("bucket"),
        OBJECTS.c.key >= bindparam("lower") if inclusive else OBJECTS.c.key > bindparam("lower"))
    if bounded:
        statement = statement.where(OBJECTS.c.key < bindparam("upper"))
    return statement.order_by(OBJECTS.c.key).limit(bindparam("limit"))


#: A page of a listing's rows by (inclusive lower bound, has an upper bound).
LISTED_KEYS = {(inclusive, bounded): _listedKeys(inclusive, bounded)
               for inclusive in (True, False) for bounded in (True, False)}


class PreparedListing:
    """
    The statements of ``LISTED_KEYS`` compiled once for a dialect and run
    on the transaction's own DBAPI connection, giving plain tuples
    (key, size, etag, modified, owner).

    A 1000-key page spent most of its database thread's time making
    SQLAlchemy Row objects (measured: about half the LIST's time in that
    thread); the listed columns are plain text and numbers that SQLite's
    driver returns as they are, so the rows are used as the driver gives
    them.  Other dialects take the Core path (same statements, same tuples).
    """

    def __init__(self, dialect):
        self.raw = dialect.name == "sqlite"
        self.compiled = {}
        if not self.raw:
            return
        for shape, statement in LISTED_KEYS.items():
            compiled = statement.compile(dialect=dialect)
            order = compiled.positiontup if compiled.positional else None
            # Parameters the dialect adds itself (SQLite's OFFSET after a bound LIMIT).
            defaults = {name: value for name, value in compiled.params.items()
                        if name not in ("bucket", "lower", "upper", "limit")}
            self.compiled[shape] = (compiled.string, order, defaults)

    def fetch(self, connection, bucketName, lower, inclusive, upper, limit):
        """Up to ``limit`` rows of ``bucketName`` from ``lower`` (below ``upper`` if given)."""
        shape = (inclusive, upper is not None)
        values = {"bucket": bucketName, "lower": lower, "upper": upper, "limit": limit}
        if not self.raw:
            return [tuple(row) for row in connection.execute(LISTED_KEYS[shape], values)]
        sql, order, defaults = self.compiled[shape]
        values.update(defaults)
        if order is not None:
            values = tuple(values[name] for name in order)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, values)
            return cursor.fetchall()
        finally:
            cursor.close()
