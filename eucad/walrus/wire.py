"""Walrus's HTTP connection and request classes, and the Site that uses them.

``WalrusRequest`` puts a ``BodySpool`` in place of twisted.web's content
file, so bodies are hashed and written to disk while they arrive (see
``eucad.walrus.body``), and never parses form bodies into memory.
``WalrusChannel`` writes ``x-amz-*`` response header names in lower case,
as S3 does: clients take user metadata names from those headers as written
(boto3 would otherwise see ``X-Amz-Meta-Color`` as the key ``Color``).

When Walrus installs its spool, ``WalrusRequest.requestReceived`` sets
the request's method, target and arguments itself and does not hand the
body to twisted.web's form parser: S3's browser form uploads are parsed as
a stream by eucad.walrus.formupload, and twisted's parser would read the
whole body into memory (and see an empty body once it is spooled to disk).

Walrus's own Site (``makeSite``) writes a line per request to the log only
when asked (the daemon asks at LOGLEVEL DEBUG): twisted's access line goes
through every log observer, and cost a tenth of the reactor's time on a
4 KiB GET.  S3 too keeps access logs off unless a bucket asks.

A Site that serves Walrus next to other resources (the CLC on a shared
port) gets the same request handling from ``configureSite``, and keeps its
owner's logging.
"""

import time
from urllib.parse import parse_qs

from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, datetimeToString
from twisted.web.server import Request, Site

from eucad.common.httpguard import accessLogLine

#: The most one read from a connection hands over: twisted's TCP read size.
#: What waits in memory beyond a spool's high-water mark is at most this.
LARGE_READ = 64 * 1024


class WalrusRequest(Request):
    """
    A Request whose body goes to a BodySpool as it arrives, when its Site
    has a ``walrusSpoolFactory``; otherwise a plain Request.
    """

    walrusSpool = False
    #: (method, target, version) as the request line said, set by WalrusChannel.
    walrusRequestLine = None

    def gotLength(self, length):
        site = getattr(self.channel, "site", None)
        factory = getattr(site, "walrusSpoolFactory", None)
        if factory is None:
            Request.gotLength(self, length)
            return
        self.walrusSpool = True
        gate = getattr(site, "walrusGate", None)
        content = None
        if gate is not None and self.walrusRequestLine is not None:
            content = gate.openBody(self, self.walrusRequestLine, length)
        if content is None:
            content = factory(self.requestHeaders, length, self.transport)
        self.content = content

    def process(self):
        """
        On a Site that serves Walrus alone (its ``walrusResource``): what
        twisted's process does, less finding the resource, which is always
        that leaf (twisted split and unquoted the path for the search, and
        copied lists, on every request).  On any other Site: twisted's.
        """
        site = self.channel.site
        leaf = getattr(site, "walrusResource", None)
        if leaf is None or self.path == b"*":
            Request.process(self)
            return
        self.site = site
        self.setHeader(b"Date", _dateNow())
        self.prepath, self.postpath, self.sitepath = [], [], []
        try:
            self.render(leaf)
        except BaseException:
            self.processingFailed(Failure())

    def requestReceived(self, command, path, version):
        """
        With a Walrus spool as content: what twisted's requestReceived does
        for a request, without reading the body into form arguments.
        """
        if not self.walrusSpool:
            Request.requestReceived(self, command, path, version)
            return
        self.method, self.uri = command, path
        self.clientproto = version
        self.path, _, query = path.partition(b"?")
        self.args = parse_qs(query, 1) if query else {}
        self.process()


_date = [None, None]


def _dateNow():
    """The Date header's value now, worked out once a second."""
    second = int(time.time())
    if _date[0] != second:
        _date[:] = [second, datetimeToString(second)]
    return _date[1]


class WalrusChannel(HTTPChannel):
    """
    An HTTP/1.1 channel that writes ``x-amz-*`` header names in lower case.
    """

    _host = None

    def connectionMade(self):
        HTTPChannel.connectionMade(self)
        gate = getattr(self.site, "walrusGate", None)
        if gate is not None and not gate.guard.opened(self):
            self.transport.write(gate.busyResponse())
            self.transport.loseConnection()

    def connectionLost(self, reason):
        gate = getattr(self.site, "walrusGate", None)
        if gate is not None:
            gate.guard.closed(self)
        HTTPChannel.connectionLost(self, reason)

    def lineReceived(self, line):
        """
        Note each request line on its request (twisted keeps it private
        until the body has arrived; admission needs it before).
        """
        count = len(self.requests)
        HTTPChannel.lineReceived(self, line)
        if len(self.requests) > count:
            parts = line.split(b" ")
            if len(parts) == 3:
                self.requests[-1].walrusRequestLine = tuple(parts)

    _secure = None

    def isSecure(self):
        """
        Whether the connection is TLS, asked of the transport once: twisted
        adapts the transport to ISSLTransport for every request that asks.
        """
        if self._secure is None:
            self._secure = HTTPChannel.isSecure(self)
        return self._secure

    def getHost(self):
        """
        The connection's local address, asked of the socket once: twisted
        asks it for every request (a getsockname system call each time).
        """
        if self._host is None:
            self._host = HTTPChannel.getHost(self)
        return self._host

    def writeHeaders(self, version, code, reason, headers):
        # A connection that has been answered is no longer unadmitted.
        gate = getattr(self.site, "walrusGate", None)
        if gate is not None:
            gate.guard.trusted(self)
        sequence = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            if name[:6].lower() == b"x-amz-":
                name = name.lower()
            for value in values:
                sequence.extend((name, b": ", value, b"\r\n"))
        sequence.append(b"\r\n")
        # One bytes: a TCP transport checks every piece of a sequence it is
        # given (a dozen headers made fifty pieces).
        self.transport.write(b"".join(sequence))


def configureSite(site, spoolFactory, gate=None):
    """
    Make ``site`` use Walrus's request, channel and body spooling; with a
    ``gate`` (a Walrus, or a SharedPortGate: ``openBody``, ``guard``,
    ``busyResponse``), every request it takes is admitted from its headers
    before its body is stored (``openBody`` returning None leaves a request
    to the plain spool).
    """
    site.requestFactory = WalrusRequest
    site.protocol = WalrusChannel
    site.walrusSpoolFactory = spoolFactory
    site.walrusGate = gate
    return site


class WalrusSite(Site):
    """
    A Site whose per-request access lines are optional (``accessLog``),
    and whose requests all go to one leaf when it serves Walrus alone
    (``walrusResource``, see WalrusRequest.process).
    """

    accessLog = False
    walrusResource = None

    def log(self, request):
        if self.accessLog:
            Site.log(self, request)


def makeSite(resource, spoolFactory, accessLog=False, gate=None):
    site = WalrusSite(resource, logFormatter=accessLogLine)  # no query strings
    site.displayTracebacks = False
    site.accessLog = accessLog
    if getattr(resource, "isLeaf", False):
        # Every request is the leaf's (WalrusRequest.process).
        site.walrusResource = resource
    return configureSite(site, spoolFactory, gate)
