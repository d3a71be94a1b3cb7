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

Images registered from bundles come from the cloud's image delivery port
(``https://.../images/<id>``, mutual TLS with the node's certificate:
``nodeHttpClient``).  While the image is still being decrypted there the
answer is ``503`` with ``Retry-After``: the fetch asks again, for at most
``readyTimeout`` seconds in all, instead of failing the launch.

The cache holds at most ``capacity`` bytes (``NC_CACHE_SIZE`` MiB): before an
image is fetched, the least recently used entries that no instance uses
(``inUse``) are removed to make room for it.  ``start`` checks what is on
disk: half-written ``.partial-*`` directories and entries whose image is
missing or not the size recorded when it was written are removed.

Used by ``eucad.nc.instances``; copying and hashing run in a thread.
"""

import hashlib
import json
import os
import shutil
import tempfile

from twisted.application.service import Service
from twisted.internet import defer, protocol, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import PotentialDataLoss, ResponseDone

from eucad.common.digests import parseDigest  # noqa: F401 (re-exported)

log = Logger()

#: The cached file's name inside its entry directory.
IMAGE_FILE = "image"
#: Beside it: its size, written once the image is whole (``start`` checks it).
RECORD_FILE = "record.json"
PARTIAL_PREFIX = ".partial-"

#: Bounds on how long a fetch waits between asks for an image still pending.
MIN_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 10.0

_CHUNK = 1024 * 1024

#: Chunks queued for the writing thread before the download is paused.
_MAX_QUEUED_CHUNKS = 16


class ImageFetchError(Exception):
    """An image could not be fetched into the cache."""


class DigestMismatch(ImageFetchError):
    """The fetched bytes do not have the digest the image record gives."""


class CacheFull(ImageFetchError):
    """The image does not fit beside the images instances use."""


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
        self.directory = tempfile.mkdtemp(prefix=PARTIAL_PREFIX + "%s-" % (name,),
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
            with open(os.path.join(self.directory, RECORD_FILE), "w") as record:
                json.dump({"size": self.size}, record)
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
    """The cached image's path, marked used (the LRU order), or None."""
    if not os.path.isfile(path):
        return None
    try:
        os.utime(os.path.dirname(path))
    except OSError:
        pass
    return path


def _entrySize(entryDirectory):
    """The recorded size of a whole entry, or None when it is not whole."""
    try:
        with open(os.path.join(entryDirectory, RECORD_FILE)) as f:
            size = json.load(f)["size"]
        if os.path.getsize(os.path.join(entryDirectory, IMAGE_FILE)) != size:
            return None
        return size
    except (OSError, ValueError, KeyError, TypeError):
        return None


