"""Streaming an object's bytes to a client without holding it or blocking.

``SegmentProducer`` is a push producer over the object's opened blob files
(one per segment).  Reads happen in the I/O thread pool, one chunk ahead of
the network: while chunk N is in the transport's buffer chunk N+1 is being
read.  When the transport is full it pauses us and the chunk just read
waits; so memory stays at about two chunks per download, whatever the size.
"""

import os

from twisted.internet import defer
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

CHUNK = 1024 * 1024


def locate(segments, position, count):
    """
    (file, offset, count) of the next ``count`` bytes at most from
    ``position`` of the concatenation of ``segments`` = [(file, size)],
    within one segment.
    """
    offset = position
    for handle, size in segments:
        if offset < size:
            return handle, offset, min(count, size - offset)
        offset -= size
    raise IOError("range beyond the object's segments")


@implementer(IPushProducer)
class SegmentProducer:
    """
    Sends ``length`` bytes from ``start`` of the concatenation of
    ``segments`` = [(open binary file, size)] to a consumer.
    """

    def __init__(self, segments, start, length, runIo, chunk=CHUNK):
        self.segments = segments
        self.position = start
        self.remaining = length
        self.runIo = runIo
        self.chunk = chunk
        self.consumer = None
        self.paused = False
        self.stopped = False
        self.reading = False
        self.held = None
        self.done = defer.Deferred()

    def beginProducing(self, consumer):
        """Start; the returned Deferred fires when every byte was written."""
        self.consumer = consumer
        consumer.registerProducer(self, True)
        self._next()
        return self.done

    def _read(self, position, count):
        handle, offset, count = locate(self.segments, position, count)
        data = os.pread(handle.fileno(), count, offset)
        if not data:
            raise IOError("blob shorter than recorded")
        return data

    def _next(self):
        if self.stopped or self.reading:
            return
        if self.remaining <= 0:
            self._finish(None)
            return
        self.reading = True
        d = self.runIo(self._read, self.position, min(self.chunk, self.remaining))
        d.addCallbacks(self._gotData, self._failed)

    def _gotData(self, data):
        self.reading = False
        if self.stopped:
            self._close()
            return
        self.position += len(data)
        self.remaining -= len(data)
        if self.paused:
            self.held = data
            return
        self._send(data)

    def _send(self, data):
        self.consumer.write(data)
        if self.remaining > 0:
            self._next()
        elif not self.paused:
            self._finish(None)

    def _failed(self, failure):
        self.reading = False
        if self.stopped:
            self._close()
        else:
            self._finish(failure)

    def _finish(self, failure):
        if self.stopped:
            return
        self.stopped = True
        self._close()
        if self.consumer is not None:
            self.consumer.unregisterProducer()
        if failure is None:
            self.done.callback(None)
        else:
            self.done.errback(failure)

    def _close(self):
        """Close the blobs, unless a read still uses them (it closes them)."""
        if self.reading:
            return
        for handle, _size in self.segments:
            try:
                handle.close()
            except OSError:
                pass

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        if self.stopped:
            return
        self.paused = False
        if self.held is not None:
            data, self.held = self.held, None
            self._send(data)
        elif self.remaining <= 0 and not self.reading:
            self._finish(None)
        else:
            self._next()

    def stopProducing(self):
        """The client went away: stop reading and close the files."""
        if self.stopped:
            return
        self.stopped = True
        self._close()
        self.done.errback(defer.CancelledError("the client disconnected"))
