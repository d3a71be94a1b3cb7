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
moves the cache's generations on before the transaction starts and again
when it has ended, on the reactor, before whoever asked hears the result.
An entry is valid only in the generations it was stored in, and a lookup
stores what it found only if no transaction that may change its key began
or ended while it ran and none was under way when it ended: it saw the rows
between writes, as they still are.  So once a write's Deferred has fired,
no reader can be served what was there before it.  Only ``read(fn)``
transactions, which change nothing, leave the generations alone.

A transaction's scope is the whole store unless it says otherwise:
``runScoped(buckets, fn, keys=...)`` names the buckets it may change as a
whole, and the keys ((bucket, key) pairs) whose rows alone it may change
(the object's row, its versions and tags, and its bucket's totals).  The
group commit runs the small PUTs and DELETEs by key, so a PUT of one key
leaves the entries of every other key in place, while any other transaction
(ACLs, policies, configurations, copies, multipart, lifecycle, bucket
creation and deletion...) still empties the whole cache.  A key's
generation is that of its slot among ``KEY_SLOTS`` (a hash of bucket and
key): keys that share a slot cost each other a miss, never a stale answer,
and what is remembered stays bounded however many keys are written.
Listings (eucad.walrus.listingcache) are of a whole bucket, and take the
bucket's generation that every transaction in it moves, by key or not.

What the cache keeps of a bucket's row has no totals (object count, bytes
used): every PUT of any of its keys changes them, and GET and HEAD do not
read them.

A PUT that commits a whole object through the group commit also leaves its
row in the cache (write-through), in the generations its own end moved to,
so the next GET of the key is answered from memory: ``ended`` tells which
of the transaction's keys no other transaction may have changed since it
began (none of their scope began, ended or is under way besides it), and
only those rows are kept.  Copies and multipart completions just move the
generations on; the next GET looks their key up.

