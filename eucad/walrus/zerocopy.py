"""Sending a large object's bytes from its blob files to the client's socket in the kernel.

``eucad.walrus.objects`` streams a GET's body through ``stream``, which
picks how.  ``SegmentProducer`` reads each MiB into Python and hands it to
the transport, which copies it again into the socket: at 256 MiB that
copying, not the disk, made Walrus about 0.65 x nginx, which uses sendfile.
``SocketSender`` does as nginx does: ``os.sendfile`` moves the bytes from
the page cache to the socket without their passing through Python.

It only works where the transport's socket carries the bytes as they are:
plain TCP (not TLS, which must encrypt them; not an in-memory transport,
which has no socket), and only for bodies of at least ``SENDFILE_MIN``,
below which the set-up costs more than the copy saved.  Everything else
keeps ``SegmentProducer``.

Writing to a socket behind twisted's back is safe only while twisted has
nothing of its own to write there, so the sender:

  * lets the response's headers (written through the request as usual)
    reach the kernel first: it waits until the transport is no longer
    among the reactor's writers, which is how a twisted transport says its
    buffer is empty;
  * sends in "stints" in Walrus's I/O threads (a cold page cache would
    block the reactor), each until ``STINT`` bytes are sent or the
    socket's buffer is full (EAGAIN: the socket is non-blocking);
  * after EAGAIN waits for the socket to be writable again with a
    ``SocketWritable`` in the reactor, on a duplicate of the socket's
    descriptor: a stint running while twisted closes the connection must
    not write to a descriptor number the process has since reused;
  * stops when the client goes away (EPIPE or ECONNRESET from sendfile,
    a hang-up seen on the socket, or twisted reporting the connection
    lost), aborting the connection so twisted lets go of it too.

The bytes sent are added to the request's ``sentLength`` (the access log's
size), as ``Request.write`` would have.  The response must have its
Content-Length set: nothing here frames the body.
"""

import errno
import os
import socket

from twisted.internet import defer
from twisted.internet.interfaces import (
    IReactorFDSet, ISSLTransport, ISystemHandle, ITCPTransport, IWriteDescriptor)
from twisted.python import failure as tfailure
from twisted.web.http import NO_BODY_CODES
from zope.interface import implementer

from eucad.walrus.producer import SegmentProducer, locate

#: Bodies at least this long go out with sendfile.
SENDFILE_MIN = 256 * 1024

#: At most this much is sent per trip through the I/O pool, so one download
#: over a fast link does not hold a thread (and its client the others) long.
STINT = 16 * 1024 * 1024

#: What sendfile answers when the client has gone away.
_CLIENT_GONE = frozenset((errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN))


def stream(request, segments, start, length, runIo, reactor=None):
    """
    Send ``length`` bytes from ``start`` of the concatenation of
    ``segments`` = [(open binary file, size)] as ``request``'s body; the
    Deferred fires when they are all sent (CancelledError if the client went
    away).  The files are closed at the end either way.
    """
    if reactor is None:
        from twisted.internet import reactor
    if usable(request, length, reactor):
        return SocketSender(segments, start, length, runIo, reactor).beginProducing(request)
    return SegmentProducer(segments, start, length, runIo).beginProducing(request)


def usable(request, length, reactor):
    """Whether ``request``'s body of ``length`` bytes may go out with sendfile."""
    if length < SENDFILE_MIN or not hasattr(os, "sendfile"):
        return False
    if not IReactorFDSet.providedBy(reactor):
        return False
    if request.method != b"GET" or request.code in NO_BODY_CODES:
        return False
    if not request.responseHeaders.hasHeader(b"content-length"):
        return False  # twisted would frame the body in chunks
    transport = getattr(request, "transport", None)
    if transport is None or ISSLTransport.providedBy(transport):
        return False
    if not (ITCPTransport.providedBy(transport) and ISystemHandle.providedBy(transport)):
        return False
    handle = transport.getHandle()
    return isinstance(handle, socket.socket) and handle.fileno() >= 0


@implementer(IWriteDescriptor)
class SocketWritable:
    """
    A duplicate of a connection's socket descriptor, in the reactor as a
    writer only while ``SocketSender`` waits for room in the socket: calls
    ``writable()`` each time the reactor finds the socket writable, and
    ``lost(reason)`` if the reactor finds it hung up or shuts down.
    """

    def __init__(self, fd, writable, lost):
        self.fd = fd
        self.writable = writable
        self.lost = lost

    def fileno(self):
        return self.fd

    def doWrite(self):
        self.writable()

    def connectionLost(self, reason):
        self.lost(reason)

    def logPrefix(self):
        return "SocketWritable"


