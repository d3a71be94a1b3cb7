"""Committing the metadata of many PUTs in one database transaction.

A small PUT ends with a short write transaction (its object row and the
bucket's totals).  While the I/O threads fsync other uploads, each commit
waits on the filesystem's journal and on the GIL, and with SQLite's single
writer thread those commits queued up one behind the other (measured: 0.3 ms
alone, 1.1 ms mean beside eight fsyncing threads).  ``GroupCommit`` runs the
commits that wait together in one transaction instead: one begin and one
commit for all of them, and no commit waits behind a queue of others.

Each job is a function ``job(connection)`` that first checks (raising
S3Error, which makes it fail alone) and only then writes: a job must not
raise S3Error once it has written, since its neighbours' commit would keep
what it wrote.  If
the shared transaction fails for any other reason, it is rolled back and
each of its jobs is run again in a transaction of its own, so one bad job
cannot fail its neighbours.  A job's Deferred fires only after the
transaction holding its writes has committed, as with ``Database.run``.

Jobs run in the database's thread pool, one batch at a time, in the order
they were submitted.  A job may name the one bucket whose rows it changes
(``submit(job, bucket)``), and the one key too (``submit(job, bucket,
key)``: the object's row, its versions and tags, the bucket's totals); a
batch whose jobs all name their bucket runs through the database's
``runScoped`` (eucad.walrus.objectcache.WatchedDatabase), so the cached
reads of other buckets, and of other keys, survive it.  A job that names
no bucket makes its batch an ordinary ``run``.  A job that writes a key's
whole current row says which it is (``written``), so the object cache can
keep it once committed; a key that two jobs of one batch write is left to
be looked up again.
"""

from collections import Counter

from twisted.internet import defer
from twisted.python.failure import Failure

from eucad.walrus.errors import S3Error

#: The most jobs one transaction takes.
MAX_BATCH = 64


class GroupCommit:
    """
    ``submit(job)`` runs ``job(connection)`` in a (shared) transaction of
    ``database`` (its ``run``, or ``runScoped`` for jobs that name their
    bucket, or their key).
    """

    def __init__(self, database, maxBatch=MAX_BATCH):
        self.database = database
        self.maxBatch = maxBatch
        self.waiting = []
        self.running = False

    def submit(self, job, bucket=None, key=None, written=None):
        """
        Deferred result of ``job(connection)``, fired once it is committed.
        ``bucket``: the name of the only bucket whose rows the job may
        change (its object rows, versions, tags and totals), if it says so;
        ``key``: the only key of it whose rows it may change, if it says
        so.  ``written(result)``: (bucket row, object row) the job left as
        the key's current row, for the object cache.
        """
        d = defer.Deferred()
        self.waiting.append((job, d, bucket, key, written))
        self._next()
        return d

    def _run(self, batch, fn, *args, alone=False):
        """``database.run``, or ``runScoped`` when every job named its bucket."""
        if any(bucket is None for _, _, bucket, _, _ in batch):
            return self.database.run(fn, *args)
        buckets = {bucket for _, _, bucket, key, _ in batch if key is None}
        keys = [(bucket, key) for _, _, bucket, key, _ in batch if key is not None]
        written = None
        if any(entry[4] is not None for entry in batch):
            def written(result):
                return _written(batch, [result] if alone else result, buckets, keys)
        return self.database.runScoped(buckets, fn, *args, keys=keys, written=written)

    def _next(self):
        if self.running or not self.waiting:
            return
        batch = self.waiting[:self.maxBatch]
        del self.waiting[:self.maxBatch]
        self.running = True
        d = self._run(batch, _runBatch, [entry[0] for entry in batch])
        d.addCallbacks(self._committed, self._rolledBack, callbackArgs=(batch,),
                       errbackArgs=(batch,))

    def _committed(self, outcomes, batch):
        self.running = False
        for (_, d, _, _, _), outcome in zip(batch, outcomes):
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(outcome)
        self._next()

    def _rolledBack(self, failure, batch):
        if len(batch) == 1:
            self.running = False
            batch[0][1].errback(failure)
            self._next()
        else:
            self._runAlone(batch)

    @defer.inlineCallbacks
    def _runAlone(self, batch):
        """Each job of a failed batch in its own transaction, one after another."""
        for entry in batch:
            job, d = entry[:2]
            try:
                result = yield self._run([entry], _runOne, job, alone=True)
            except Exception:
                d.errback(Failure())
            else:
                d.callback(result)
        self.running = False
        self._next()


def _runBatch(session, jobs):
    """(in the database thread) every job in one transaction; their outcomes."""
    connection = session.connection()
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job(connection))
        except S3Error:
            outcomes.append(Failure())
    return outcomes


def _runOne(session, job):
    return job(session.connection())


def _written(batch, outcomes, buckets, keys):
    """
    [(bucket name, key, bucket row, object row)] that the jobs of a
    committed batch left as current, for keys only one job of it wrote.
    """
    shared = set()
    if len(keys) > 1:
        shared = {name for name, count in Counter(keys).items() if count > 1}
    found = []
    for (_, _, bucket, key, written), outcome in zip(batch, outcomes):
        if written is None or isinstance(outcome, Failure) or bucket in buckets \
                or (bucket, key) in shared:
            continue
        bucketRow, obj = written(outcome)
        found.append((bucket, key, bucketRow, obj))
    return found
