"""Small objects kept in their database row instead of a blob file.

A blob file is made durable by an fsync of the file, a rename and an fsync
of its directory, all before the commit that names it: three waits on the
disk in a row for every PUT.  An object of at most ``INLINE_MAX`` bytes
whose body arrived in memory is instead written into its row (``data``,
with ``segments`` empty) by the same group commit that writes the row
(eucad.walrus.groupcommit), so many small PUTs share one journal fsync and
none of them touches a file.  The commit is as durable as the blob's was
(SQLite ``synchronous=FULL``, or PostgreSQL's own), so an acknowledged PUT
survives a crash either way.

Readers never ask where the bytes are: ``objectBytes`` and the store's
read helpers (eucad.walrus.storebase) take an object or version row, and
an inline row has no blob to remove when it is replaced or deleted.
"""

#: Objects up to this size whose body is in memory are kept in their row.
INLINE_MAX = 64 * 1024


def keepsInline(spooled):
    """Whether a spooled body (eucad.walrus.spooled) is stored in its row."""
    return spooled.data is not None and spooled.size <= INLINE_MAX


def isInline(row):
    """Whether an object or version row holds its own bytes."""
    return getattr(row, "data", None) is not None


def objectBytes(row, start, length):
    """Bytes [start, start+length) of an inline row."""
    return bytes(row.data[start:start + length])