class SocketSender:
    """
    Sends ``length`` bytes from ``start`` of the concatenation of
    ``segments`` = [(open binary file, size)] with sendfile to the socket
    of the request's plain TCP connection (``usable`` says whether it has
    one).
    """

    def __init__(self, segments, start, length, runIo, reactor):
        self.segments = segments
        self.position = start
        self.remaining = length
        self.runIo = runIo
        self.reactor = reactor
        self.request = None
        self.transport = None
        self.socketFd = None
        self.writer = None
        self.waiting = False      # the writer is in the reactor
        self.sending = False      # a stint runs in the I/O pool
        self.stopped = False      # no more sending (the running stint reads it too)
        self.closed = False
        self.done = defer.Deferred()

    def beginProducing(self, request):
        """Start; the returned Deferred fires when every byte was sent."""
        self.request = request
        self.transport = request.transport
        self.socketFd = self.transport.getHandle().fileno()
        try:
            fd = os.dup(self.socketFd)
        except OSError:
            self._close()
            raise
        self.writer = SocketWritable(fd, self._writable, self._hungUp)
        if getattr(request, "channel", None) is None:
            # Lost already: twisted will not tell notifyFinish again.
            self._end(_disconnected())
            return self.done
        request.notifyFinish().addErrback(self._connectionLost)
        request.write(b"")  # the headers, through twisted's buffer
        self._wait()
        return self.done

    # -- waiting for the socket -------------------------------------------------
    def _wait(self):
        if not self.waiting:
            self.waiting = True
            self.reactor.addWriter(self.writer)

    def _unwait(self):
        if self.waiting:
            self.waiting = False
            self.reactor.removeWriter(self.writer)

    def _transportPending(self):
        """Whether twisted still has bytes of its own to write to the socket."""
        return any(writer.fileno() == self.socketFd for writer in self.reactor.getWriters()
                   if writer is not self.writer)

    def _writable(self):
        if self.stopped or self._transportPending():
            # Still the headers: the transport writes them as soon as the
            # socket takes them, and the reactor asks us again after.
            return
        self._unwait()
        self._stint()

    def _hungUp(self, reason):
        self.waiting = False  # the reactor took the writer out itself
        if not self.done.called:
            self._clientGone()

    # -- sending ----------------------------------------------------------------
    def _stint(self):
        self.sending = True
        self.runIo(self._send, self.position, self.remaining).addBoth(self._sent)

    def _send(self, position, remaining):
        """
        (bytes sent, then what stopped the stint: None (enough for one
        stint, or all), "blocked" (the socket's buffer is full), or an
        OSError).  In the I/O pool.
        """
        fd = self.writer.fd
        sent = 0
        while sent < STINT and remaining > 0 and not self.stopped:
            handle, offset, count = locate(self.segments, position, min(remaining, STINT - sent))
            try:
                n = os.sendfile(fd, handle.fileno(), offset, count)
            except BlockingIOError:
                return sent, "blocked"
            except InterruptedError:
                continue
            except OSError as error:
                return sent, error
            if n == 0:
                return sent, IOError("blob shorter than recorded")
            sent += n
            position += n
            remaining -= n
        return sent, None

    def _sent(self, result):
        self.sending = False
        if isinstance(result, tfailure.Failure):
            self._end(result)
            return
        sent, outcome = result
        self.position += sent
        self.remaining -= sent
        self.request.sentLength += sent
        if self.remaining <= 0:
            # Every byte went, even if the client left just after.
            self._end(None)
        elif self.stopped:
            self._end(_disconnected())
        elif isinstance(outcome, OSError) and outcome.errno in _CLIENT_GONE:
            self._clientGone()
        elif isinstance(outcome, Exception):
            self._end(tfailure.Failure(outcome))
        elif outcome == "blocked":
            self._wait()
        else:
            self._stint()

    # -- ending -----------------------------------------------------------------
    def _clientGone(self):
        """The client went away: drop the connection in twisted too."""
        if getattr(self.request, "channel", None) is not None:
            self.transport.abortConnection()
        self._end(_disconnected())

    def _connectionLost(self, reason):
        """Twisted saw the connection go: a running stint ends, and its end decides."""
        self.stopped = True
        if not self.sending:
            self._end(_disconnected())

    def _end(self, failure):
        """Fire ``done`` (once) and let go of the socket and the blobs."""
        self.stopped = True
        self._close()
        if self.done.called:
            return
        if failure is None:
            self.done.callback(None)
        else:
            self.done.errback(failure)

    def _close(self):
        """Close the duplicate and the blobs, unless a stint still uses them (it closes them)."""
        if self.sending or self.closed:
            return
        self.closed = True
        if self.writer is not None:
            self._unwait()
            os.close(self.writer.fd)
        for handle, _size in self.segments:
            try:
                handle.close()
            except OSError:
                pass


def _disconnected():
    return tfailure.Failure(defer.CancelledError("the client disconnected"))
