"""The node's image cache: ``INSTANCE_PATH/eucalyptus/cache/<image-id>-<digest>/``.

Kernels, ramdisks and machine images are fetched once per node and shared by
every instance that boots them (instances overlay the machine image, they
never write to it).  An image's ``location`` is a local absolute path (the
lab places images that way) or an ``http(s)`` URL (a Walrus object); either
is copied into a temporary ``.partial-*`` directory, checked against the
image's digest when one is given, and renamed into place, so a half-written
or corrupt entry is never seen under its final name.  Requests for an image
that is already being fetched wait for that fetch instead of starting
another.

A digest is ``"<algorithm>:<hex>"`` (sha1, sha256, sha512, md5) or bare hex
whose length tells the algorithm.  An image without a digest is cached under
a hash of its location instead, so a new location gives a new entry.

A download that gets no response within ``responseTimeout``, or no body
data for ``idleTimeout``, fails (and so do the fetches waiting on it); a body
without a length that ends by a close is kept only when a digest proves it
whole.

Used by ``eucad.nc.instances``; copying and hashing run in a thread.
"""

import hashlib
import os
import shutil
import tempfile

from twisted.internet import defer, protocol, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import PotentialDataLoss, ResponseDone

from eucad.common.digests import parseDigest  # noqa: F401 (re-exported)

log = Logger()

#: The cached file's name inside its entry directory.
IMAGE_FILE = "image"

_CHUNK = 1024 * 1024

#: Chunks queued for the writing thread before the download is paused.
_MAX_QUEUED_CHUNKS = 16


class ImageFetchError(Exception):
    """An image could not be fetched into the cache."""


class DigestMismatch(ImageFetchError):
    """The fetched bytes do not have the digest the image record gives."""


def entryName(image):
    """The cache directory name of an image: ``<image-id>-<digest>``."""
    _, value = parseDigest(image.get("digest"))
    if value is None:
        value = "loc" + hashlib.sha256(image["location"].encode("utf-8")).hexdigest()[:32]
    return "%s-%s" % (image["id"], value)


class _PartialEntry:
    """
    A cache entry being written: a temporary directory that becomes the
    entry by one rename.  Every method runs in a thread.
    """

    def __init__(self, cacheDirectory, name, algorithm, expected):
        self.final = os.path.join(cacheDirectory, name)
        self.algorithm = algorithm
        self.expected = expected
        self.hash = hashlib.new(algorithm or "sha256")
        os.makedirs(cacheDirectory, exist_ok=True)
        self.directory = tempfile.mkdtemp(prefix=".partial-%s-" % (name,),
                                          dir=cacheDirectory)
        self.file = open(os.path.join(self.directory, IMAGE_FILE), "wb")
        self.size = 0

    def write(self, chunk):
        self.hash.update(chunk)
        self.size += len(chunk)
        # Images are mostly zeros (a file system with room to spare): skip
        # over zero chunks so the cached copy stays sparse.
        if chunk.count(0) == len(chunk):
            self.file.seek(len(chunk), os.SEEK_CUR)
        else:
            self.file.write(chunk)

    def commit(self):
        """Check the digest, then make the entry visible; return its path."""
        try:
            self.file.truncate(self.size)
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if self.expected is not None and self.hash.hexdigest() != self.expected:
                raise DigestMismatch("%s digest %s, expected %s" % (
                    self.algorithm, self.hash.hexdigest(), self.expected))
            try:
                os.rename(self.directory, self.final)
            except OSError:
                # Someone else (another NC process) finished the same entry.
                if not os.path.isfile(os.path.join(self.final, IMAGE_FILE)):
                    raise
                self.abandon()
        except BaseException:
            self.abandon()
            raise
        return os.path.join(self.final, IMAGE_FILE)

    def abandon(self):
        if not self.file.closed:
            self.file.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _existing(path):
    return path if os.path.isfile(path) else None


