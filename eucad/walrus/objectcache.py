"""The rows of recently read objects, kept in memory so a GET needs no thread.

A small GET's only blocking step is its lookup: one query for the bucket's
and the object's rows (with the bytes of an object kept in its row,
eucad.walrus.inline), run in the I/O pool.  The trip through a thread and
back cost more of the reactor's time than the query itself, and the reactor
and that thread then took turns at the GIL (measured: 4 KiB GETs left the
daemon's CPU 25 % idle while the clients waited).  ``ObjectCache`` keeps
what such lookups found, so a repeated GET or HEAD is answered from memory
on the reactor.

Exactness comes from where writes pass, not from a list of write paths:
every transaction of the bucket store goes through ``WatchedDatabase``
(``run``, and the group commit, which runs its batches through it), which
moves the cache's generation on before the transaction starts and again
when it has ended, on the reactor, before whoever asked hears the result.
An entry is valid only in the generation it was stored in, and a lookup
stores what it found only if no transaction began or ended while it ran;
so once a write's Deferred has fired, no reader can be served what was
there before it.  Only ``read(fn)`` transactions, which change nothing,
leave the generation alone.  The generation is global, not per bucket or
key: any write empties the cache, which keeps exactness easy to see, at
the price of misses in a workload that mixes writes with its reads.

What is kept is bounded by entries and by the bytes of small objects;
past either bound the oldest entries go.  The cache is exact within one
process; a Walrus is the only writer of its tables (a Walrus daemon refuses
to start where the CLC's daemon serves Walrus itself, eucad.walrus.tap).
"""

import threading

from eucad.walrus.inline import INLINE_MAX

#: The most entries kept, and the most bytes of objects among them.
MAX_ENTRIES = 20000
MAX_BYTES = 64 * 1024 * 1024


class ObjectCache:
    """
    (bucket row, object row, bytes or None) by (bucket name, key), valid for
    one generation.  The bytes are kept for objects of at most INLINE_MAX
    (those in their row, and small ones in a blob file, which is never
    changed once written: only a transaction makes a row name another).
    """

    def __init__(self, maxEntries=MAX_ENTRIES, maxBytes=MAX_BYTES):
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.entries = {}
        self.bytes = 0
        # A generation may be moved on from any thread (Database.transact
        # runs in the caller's), and only ever forwards, one step at a time.
        self._lock = threading.Lock()
        self.generation = 1

    def invalidate(self):
        """Forget everything kept: a transaction is starting or has ended."""
        with self._lock:
            self.generation += 1

    def get(self, bucketName, key):
        """(bucket row, object row, bytes or None) kept for this generation, or None."""
        entry = self.entries.get((bucketName, key))
        if entry is None:
            return None
        if entry[0] != self.generation:
            self._drop((bucketName, key))
            return None
        return entry[1], entry[2], entry[3]

    def put(self, generation, bucketName, key, bucket, obj, data=None):
        """
        Keep what a lookup of ``key`` that started in ``generation`` found
        (``data``: the object's bytes, if read), unless a transaction began
        or ended meanwhile.
        """
        if generation != self.generation or bucket is None or obj is None:
            return
        if data is None and obj.data is not None:
            data = obj.data
        if data is not None and (len(data) > INLINE_MAX or len(data) != obj.size):
            data = None
        size = len(data) if data is not None else 0
        if size > self.maxBytes:
            return
        name = (bucketName, key)
        self._drop(name)
        while self.entries and (len(self.entries) >= self.maxEntries
                                or self.bytes + size > self.maxBytes):
            self._drop(next(iter(self.entries)))
        self.entries[name] = (generation, bucket, obj, data, size)
        self.bytes += size

    def _drop(self, name):
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.bytes -= entry[4]


class WatchedDatabase:
    """
    A ``Database`` whose transactions move an ObjectCache's generation on,
    before they start and once they have ended; everything else is the
    database's own.
    """

    def __init__(self, database, cache):
        #: The Database watched (the one every tier of this process shares).
        self.database = database
        self.cache = cache

    def run(self, fn, *args, **kwargs):
        """``Database.run``, with the cache invalidated before and after."""
        self.cache.invalidate()
        d = self.database.run(fn, *args, **kwargs)
        d.addBoth(self._ended)
        return d

    def read(self, fn, *args, **kwargs):
        """``Database.run`` for a transaction that writes nothing (the cache stays)."""
        return self.database.run(fn, *args, **kwargs)

    def transact(self, fn, *args, **kwargs):
        """``Database.transact`` (in this thread), with the cache invalidated around it."""
        self.cache.invalidate()
        try:
            return self.database.transact(fn, *args, **kwargs)
        finally:
            self.cache.invalidate()

    def _ended(self, result):
        self.cache.invalidate()
        return result

    def __getattr__(self, name):
        return getattr(self.database, name)
