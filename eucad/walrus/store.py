"""The bucket store: every Walrus operation on metadata and blobs, as Deferreds.

The resource tree decides *what* a request asks; ``WalrusStore`` does it:
each operation is one database transaction (run by ``Database.run`` in its
thread pool) plus blob file work in the I/O pool.  Data is always made
durable before the transaction that names it commits, and blobs a commit
stops naming are removed after it (``eucad.walrus.blobs`` explains why that
order is crash-safe).

Permission checks are passed in as ``check(bucketRow)`` callables and run
inside the transaction, so the decision and the write see the same rows.
Configured limits (buckets per user, bytes per bucket) are enforced here.

The operations are grouped by what they act on: ``BucketStore``
(eucad.walrus.bucketstore), ``ObjectStore`` (eucad.walrus.objectstore) and
``UploadStore`` (eucad.walrus.uploadstore), ``VersionStore``
(eucad.walrus.versionstore) and ``LifecycleStore`` (eucad.walrus.lifecyclestore), over the shared ``StoreBase``
(eucad.walrus.storebase); ``WalrusStore`` is all of them at once.
"""

from eucad.walrus.bucketstore import BucketStore
from eucad.walrus.configstore import ConfigStore
from eucad.walrus.lifecyclestore import LifecycleStore
from eucad.walrus.objectstore import ObjectStore
from eucad.walrus.uploadstore import UploadStore
from eucad.walrus.versionstore import VersionStore


class WalrusStore(BucketStore, ObjectStore, UploadStore, VersionStore, LifecycleStore,
                  ConfigStore):
    """
    ``database`` is an ``eucad.common.db.Database`` (``run`` and
    ``transact``); ``blobs`` a BlobDirectory; ``runIo(fn, *args)`` runs
    blocking file work and returns a Deferred.
    """
