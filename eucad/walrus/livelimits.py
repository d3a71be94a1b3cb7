"""Walrus's bucket limits as the administrator set them last, without a restart.

The configuration page stores the limits in ``cloud_settings``
(``eucad.common.cloudsettings``), in the database Walrus shares with the
CLC; eucalyptus.conf gives them until then.  ``LiveLimits`` is what the
store consults (``maxBucketsPerUser``, ``maxBucketBytes``, read in the
database's worker threads when a bucket is made or an object written): it
reads the rows again once its copy is older than ``maxAge`` seconds, so a
change is in force within that time, and one read serves every request
meanwhile rather than adding a query to each upload.
"""

import threading
import time

from twisted.logger import Logger

from eucad.common import cloudsettings

_log = Logger()

#: Seconds a read of the settings serves before the next request reads them again.
MAX_AGE = 1.0


class LiveLimits:
    """Per-user bucket count and per-bucket bytes (0: unlimited), kept fresh."""

    def __init__(self, database, conf, clock=time.monotonic, maxAge=MAX_AGE):
        self.database = database
        self.conf = conf
        self.clock = clock
        self.maxAge = maxAge
        self._lock = threading.Lock()
        self._readAt = None
        self._values = None

    def _read(self, session):
        return {key: cloudsettings.setting(session, self.conf, key)
                for key in ("WALRUS_MAX_BUCKETS_PER_USER", "WALRUS_MAX_BUCKET_SIZE_MB")}

    def _current(self):
        now = self.clock()
        with self._lock:
            if self._readAt is not None and now - self._readAt < self.maxAge:
                return self._values
        try:
            values = self.database.transact(self._read)
        except Exception:
            if self._values is None:
                raise
            _log.failure("Reading Walrus's limits failed; the last ones stay in force")
            return self._values
        with self._lock:
            self._values, self._readAt = values, now
        return values

    @staticmethod
    def _number(text):
        try:
            return max(0, int(text or 0))
        except ValueError:
            return 0

    @property
    def maxBucketsPerUser(self):
        return self._number(self._current()["WALRUS_MAX_BUCKETS_PER_USER"])

    @property
    def maxBucketBytes(self):
        return self._number(self._current()["WALRUS_MAX_BUCKET_SIZE_MB"]) * 1024 * 1024