class _DownloadToEntry(protocol.Protocol):
    """
    Streams an HTTP response body into a _PartialEntry, chunk after chunk in
    the thread, pausing the download while the disk lags behind.

    A server that sends nothing for ``idleTimeout`` seconds (while the
    download is not paused by us) fails the download, so a stalled Walrus
    cannot hold a launch, and every launch waiting on the same image, forever.
    """

    def __init__(self, entry, runInThread, clock, idleTimeout, url):
        self.entry = entry
        self.runInThread = runInThread
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.url = url
        self.writes = defer.succeed(None)
        self.queued = 0
        self.paused = False
        self.finished = False
        self.idleTimer = None
        self.done = defer.Deferred()

    def connectionMade(self):
        self._restartIdleTimer()

    def _restartIdleTimer(self):
        self._stopIdleTimer()
        if not self.finished and not self.paused:
            self.idleTimer = self.clock.callLater(self.idleTimeout, self._idle)

    def _stopIdleTimer(self):
        if self.idleTimer is not None and self.idleTimer.active():
            self.idleTimer.cancel()
        self.idleTimer = None

    def _idle(self):
        self.idleTimer = None
        self.transport.stopProducing()
        self._finish(Failure(ImageFetchError(
            "GET %s: no data for %g seconds" % (self.url, self.idleTimeout))))

    def dataReceived(self, data):
        if self.finished:
            return
        self.queued += 1
        if self.queued > _MAX_QUEUED_CHUNKS and not self.paused:
            self.paused = True
            self.transport.pauseProducing()
        self._restartIdleTimer()
        self.writes.addCallback(lambda _: self.runInThread(self.entry.write, data))
        self.writes.addBoth(self._written)

    def _written(self, result):
        self.queued -= 1
        if self.paused and self.queued <= _MAX_QUEUED_CHUNKS // 2 and not self.finished:
            self.paused = False
            self.transport.resumeProducing()
            self._restartIdleTimer()
        return result

    def connectionLost(self, reason):
        if reason.check(PotentialDataLoss) and self.entry.expected is None:
            # No Content-Length and the connection closed: nothing tells a
            # whole body from a cut one, and without a digest a truncated
            # image would be cached for good.
            reason = Failure(ImageFetchError(
                "GET %s: the body had no length and no digest to check it" % (self.url,)))
        self._finish(reason)

    def _finish(self, reason):
        if self.finished:
            return
        self.finished = True
        self._stopIdleTimer()
        if reason.check(ResponseDone, PotentialDataLoss):
            self.writes.addCallback(lambda _: self.runInThread(self.entry.commit))
        else:
            self.writes.addCallback(lambda _: reason)
        self.writes.addErrback(self._abandon)
        self.writes.chainDeferred(self.done)

    def _abandon(self, failure):
        return self.runInThread(self.entry.abandon).addBoth(lambda _: failure)


class ImageCache:
    """
    @param directory: the cache root (``INSTANCE_PATH/eucalyptus/cache``).
    @param runInThread: ``f(callable, *args) -> Deferred``.
    @param httpClient: an object with treq's ``get`` (treq itself, or a
        ``treq.testing.StubTreq``).
    @param clock: IReactorTime for the HTTP timeouts.
    @param responseTimeout: seconds to connect and get the response headers.
    @param idleTimeout: seconds the body may go without data.
    """

    def __init__(self, directory, runInThread=None, httpClient=None, clock=None,
                 responseTimeout=60.0, idleTimeout=60.0):
        self.directory = directory
        self.runInThread = runInThread or threads.deferToThread
        if httpClient is None:
            import treq as httpClient
        self.httpClient = httpClient
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
        self._inFlight = {}

    def pathFor(self, image):
        """Where the image's bytes are once cached."""
        return os.path.join(self.directory, entryName(image), IMAGE_FILE)

    def fetch(self, image):
        """
        Make sure ``image`` is cached.

        @param image: ``{"id", "kind", "location", "digest"}``.
        @return: Deferred firing with the cached file's path; failing with
            ImageFetchError (DigestMismatch for corrupt bytes).
        """
        try:
            name = entryName(image)
        except ValueError as e:
            return defer.fail(ImageFetchError(str(e)))
        if name in self._inFlight:
            waiter = defer.Deferred()
            self._inFlight[name].append(waiter)
            return waiter
        self._inFlight[name] = []
        d = self.runInThread(_existing, self.pathFor(image))
        d.addCallback(self._fetchIfMissing, image, name)
        d.addBoth(self._finished, name)
        return d

    def _finished(self, result, name):
        for waiter in self._inFlight.pop(name):
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
        return result

    def _fetchIfMissing(self, path, image, name):
        if path is not None:
            return path
        location = image["location"]
        algorithm, expected = parseDigest(image.get("digest"))
        log.info("fetching {id} from {location} into the image cache",
                 id=image["id"], location=location)
        if location.startswith(("http://", "https://")):
            return self._download(location, name, algorithm, expected)
        if os.path.isabs(location):
            return self.runInThread(self._copyLocal, location, name,
                                    algorithm, expected)
        raise ImageFetchError("image location %r is neither an absolute path"
                              " nor an http(s) URL" % (location,))

    def _copyLocal(self, source, name, algorithm, expected):
        try:
            src = open(source, "rb")
        except OSError as e:
            raise ImageFetchError("cannot read %s: %s" % (source, e.strerror))
        with src:
            entry = _PartialEntry(self.directory, name, algorithm, expected)
            try:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    entry.write(chunk)
            except BaseException:
                entry.abandon()
                raise
            return entry.commit()

    @defer.inlineCallbacks
    def _download(self, url, name, algorithm, expected):
        try:
            # Cancelling the request (on timeout) closes its connection.
            response = yield self.httpClient.get(url, unbuffered=True).addTimeout(
                self.responseTimeout, self.clock)
        except defer.TimeoutError:
            raise ImageFetchError("GET %s: no response in %g seconds" % (
                url, self.responseTimeout))
        except Exception as e:
            raise ImageFetchError("GET %s failed: %s" % (url, e))
        if response.code != 200:
            try:
                yield self.httpClient.content(response).addTimeout(
                    self.idleTimeout, self.clock)
            except Exception:
                pass  # only read to free the connection; the status says it all
            raise ImageFetchError("GET %s answered HTTP %d" % (url, response.code))
        entry = yield self.runInThread(_PartialEntry, self.directory, name,
                                       algorithm, expected)
        download = _DownloadToEntry(entry, self.runInThread, self.clock,
                                    self.idleTimeout, url)
        response.deliverBody(download)
        path = yield download.done
        defer.returnValue(path)
