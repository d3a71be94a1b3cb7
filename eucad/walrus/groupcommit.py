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
(``submit(job, bucket)``); a batch whose jobs all do runs through the
database's ``runScoped`` (eucad.walrus.objectcache.WatchedDatabase), so
the cached reads of other buckets survive it.  A job that names no bucket
makes its batch an ordinary ``run``.
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from eucad.walrus.errors import S3Error

#: The most jobs one transaction takes.
MAX_BATCH = 64


class GroupCommit:
    """
    ``submit(job)`` runs ``job(connection)`` in a (shared) transaction of
    ``database`` (its ``run``, or ``runScoped`` for jobs that name their bucket).
    """

    def __init__(self, database, maxBatch=MAX_BATCH):
        self.database = database
        self.maxBatch = maxBatch
        self.waiting = []
        self.running = False

    def submit(self, job, bucket=None):
        """
        Deferred result of ``job(connection)``, fired once it is committed.
        ``bucket``: the name of the only bucket whose rows the job may
        change (its object rows, versions, tags and totals), if it says so.
        """
        d = defer.Deferred()
        self.waiting.append((job, d, bucket))
        self._next()
        return d

    def _run(self, buckets, fn, *args):
        """``database.run``, or ``runScoped`` when every job named its bucket."""
        if None in buckets:
            return self.database.run(fn, *args)
        return self.database.runScoped(buckets, fn, *args)

    def _next(self):
        if self.running or not self.waiting:
            return
        batch = self.waiting[:self.maxBatch]
        del self.waiting[:self.maxBatch]
        self.running = True
        d = self._run({bucket for _, _, bucket in batch}, _runBatch,
                      [job for job, _, _ in batch])
        d.addCallbacks(self._committed, self._rolledBack, callbackArgs=(batch,),
                       errbackArgs=(batch,))

    def _committed(self, outcomes, batch):
        self.running = False
        for (_, d, _), outcome in zip(batch, outcomes):
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
        for job, d, bucket in batch:
            try:
                result = yield self._run({bucket}, _runOne, job)
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
