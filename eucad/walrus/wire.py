"""Walrus's HTTP connection and request classes, and the Site that uses them.

``WalrusRequest`` puts a ``BodySpool`` in place of twisted.web's content
file, so bodies are hashed and written to disk while they arrive (see
``eucad.walrus.body``), and never parses form bodies into memory.
``WalrusChannel`` writes ``x-amz-*`` response header names in lower case,
as S3 does: clients take user metadata names from those headers as written
(boto3 would otherwise see ``X-Amz-Meta-Color`` as the key ``Color``).

While a large body arrives (more than ``LARGE_BODY`` bytes, or of unknown
length), the connection reads ``LARGE_READ`` bytes at a time instead of
twisted's 64 KiB: each read costs a trip through the reactor, the HTTP
parser and the spool in Python, and 16 times fewer of them leave more of the
two cores to hashing and the disk (measured: see bench/s3.py).  The usual
size comes back once the body is complete, so small requests and the
connection's output side keep twisted's defaults.

Walrus's own Site (``makeSite``) writes a line per request to the log only
when asked (the daemon asks at LOGLEVEL DEBUG): twisted's access line goes
through every log observer, and cost a tenth of the reactor's time on a
4 KiB GET.  S3 too keeps access logs off unless a bucket asks.

A Site that serves Walrus next to other resources (the CLC on a shared
port) gets the same request handling from ``configureSite``, and keeps its
owner's logging.
"""

from twisted.web.http import HTTPChannel
from twisted.web.server import Request, Site

from eucad.common.httpguard import accessLogLine

#: Bodies above this size are read in LARGE_READ pieces.
LARGE_BODY = 1024 * 1024
LARGE_READ = 1024 * 1024


class WalrusRequest(Request):
    """
    A Request whose body goes to a BodySpool as it arrives, when its Site
    has a ``walrusSpoolFactory``; otherwise a plain Request.
    """

    _parsePOSTFormSubmission = False

    def gotLength(self, length):
        site = getattr(self.channel, "site", None)
        factory = getattr(site, "walrusSpoolFactory", None)
        if factory is None:
            Request.gotLength(self, length)
            return
        self.content = factory(self.requestHeaders, length, self.transport)


class WalrusChannel(HTTPChannel):
    """
    An HTTP/1.1 channel that writes ``x-amz-*`` header names in lower case
    and reads large bodies in large pieces.
    """

    _host = None

    def getHost(self):
        """
        The connection's local address, asked of the socket once: twisted
        asks it for every request (a getsockname system call each time).
        """
        if self._host is None:
            self._host = HTTPChannel.getHost(self)
        return self._host

    def allHeadersReceived(self):
        HTTPChannel.allHeadersReceived(self)
        if self.length is None or self.length > LARGE_BODY:
            self._setReadSize(LARGE_READ)

    def allContentReceived(self):
        self._setReadSize(None)
        HTTPChannel.allContentReceived(self)

    def _setReadSize(self, size):
        """``size`` bytes per read on our transport; None for its default."""
        transport = self.transport
        if transport is None or not hasattr(transport, "bufferSize"):
            return
        if size is not None:
            transport.bufferSize = size
        elif "bufferSize" in vars(transport):
            del transport.bufferSize

    def writeHeaders(self, version, code, reason, headers):
        sequence = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            if name[:6].lower() == b"x-amz-":
                name = name.lower()
            for value in values:
                sequence.extend((name, b": ", value, b"\r\n"))
        sequence.append(b"\r\n")
        self.transport.writeSequence(sequence)


def configureSite(site, spoolFactory):
    """Make ``site`` use Walrus's request, channel and body spooling."""
    site.requestFactory = WalrusRequest
    site.protocol = WalrusChannel
    site.walrusSpoolFactory = spoolFactory
    return site


class WalrusSite(Site):
    """A Site whose per-request access lines are optional (``accessLog``)."""

    accessLog = False

    def log(self, request):
        if self.accessLog:
            Site.log(self, request)


def makeSite(resource, spoolFactory, accessLog=False):
    site = WalrusSite(resource, logFormatter=accessLogLine)  # no query strings
    site.displayTracebacks = False
    site.accessLog = accessLog
    return configureSite(site, spoolFactory)