What is kept is bounded by entries and by the bytes of small objects;
past either bound the oldest entries go.  The cache is exact within one
process; a Walrus is the only writer of its tables (a Walrus daemon refuses
to start where the CLC's daemon serves Walrus itself, eucad.walrus.tap).
"""

import itertools
import threading

from twisted.logger import Logger
from twisted.python.failure import Failure

from eucad.walrus.inline import INLINE_MAX

#: The most entries kept, and the most bytes of objects among them.
MAX_ENTRIES = 20000
MAX_BYTES = 64 * 1024 * 1024
#: The most buckets whose own generations are remembered; past it, they all
#: start again (with the whole cache emptied once).
MAX_BUCKET_GENERATIONS = 4096
#: How many key generations there are (a power of two): a key has its slot's.
KEY_SLOTS = 1 << 16
_SLOT_MASK = KEY_SLOTS - 1

_log = Logger()


def _slot(name):
    """The key slot of a (bucket name, key) pair."""
    return hash(name) & _SLOT_MASK


class ObjectCache:
    """
    (bucket row, object row, bytes or None) by (bucket name, key), valid for
    one generation of the store, of its bucket and of its key.  The bytes
    are kept for objects of at most INLINE_MAX (those in their row, and
    small ones in a blob file, which is never changed once written: only a
    transaction makes a row name another).
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
        #: Moved on by every transaction not scoped to buckets or keys.
        self.generation = 1
        #: How many of those are under way.
        self.writing = 0
        #: bucket name -> the generation of its last scoped transaction of
        #: any kind, by key or whole (what its listings are valid in); how
        #: many of those are under way.  Values come from one counter, with
        #: those below: none is ever seen twice.
        self.bucketGenerations = {}
        self.bucketWriting = {}
        #: bucket name -> the generation of its last transaction scoped to
        #: the whole bucket; how many of those are under way.
        self.wholeGenerations = {}
        self.wholeWriting = {}
        #: key slot -> the generation of its last transaction by key; how
        #: many of those are under way.
        self.slotGenerations = [0] * KEY_SLOTS
        self.slotWriting = [0] * KEY_SLOTS
        self._counter = itertools.count(1)

    # -- the generations ----------------------------------------------------------
    def began(self, buckets=None, keys=()):
        """
        A transaction is starting that may change ``buckets`` as a whole
        (None: anything) and the rows of ``keys`` ((bucket, key) pairs).
        Returns what ``ended`` takes to tell which keys it wrote alone.
        """
        with self._lock:
            self._move(buckets, keys, 1)
            if buckets is None:
                return None
            return {name: self.snapshot(*name) for name in keys}

    def ended(self, buckets=None, keys=(), began=None):
        """
        A transaction begun with ``began(buckets, keys)`` has ended
        (committed or not).  Given what ``began`` returned: {(bucket, key):
        the generations it is in now} for each of ``keys`` that no other
        transaction may have changed since then (what this one left there
        is what the database holds), for ``put``.
        """
        with self._lock:
            alone = ()
            if began is not None:
                alone = [name for name, seen in began.items()
                         if name[0] not in buckets and self._alone(name, seen)]
            self._move(buckets, keys, -1)
            return {name: self.snapshot(*name) for name in alone}

    def invalidate(self):
        """Forget everything kept."""
        with self._lock:
            self.generation += 1

    def _alone(self, name, seen):
        """(under the lock) whether only the transaction that saw ``seen`` wrote ``name`` since."""
        slot = _slot(name)
        return (seen == self.snapshot(*name) and not self.writing
                and name[0] not in self.wholeWriting and self.slotWriting[slot] == 1)

    def _move(self, buckets, keys, step):
        if buckets is None:
            self.generation += 1
            self.writing += step
            return
        counter = self._counter
        touched = {bucketName for bucketName, _ in keys}
        if buckets:
            touched.update(buckets)
            _count(self.wholeGenerations, self.wholeWriting, buckets, step, counter)
        _count(self.bucketGenerations, self.bucketWriting, touched, step, counter)
        generations, writing = self.slotGenerations, self.slotWriting
        for slot in {_slot(name) for name in keys}:
            generations[slot] = next(counter)
            writing[slot] += step
        if len(self.bucketGenerations) > MAX_BUCKET_GENERATIONS:
            # Every entry and every lookup under way is then of an older
            # store generation: none can match a bucket's fresh 0.
            self.generation += 1
            self.bucketGenerations.clear()
            self.wholeGenerations.clear()

    def snapshot(self, bucketName, key=None):
        """
        The generations a lookup of ``key`` in ``bucketName`` starting now
        is of (for ``put``); without a key, those of a query of the whole
        bucket (a listing).
        """
        if key is None:
            return self.generation, self.bucketGenerations.get(bucketName, 0)
        return (self.generation, self.wholeGenerations.get(bucketName, 0),
                self.slotGenerations[_slot((bucketName, key))])

    def unchangedSince(self, snapshot, bucketName, key=None):
        """
        True if what a lookup of ``key`` in ``bucketName`` (without a key:
        a query of the whole bucket) that started at ``snapshot`` found may
        be kept: no transaction that may change it began or ended since,
        and none is under way now.
        """
        if snapshot != self.snapshot(bucketName, key) or self.writing:
            return False
        if key is None:
            return bucketName not in self.bucketWriting
        return (bucketName not in self.wholeWriting
                and not self.slotWriting[_slot((bucketName, key))])

    # -- entries --------------------------------------------------------------------
    def get(self, bucketName, key):
        """(bucket row, object row, bytes or None) kept for these generations, or None."""
        name = (bucketName, key)
        entry = self.entries.get(name)
        if entry is None:
            return None
        if entry[0] != (self.generation, self.wholeGenerations.get(bucketName, 0),
                        self.slotGenerations[_slot(name)]):
            self._drop(name)
            return None
        return entry[1], entry[2], entry[3]

    def put(self, snapshot, bucketName, key, bucket, obj, data=None):
        """
        Keep what a lookup of ``key`` that started at ``snapshot`` (the
        ``snapshot(bucketName, key)`` taken before it) found, with ``data``
        (the object's bytes, if read), unless a transaction that may change
        it began or ended meanwhile, or is under way now.  The bucket row
        is kept without its totals.
        """
        if bucket is None or obj is None or not self.unchangedSince(snapshot, bucketName, key):
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
        self.entries[name] = (snapshot, bucket.withoutTotals(), obj, data, size)
        self.bytes += size

    def _drop(self, name):
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.bytes -= entry[4]


def _count(generations, writing, names, step, counter):
    """Move on the generations of ``names``; ``step`` more transactions of each under way."""
    for name in names:
        generations[name] = next(counter)
        count = writing.get(name, 0) + step
        if count:
            writing[name] = count
        else:
            del writing[name]


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
        return self._watched(None, (), fn, args, kwargs)

    def runScoped(self, buckets, fn, *args, keys=(), written=None, **kwargs):
        """
        ``Database.run`` of a transaction that changes rows of ``buckets``
        (a collection of names) and of ``keys`` ((bucket name, key) pairs:
        the object's row, its versions and tags, the bucket's totals) only:
        the cache's entries of other buckets and keys stay.

        ``written(result)``, called once the transaction has committed, gives
        [(bucket name, key, bucket row, object row)]: the rows it left as
        current for some of ``keys``, which the cache then keeps for those
        of them that no other transaction may have changed meanwhile.
        """
        return self._watched(frozenset(buckets), frozenset(keys), fn, args, kwargs, written)

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

    def _watched(self, buckets, keys, fn, args, kwargs, written=None):
        cache = self.cache
        began = cache.began(buckets, keys)
        try:
            d = self.database.run(fn, *args, **kwargs)
        except BaseException:
            cache.ended(buckets, keys)
            raise

        def ended(result):
            fresh = cache.ended(buckets, keys, began if written is not None else None)
            if fresh and not isinstance(result, Failure):
                self._keep(fresh, written, result)
            return result
        return d.addBoth(ended)

    def _keep(self, fresh, written, result):
        """Put in the cache the rows ``written(result)`` gives for the keys in ``fresh``."""
        try:
            rows = written(result)
        except Exception:
            # The transaction has committed: its caller hears so, and the
            # key is looked up again by its next reader.
            _log.failure("finding the rows a committed transaction wrote")
            return
        for bucketName, key, bucket, obj in rows:
            snapshot = fresh.get((bucketName, key))
            if snapshot is not None:
                self.cache.put(snapshot, bucketName, key, bucket, obj)

    def __getattr__(self, name):
        return getattr(self.database, name)
