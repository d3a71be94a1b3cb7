"""``GET /images/<image-id>``: decrypted images for the cloud's nodes and the admin.

Served on its own port over mutual TLS (``WALRUS_IMAGE_PORT``): the TLS
layer accepts only certificates the cloud CA issued, and ``mayFetch``
decides from the peer's certificate (a node's, or a valid certificate of
the admin) before anything is looked up.  The image comes from
``openImage(imageId)`` (the CLC's ``ImageServices.openImage``, handed in by
the front end that composes the tiers): an image still being decrypted is
``503`` with ``Retry-After`` (the node waits and asks again), an unknown or
failed one ``404``.  The body is the decrypted image with its length and
its SHA1 in ``X-Image-Sha1``; reads run in a worker thread, one chunk ahead
of the client, so a slow node never makes the reactor wait on the disk.
"""

import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from eucad.bundle.errors import ImageNotDeliverable, ImageNotReady

log = Logger()

IMAGE_ID = re.compile(r"^e[mkr]i-[0-9a-f]{8}$")
CHUNK = 256 * 1024
#: Seconds a node is asked to wait before asking again for a pending image.
RETRY_AFTER = 2


def _peerCertificate(request):
    getPeer = getattr(request.transport, "getPeerCertificate", None)
    if getPeer is None:
        return None
    cert = getPeer()
    return None if cert is None else cert.to_cryptography()


class _FileStreamer:
    """Streams an open file to a request, reading ahead in a worker thread."""

    def __init__(self, request, file, size, runInThread):
        self.request = request
        self.file = file
        self.remaining = size
        self.runInThread = runInThread
        self.paused = False
        self.done = False
        self.reading = False
        self.finished = defer.Deferred()

    def start(self):
        self.request.registerProducer(self, True)
        self.request.notifyFinish().addErrback(lambda _: self.stopProducing())
        self._next()

    def _next(self):
        if self.done or self.paused or self.reading:
            return
        self.reading = True
        self.runInThread(self.file.read, CHUNK).addCallbacks(self._read, self._failed)

    def _read(self, data):
        self.reading = False
        if self.done:
            return
        if data:
            self.request.write(data[:self.remaining])
            self.remaining -= len(data)
        if not data and self.remaining > 0:
            # Shorter than its recorded size: cut the connection, so the node
            # sees a broken transfer rather than a whole image.
            log.error("a cached image ended {missing} bytes early", missing=self.remaining)
            self._end()
            self.request.loseConnection()
            return
        if self.remaining <= 0:
            # Closed before the last bytes leave: once a client has them all,
            # nothing of this request holds the image any more.
            self._end()
            self.request.finish()
            return
        self._next()

    def _failed(self, failure):
        self.reading = False
        log.failure("reading a cached image", failure)
        self._end()
        self.request.loseConnection()

    def _end(self):
        if not self.done:
            self.done = True
            self.request.unregisterProducer()
            self.file.close()
            self.finished.callback(None)

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self._next()

    def stopProducing(self):
        if not self.done and not self.reading:
            self._end()
        self.done = True


class ImageDeliveryResource(Resource):
    """
    @param openImage: ``openImage(imageId)`` -> Deferred of an object with
        ``image`` (``size``, ``sha1``) and an open ``file``; fails with
        ``ImageNotReady`` or ``ImageNotDeliverable`` (``eucad.bundle.errors``).
    @param mayFetch: ``mayFetch(certificate)`` -> Deferred of a bool: whether
        the peer's (cryptography) certificate may fetch images.
    @param runInThread: runs file reads off the reactor.
    """

    isLeaf = True

    def __init__(self, openImage, mayFetch, runInThread):
        Resource.__init__(self)
        self.openImage = openImage
        self.mayFetch = mayFetch
        self.runInThread = runInThread

    def render_GET(self, request):
        d = defer.ensureDeferred(self._serve(request))
        d.addErrback(self._crashed, request)
        return NOT_DONE_YET

    render_HEAD = render_GET

    async def _serve(self, request):
        cert = _peerCertificate(request)
        allowed = cert is not None and (await defer.maybeDeferred(self.mayFetch, cert))
        if not allowed:
            return self._answer(request, 403, "Only the cloud's nodes and the admin "
                                "may fetch images")
        parts = request.path.decode("latin-1").strip("/").split("/")
        if len(parts) != 2 or parts[0] != "images" or not IMAGE_ID.match(parts[1]):
            return self._answer(request, 404, "No such image")
        imageId = parts[1]
        try:
            opened = await self.openImage(imageId)
        except ImageNotReady as e:
            request.setHeader(b"Retry-After", b"%d" % (RETRY_AFTER,))
            return self._answer(request, 503, str(e))
        except ImageNotDeliverable as e:
            return self._answer(request, 404, str(e))
        if request.channel is None:
            opened.file.close()
            return
        request.setHeader(b"Content-Type", b"application/octet-stream")
        request.setHeader(b"Content-Length", b"%d" % (opened.image.size,))
        request.setHeader(b"X-Image-Sha1", opened.image.sha1.encode("ascii"))
        log.info("delivering {image} ({size} bytes)", image=imageId,
                 size=opened.image.size)
        if request.method == b"HEAD":
            opened.file.close()
            request.finish()
            return
        _FileStreamer(request, opened.file, opened.image.size, self.runInThread).start()

    def _answer(self, request, code, message):
        if request.channel is None:
            return
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        body = (message + "\n").encode("utf-8")
        request.setHeader(b"Content-Length", b"%d" % (len(body),))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()

    def _crashed(self, failure, request):
        log.failure("delivering an image", failure)
        if request.channel is not None and not request.finished:
            self._answer(request, 500, "Internal error")
