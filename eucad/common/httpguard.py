"""Limits every eucad HTTP site puts on a connection before a request reaches it.

The EC2 site, the Walrus site and the shared front door each take a
``RequestLimits`` with ``guardSite``; their channels then

- give a connection ``headerTimeout`` seconds to send a request's line and
  headers, counted from when the connection opens or its previous answer
  was sent (a client trickling one header line every few seconds is cut
  off; a keep-alive connection idle that long is closed);
- answer a request line longer than ``maxLineBytes`` (twisted.web's 16 KiB
  line limit, which otherwise just drops the connection) with 414;
- refuse a request whose declared body is larger than the site allows for
  it (``bodyLimit``), or whose length is not declared where a limit
  applies, from its headers alone: no byte of the body is read or stored,
  and no ``100 Continue`` is sent;

each refusal answered in the API's own error format (``answer``), after
which the connection is closed.  The refused connection stops sending
(its write side is shut) but keeps draining what the client still sends
for ``lingerSeconds``, so that a client busy sending its body reads the
answer instead of a reset.

``accessLogLine`` is a ``logFormatter`` for twisted.web's Site that writes
the request path without its query string (where SigV2 and presigned
SigV4 requests carry their signatures) and the Referer without its query.

Only public twisted.web names are used: the channel's ``lineReceived``,
``lineLengthExceeded``, ``allHeadersReceived``, ``allContentReceived``,
``requestDone``, ``requests``, ``length`` and ``site``.
"""

from twisted.internet.interfaces import ITCPTransport
from twisted.web.http import RESPONSES, HTTPChannel

#: Seconds a connection has to send one request's line and headers.
HEADER_TIMEOUT = 20.0
#: Seconds a refused connection is drained before it is cut.
LINGER_SECONDS = 5.0
#: The longest request line (method, URL, version) answered other than 414.
MAX_LINE_BYTES = 16384


class Refusal:
    """One reason to refuse a request before it reaches its resource."""

    def __init__(self, name, status, message):
        self.name = name
        self.status = status
        self.message = message

    def __repr__(self):
        return "<Refusal %s %d>" % (self.name, self.status)


URI_TOO_LONG = Refusal("uriTooLong", 414,
                       "The request URI is longer than this service accepts")
HEADERS_TOO_LARGE = Refusal("headersTooLarge", 431,
                            "A request header line is longer than this service accepts")
BODY_TOO_LARGE = Refusal("bodyTooLarge", 413, "The request body is too large")
LENGTH_REQUIRED = Refusal("lengthRequired", 411,
                          "The request must declare its body's Content-Length")
HEADERS_TIMEOUT = Refusal("headersTimeout", 408,
                          "The request headers did not arrive in time")


def _noLimit(method, target, headers):
    return None


def plainAnswer(method, target, headers, refusal):
    """An answer with no API format: the refusal's message as text."""
    return (refusal.status, b"text/plain; charset=utf-8",
            refusal.message.encode("utf-8") + b"\n")


class RequestLimits:
    """
    What a site allows a connection, and how it says no.

    @param answer: ``answer(method, target, headers, refusal)`` gives
        ``(status, content type, body)`` of the error answer in the API's
        own format (the status may differ from the refusal's where the API
        says so, as EC2's 400 for a body too large); ``target`` is the
        request target (bytes, possibly cut short, ``b""`` when no request
        line has arrived) and ``headers`` the request's Headers, or None
        before they are complete.
    @param bodyLimit: ``bodyLimit(method, target, headers)`` gives the
        largest body this request may declare (bytes), or None for no
        limit here; ``headers`` is the request's twisted ``Headers``.
    @param clock: an IReactorTime (a ``task.Clock`` in tests).
    """

    def __init__(self, answer=plainAnswer, bodyLimit=_noLimit, clock=None,
                 headerTimeout=HEADER_TIMEOUT, lingerSeconds=LINGER_SECONDS,
                 maxLineBytes=MAX_LINE_BYTES):
        if clock is None:
            from twisted.internet import reactor as clock
        self.answer = answer
        self.bodyLimit = bodyLimit
        self.clock = clock
        self.headerTimeout = headerTimeout
        self.lingerSeconds = lingerSeconds
        self.maxLineBytes = maxLineBytes


def _requestLineParts(line):
    """``(method, target)`` of a request line, as far as it goes."""
    parts = line.split(b" ", 2)
    method = parts[0]
    target = parts[1] if len(parts) > 1 else b""
    return method, target


