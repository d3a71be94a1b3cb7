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
stores what it found only if no transaction began or ended while it ran
and none was under way when it ended: it saw the rows between writes, as
they still are.  So once a write's Deferred has fired, no reader can be
served what was there before it.  Only ``read(fn)`` transactions, which
change nothing, leave the generations alone.

A transaction's scope is the whole store unless it says otherwise: only
``runScoped(buckets, fn)`` names the buckets it may change, and then moves
on only those buckets' generations.  The group commit runs the small PUTs
and DELETEs that way (each job changes rows of its own bucket only: the
object's row, its versions and tags, the bucket's totals), so a write to
one bucket leaves every other bucket's entries in place, while any other
transaction (ACLs, policies, configurations, multipart, lifecycle, bucket
creation and deletion...) still empties the whole cache.

What is kept is bounded by entries and by the bytes of small objects;
past either bound the oldest entries go.  The cache is exact within one
process; a Walrus is the only writer of its tables (a Walrus daemon refuses
to start where the CLC's daemon serves Walrus itself, eucad.walrus.tap).
"""

import itertools
import threading

from eucad.walrus.inline import INLINE_MAX

#: The most entries kept, and the most bytes of objects among them.
MAX_ENTRIES = 20000
MAX_BYTES = 64 * 1024 * 1024
#: The most buckets whose own generation is remembered; past it, they all
#: start again (with the whole cache emptied once).
MAX_BUCKET_GENERATIONS = 4096


class ObjectCache:
    """
    (bucket row, object row, bytes or None) by (bucket name, key), valid for
    one generation of the store and of its bucket.  The bytes are kept for
    objects of at most INLINE_MAX (those in their row, and small ones in a
    blob file, which is never changed once written: only a transaction
    makes a row name another).
    """

    def __init__(self, maxEntries=MAX_ENTRIES, maxBytes=MAX_BYTES):
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.entries = {}
        self.bytes = 0
        # Generations move on from any thread (Database.transact runs in
        # the caller's), always under the lock; the reactor reads them
        # without it: a read that races a move sees a value no entry was
        # stored with, which is a miss, never a stale hit.
        self._lock = threading.Lock()
        #: Moved on by every transaction not scoped to buckets.
        self.generation = 1
        #: How many of those are under way.
        self.writing = 0
        #: bucket name -> the generation of its last scoped transaction
        #: (values from one counter: never seen twice).
        self.bucketGenerations = {}
        #: bucket name -> how many scoped transactions of it are under way.
        self.bucketWriting = {}
        self._bucketCounter = itertools.count(1)

    # -- the generations ----------------------------------------------------------
    def began(self, buckets=None):
        """A transaction of ``buckets`` (None: of anything) is starting."""
        self._move(buckets, 1)

    def ended(self, buckets=None):
        """A transaction begun with ``began(buckets)`` has ended (committed or not)."""
        self._move(buckets, -1)

    def invalidate(self):
        """Forget everything kept."""
        with self._lock:
            self.generation += 1

    def _move(self, buckets, step):
        with self._lock:
            if buckets is None:
                self.generation += 1
                self.writing += step
                return
            generations, writing = self.bucketGenerations, self.bucketWriting
            for name in buckets:
                generations[name] = next(self._bucketCounter)
                count = writing.get(name, 0) + step
                if count:
                    writing[name] = count
                else:
                    del writing[name]
            if len(generations) > MAX_BUCKET_GENERATIONS:
                # Every entry and every lookup under way is then of an
                # older store generation: none can match a bucket's fresh 0.
                self.generation += 1
                generations.clear()

    def snapshot(self, bucketName):
        """The generations a lookup in ``bucketName`` starting now is of (for ``put``)."""
        return self.generation, self.bucketGenerations.get(bucketName, 0)

    def unchangedSince(self, snapshot, bucketName):
        """
        True if what a lookup in ``bucketName`` that started at ``snapshot``
        found may be kept: no transaction that may change the bucket began
        or ended since, and none is under way now.
        """
        return (snapshot == self.snapshot(bucketName) and not self.writing
                and bucketName not in self.bucketWriting)

    # -- entries --------------------------------------------------------------------
    def get(self, bucketName, key):
        """(bucket row, object row, bytes or None) kept for these generations, or None."""
        entry = self.entries.get((bucketName, key))
        if entry is None:
            return None
        if entry[0] != (self.generation, self.bucketGenerations.get(bucketName, 0)):
            self._drop((bucketName, key))
            return None
        return entry[1], entry[2], entry[3]

    def put(self, snapshot, bucketName, key, bucket, obj, data=None):
        """
        Keep what a lookup of ``key`` that started at ``snapshot`` (the
        ``snapshot(bucketName)`` taken before it) found, with ``data`` (the
        object's bytes, if read), unless a transaction that may change it
        began or ended meanwhile, or is under way now.
        """
        if bucket is None or obj is None or not self.unchangedSince(snapshot, bucketName):
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
        self.entries[name] = (snapshot, bucket, obj, data, size)
        self.bytes += size

    def _drop(self, name):
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.bytes -= entry[4]


class WatchedDatabase:
    """
    A ``Database`` whose transactions move an ObjectCache's generations on,
    before they start and once they have ended; everything else is the
    database's own.
    """

    def __init__(self, database, cache):
        #: The Database watched (the one every tier of this process shares).
        self.database = database
        self.cache = cache

    def run(self, fn, *args, **kwargs):
        """``Database.run``, with the whole cache invalidated before and after."""
        return self._watched(None, fn, args, kwargs)

    def runScoped(self, buckets, fn, *args, **kwargs):
        """
        ``Database.run`` of a transaction that changes rows of ``buckets``
        (a collection of names) only: the cache's entries of other buckets stay.
        """
        return self._watched(frozenset(buckets), fn, args, kwargs)

    def read(self, fn, *args, **kwargs):
        """``Database.run`` for a transaction that writes nothing (the cache stays)."""
        return self.database.run(fn, *args, **kwargs)

    def transact(self, fn, *args, **kwargs):
        """``Database.transact`` (in this thread), with the cache invalidated around it."""
        self.cache.began()
        try:
            return self.database.transact(fn, *args, **kwargs)
        finally:
            self.cache.ended()

    def _watched(self, buckets, fn, args, kwargs):
        cache = self.cache
        cache.began(buckets)
        try:
            d = self.database.run(fn, *args, **kwargs)
        except BaseException:
            cache.ended(buckets)
            raise

        def ended(result):
            cache.ended(buckets)
            return result
        return d.addBoth(ended)

    def __getattr__(self, name):
        return getattr(self.database, name)