def scanCache(directory):
    """
    Worker thread, at start: remove what is half written or damaged; return
    ``{entryName: (size, lastUsed)}`` of the whole entries.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    found = {}
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        size = None if name.startswith(PARTIAL_PREFIX) else _entrySize(path)
        if size is None:
            log.info("image cache: removing {name} (incomplete or damaged)", name=name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            continue
        found[name] = (size, os.stat(path).st_mtime)
    return found


def _removeEntries(directory, names):
    for name in names:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _usedBytes(directory):
    """Worker thread: ``{entryName: (size, lastUsed)}`` of the whole entries now."""
    found = {}
    if not os.path.isdir(directory):
        return found
    for name in os.listdir(directory):
        if name.startswith(PARTIAL_PREFIX):
            continue
        path = os.path.join(directory, name)
        size = _entrySize(path)
        if size is not None:
            found[name] = (size, os.stat(path).st_mtime)
    return found


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
    @param capacity: the most bytes of images kept (None: no cap).
    @param readyTimeout: seconds to keep asking for an image still pending.
    @param inUse: ``inUse()`` -> names of entries no eviction may remove.
    """

    def __init__(self, directory, runInThread=None, httpClient=None, clock=None,
                 responseTimeout=60.0, idleTimeout=60.0, capacity=None,
                 readyTimeout=600.0, inUse=None):
        self.directory = directory
        self.capacity = capacity
        self.readyTimeout = readyTimeout
        #: ``inUse()`` -> entry names (``entryName``) instances still use.
        self.inUse = inUse or (lambda: ())
        #: How many downloads were started (each fetch of a missing image).
        self.downloads = 0
        self._checking = None
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

    def start(self):
        """
        Check the cache on disk (a Deferred of the entries kept); fetches
        asked meanwhile wait for it, so the check never meets a fetch's files.
        """
        self._checking = self.runInThread(scanCache, self.directory)

        def checked(result):
            self._checking = None
            return result
        return self._checking.addBoth(checked)

    @defer.inlineCallbacks
    def makeRoom(self, size, keep):
        """
        Remove least recently used entries (not ``keep``, none in use) until
        ``size`` more bytes fit within the capacity; CacheFull if they cannot.
        """
        if self.capacity is None:
            return
        entries = yield self.runInThread(_usedBytes, self.directory)
        held = set(self.inUse()) | {keep} | set(self._inFlight)
        used = sum(size for size, _ in entries.values())
        victims = []
        for name, (entrySize, _) in sorted(entries.items(), key=lambda kv: kv[1][1]):
            if used + size <= self.capacity:
                break
            if name in held:
                continue
            victims.append(name)
            used -= entrySize
        if used + size > self.capacity:
            raise CacheFull("the image (%d bytes) does not fit in the image cache "
                            "(%d bytes, %d used by images in use)"
                            % (size, self.capacity, used))
        if victims:
            log.info("image cache: evicting {names}", names=" ".join(victims))
            yield self.runInThread(_removeEntries, self.directory, victims)

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
        d = defer.succeed(None)
        if self._checking is not None:
            waiter = defer.Deferred()
            self._checking.addBoth(lambda result: (waiter.callback(None), result)[1])
            d = waiter
        d.addCallback(lambda _: self.runInThread(_existing, self.pathFor(image)))
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
        self.downloads += 1
        if location.startswith(("http://", "https://")):
            return self._download(location, name, algorithm, expected)
        if os.path.isabs(location):
            d = self.runInThread(os.path.getsize, location)
            d.addCallbacks(self.makeRoom, lambda f: None, callbackArgs=(name,))
            d.addCallback(lambda _: self.runInThread(self._copyLocal, location, name,
                                                     algorithm, expected))
            return d
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
    def _get(self, url):
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
                body = yield self.httpClient.content(response).addTimeout(
                    self.idleTimeout, self.clock)
            except Exception:
                body = b""  # only read to free the connection
            return response, body[:300].decode("utf-8", "replace").strip()
        return response, None

    @defer.inlineCallbacks
    def _readyResponse(self, url):
        """The 200 response to GET ``url``, asking again while it answers 503."""
        deadline = self.clock.seconds() + self.readyTimeout
        while True:
            response, message = yield self._get(url)
            if response.code == 200:
                return response
            if response.code != 503:
                raise ImageFetchError("GET %s answered HTTP %d: %s" % (
                    url, response.code, message))
            wait = _retryAfter(response)
            if self.clock.seconds() + wait > deadline:
                raise ImageFetchError("GET %s: still not ready after %g seconds (%s)" % (
                    url, self.readyTimeout, message))
            log.info("{url} is not ready ({message}); asking again in {wait} s",
                     url=url, message=message, wait=wait)
            yield task.deferLater(self.clock, wait, lambda: None)

    @defer.inlineCallbacks
    def _download(self, url, name, algorithm, expected):
        response = yield self._readyResponse(url)
        if isinstance(getattr(response, "length", None), int):
            try:
                yield self.makeRoom(response.length, name)
            except CacheFull:
                response.deliverBody(_Discard())
                raise
        entry = yield self.runInThread(_PartialEntry, self.directory, name,
                                       algorithm, expected)
        download = _DownloadToEntry(entry, self.runInThread, self.clock,
                                    self.idleTimeout, url)
        response.deliverBody(download)
        path = yield download.done
        defer.returnValue(path)


class _Discard(protocol.Protocol):
    """Takes a response body nobody wants, so its connection is freed."""

    def connectionMade(self):
        self.transport.stopProducing()


def _retryAfter(response):
    """The seconds a 503's ``Retry-After`` asks for, within sane bounds."""
    values = response.headers.getRawHeaders(b"retry-after") or [b""]
    try:
        wait = float(values[0])
    except ValueError:
        wait = 2.0
    return min(max(wait, MIN_RETRY_SECONDS), MAX_RETRY_SECONDS)


def cacheCapacity(conf):
    """``NC_CACHE_SIZE`` (MiB) in bytes; 0 means no cap."""
    megabytes = conf.getInt("NC_CACHE_SIZE")
    return megabytes * 1024 * 1024 if megabytes > 0 else None


def nodeHttpClient(layout, reactor=None):
    """
    A treq client whose https requests present this node's certificate and
    accept only a server with the cloud's (the image delivery port's).
    The node's keys are read on the first connection, not before.
    """
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool
    from twisted.web.iweb import IPolicyForHTTPS
    from zope.interface import implementer

    from eucad.common import trust
    if reactor is None:
        from twisted.internet import reactor
    credentials = trust.LazyCredentials(layout, "node")

    @implementer(IPolicyForHTTPS)
    class CloudOnly:
        def creatorForNetloc(self, hostname, port):
            return credentials.clientOptions(hostname.decode("ascii"), expectRole="cloud")

    return HTTPClient(Agent(reactor, contextFactory=CloudOnly(),
                            pool=HTTPConnectionPool(reactor, persistent=False)))


class ImageCacheCheck(Service):
    """
    Checks the cache on disk when the node starts (``ImageCache.start``),
    before the node controller takes launches: put it first in the tree.
    """

    def __init__(self, cache):
        self.cache = cache
        self.checked = None

    def startService(self):
        Service.startService(self)
        self.checked = self.cache.start()
        self.checked.addErrback(lambda f: log.failure("checking the image cache", f))