class GuardedChannel:
    """
    Mixed in before an HTTPChannel class by ``guardSite``; its limits are
    its Site's ``httpLimits``.
    """

    guardWaiting = True       # the next line is a request line
    guardReceiving = False    # bytes arrived since the deadline was armed
    guardRefused = False
    guardDeadline = None
    guardLinger = None
    guardMethod = b""
    guardTarget = b""

    @property
    def httpLimits(self):
        return self.site.httpLimits

    # -- the header deadline -------------------------------------------

    def guardArm(self):
        self.guardDisarm()
        self.guardReceiving = False
        limits = self.httpLimits
        self.guardDeadline = limits.clock.callLater(limits.headerTimeout, self.guardTimedOut)

    def guardDisarm(self):
        if self.guardDeadline is not None and self.guardDeadline.active():
            self.guardDeadline.cancel()
        self.guardDeadline = None

    def guardTimedOut(self):
        self.guardDeadline = None
        if self.guardReceiving:
            self.guardRefuse(HEADERS_TIMEOUT)
        else:  # an idle connection: nothing to answer, just close it
            self.guardRefused = True
            self.transport.loseConnection()

    # -- refusing ------------------------------------------------------

    def guardRefuse(self, refusal, headers=None):
        """Answer ``refusal`` in the site's format and close the connection."""
        self.guardDisarm()
        self.guardRefused = True
        limits = self.httpLimits
        status, contentType, body = limits.answer(self.guardMethod, self.guardTarget,
                                                  headers, refusal)
        head = b"".join([
            b"HTTP/1.1 %d %s\r\n" % (status, RESPONSES.get(status, b"Error")),
            b"Content-Type: %s\r\n" % (contentType,),
            b"Content-Length: %d\r\n" % (len(body),),
            b"Connection: close\r\n\r\n"])
        self.transport.write(head + body)
        if ITCPTransport.providedBy(self.transport):
            # Read (and drop) what the client still sends while it reads
            # the answer; cut it off if it goes on too long.
            self.transport.loseWriteConnection()
            self.guardLinger = limits.clock.callLater(limits.lingerSeconds,
                                                      self.transport.abortConnection)
        else:
            self.transport.loseConnection()

    # -- the channel's own events --------------------------------------

    def connectionMade(self):
        super().connectionMade()
        # A request line may take all of maxLineBytes (beyond that: 414),
        # and the header lines as much again, before twisted's bare 400.
        self.MAX_LENGTH = self.httpLimits.maxLineBytes
        self.totalHeadersSize = 2 * self.httpLimits.maxLineBytes
        self.guardArm()

    def dataReceived(self, data):
        if self.guardRefused:
            return
        self.guardReceiving = True
        super().dataReceived(data)

    def lineReceived(self, line):
        if self.guardRefused:
            return
        if self.guardWaiting and line:
            self.guardWaiting = False
            self.guardMethod, self.guardTarget = _requestLineParts(line)
        super().lineReceived(line)

    def rawDataReceived(self, data):
        if self.guardRefused:
            return
        super().rawDataReceived(data)

    def lineLengthExceeded(self, line):
        if self.guardRefused:
            return
        if self.guardWaiting:
            self.guardMethod, self.guardTarget = _requestLineParts(line.lstrip(b"\r\n"))
            self.guardRefuse(URI_TOO_LONG)
        else:
            self.guardRefuse(HEADERS_TOO_LARGE)

    def allHeadersReceived(self):
        self.guardDisarm()
        if self.guardRefused:
            return
        headers = self.requests[-1].requestHeaders
        limit = self.httpLimits.bodyLimit(self.guardMethod, self.guardTarget, headers)
        if limit is not None:
            if self.length is None:
                self.guardRefuse(LENGTH_REQUIRED, headers)
                return
            if self.length > limit:
                self.guardRefuse(BODY_TOO_LARGE, headers)
                return
        super().allHeadersReceived()

    def allContentReceived(self):
        if self.guardRefused:
            return
        self.guardWaiting = True
        super().allContentReceived()

    def requestDone(self, request):
        # The deadline for the next request starts when this one is answered.
        if not self.guardRefused:
            self.guardArm()
        super().requestDone(request)

    def connectionLost(self, reason):
        self.guardDisarm()
        if self.guardLinger is not None and self.guardLinger.active():
            self.guardLinger.cancel()
        self.guardLinger = None
        super().connectionLost(reason)


_guardedClasses = {}


def guardedChannelClass(channelClass):
    """
    ``channelClass`` (an HTTPChannel subclass) with GuardedChannel mixed in.
    A Site's default protocol is a factory function that may pick HTTP/2
    over TLS; eucad's sites speak plain HTTP/1.1, so it becomes HTTPChannel.
    """
    if not isinstance(channelClass, type):
        channelClass = HTTPChannel
    if issubclass(channelClass, GuardedChannel):
        return channelClass
    guarded = _guardedClasses.get(channelClass)
    if guarded is None:
        guarded = type("Guarded" + channelClass.__name__, (GuardedChannel, channelClass),
                       {"__doc__": "%s under RequestLimits." % (channelClass.__name__,)})
        _guardedClasses[channelClass] = guarded
    return guarded


def guardSite(site, limits):
    """
    Put ``site``'s connections under ``limits``; call it after anything
    else that sets the Site's protocol (Walrus's ``configureSite``).
    """
    site.protocol = guardedChannelClass(site.protocol)
    site.httpLimits = limits
    return site


def _pathOnly(value):
    return value.partition(b"?")[0] if value else value


def _quoted(value):
    """A log field in double quotes, with quotes and control bytes escaped."""
    if value is None:
        return '"-"'
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    escaped = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return '"%s"' % (escaped,)


def accessLogLine(timestamp, request):
    """
    twisted.web's combined log line for ``request``, less every query
    string: ``Site(resource, logFormatter=accessLogLine)``.
    """
    host = getattr(request.getClientAddress(), "host", "-")
    return '"%s" - - %s "%s %s %s" %d %s %s %s' % (
        host, timestamp,
        _quoted(request.method)[1:-1],
        _quoted(_pathOnly(request.uri))[1:-1],
        _quoted(request.clientproto)[1:-1],
        request.code,
        request.sentLength or "-",
        _quoted(_pathOnly(request.getHeader(b"referer"))),
        _quoted(request.getHeader(b"user-agent")))
