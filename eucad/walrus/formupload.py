"""Browser form uploads read as they arrive: fields in memory, the file to disk once admitted.

A form upload (POST of ``multipart/form-data`` to a bucket) carries its
credentials in the body: the policy and its signature are fields that come
before the ``file`` field.  ``FormSpool`` is the request's content for such a
form: it feeds what arrives to the ``multipart`` library's push parser
(maintained, streaming, with limits on header size and part count), keeps
the small text fields, and when the ``file`` field begins asks
``admitFile(fields, filename)`` whether the form may store anything at all
(its signature, its policy, the bucket's ACL).  Until that answer the
connection is paused and what arrived is held in memory (at most one read);
only once admitted does the file go to a ``BodySpool`` (hashed and written
to disk as it arrives, see eucad.walrus.body).  Fields after the file are
ignored, as S3 does.
"""

import multipart
from twisted.internet import defer
from twisted.logger import Logger

from eucad.walrus.errors import S3Error

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 100
MAX_PART_HEADER_BYTES = 16 * 1024
READ_CHUNK = 1024 * 1024

_log = Logger()


def isFormUpload(s3):
    """Whether ``s3`` (an S3Request) is a browser form upload to a bucket."""
    return (s3.method == "POST" and s3.bucket and s3.key is None and not s3.query
            and s3.header("content-type", "").lower().startswith("multipart/form-data"))


def boundaryOf(contentType):
    """The boundary parameter of a multipart/form-data Content-Type."""
    _, options = multipart.parse_options_header(contentType)
    boundary = options.get("boundary", "")
    if not 0 < len(boundary) <= 200:
        raise malformed("no boundary")
    return boundary


def malformed(why):
    return S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                   "multipart/form-data: %s." % (why,))


class FormBody:
    """A received form: its text fields (lower-case names), the file and its admission."""

    def __init__(self, fields, filename, fileType, spooled, admission):
        self.fields = fields
        self.filename = filename
        self.fileType = fileType
        self.spooled = spooled
        self.admission = admission


class FormSpool:
    """
    The content of a form upload request.  ``admitFile(fields, filename)``
    returns a Deferred that fires with what the handler needs to know about
    the uploader (or fails with an S3Error); ``makeFileSpool()`` makes the
    spool the file's bytes go to; ``producer`` (the connection) is paused
    while the admission is pending.  ``finish()`` gives a Deferred FormBody.
    """

    def __init__(self, boundary, admitFile, makeFileSpool, producer=None):
        self.parser = multipart.PushMultipartParser(
            boundary, max_header_size=MAX_PART_HEADER_BYTES, max_segment_count=MAX_FIELDS + 1)
        self.admitFile = admitFile
        self.makeFileSpool = makeFileSpool
        self.producer = producer
        self.received = 0
        self.fields = {}
        self.current = None
        self.collected = []
        self.collectedSize = 0
        self.inFile = False
        self.fileEnded = False
        self.filename = None
        self.fileType = None
        self.held = []
        self.paused = False
        self.admitting = None
        self.admission = None
        self.fileSpool = None
        self.error = None
        self.closed = False

    # -- twisted.web's side ----------------------------------------------------
    def write(self, data):
        self.received += len(data)
        if self.error is not None or self.fileEnded or self.closed:
            return
        try:
            for event in self.parser.parse(data):
                self._event(event)
                if self.fileEnded:
                    break
        except multipart.MultipartError as e:
            self._fail(malformed(str(e) or "bad form"))
        except S3Error as e:
            self._fail(e)

    def tell(self):
        return self.received

    def seek(self, offset, whence=0):
        return 0

    def read(self, size=-1):
        return b""

    def close(self):
        """Called by twisted.web when the request is done or its connection lost."""
        if self.closed:
            return
        self.closed = True
        self.held = []
        self._resume()
        if self.fileSpool is not None:
            self.fileSpool.close()

    # -- the handler's side ------------------------------------------------------
    def finish(self):
        """Deferred FormBody once the whole form has arrived."""
        return defer.ensureDeferred(self._finish())

    async def _finish(self):
        if self.error is None and not self.fileEnded:
            self.error = malformed("no complete file field")
        if self.error is not None:
            raise self.error
        admission = await self.admitting
        if self.error is not None:
            raise self.error
        spooled = await self.fileSpool.finish()
        return FormBody(self.fields, self.filename, self.fileType, spooled, admission)

    # -- internals -----------------------------------------------------------------
    def _event(self, event):
        if isinstance(event, multipart.MultipartSegment):
            name = (event.name or "").lower()
            if not name:
                raise malformed("a part has no name")
            if name == "file":
                self._startFile(event)
            else:
                if len(self.fields) >= MAX_FIELDS:
                    raise malformed("too many fields")
                self.current, self.collected, self.collectedSize = name, [], 0
        elif event is None:
            if self.inFile:
                self.fileEnded = True
            else:
                self.fields[self.current] = b"".join(self.collected).decode("utf-8", "replace")
        elif self.inFile:
            self._fileData(bytes(event))
        else:
            self.collectedSize += len(event)
            if self.collectedSize > MAX_FIELD_BYTES:
                raise S3Error("MaxMessageLengthExceeded",
                              "The form field %s is too large." % (self.current,))
            self.collected.append(bytes(event))

    def _startFile(self, segment):
        self.inFile = True
        self.filename = segment.filename or ""
        self.fileType = segment.content_type
        self._pause()
        self.admitting = defer.maybeDeferred(self.admitFile, dict(self.fields), self.filename)
        self.admitting.addCallbacks(self._admitted, self._refused)

    def _fileData(self, data):
        if self.fileSpool is not None:
            self.fileSpool.write(data)
        elif self.error is None:
            self.held.append(data)

    def _admitted(self, admission):
        self.admission = admission
        if self.closed:
            return admission
        self.fileSpool = self.makeFileSpool()
        held, self.held = self.held, []
        for data in held:
            self.fileSpool.write(data)
        self._resume()
        return admission

    def _refused(self, failure):
        if not failure.check(S3Error):
            _log.failure("Admitting a form upload failed", failure)
        self._fail(failure.value if failure.check(S3Error) else S3Error("InternalError"))
        return None

    def _fail(self, error):
        if self.error is None:
            self.error = error
        self.held = []
        self._resume()

    def _pause(self):
        if self.producer is not None and not self.paused:
            self.paused = True
            self.producer.pauseProducing()

    def _resume(self):
        if self.paused:
            self.paused = False
            self.producer.resumeProducing()


def formFromContent(content, spool):
    """
    Feed twisted.web's own ``request.content`` (a request that did not come
    through WalrusRequest) to ``spool``; the Deferred FormBody.
    """
    content.seek(0)
    while True:
        data = content.read(READ_CHUNK)
        if not data:
            break
        spool.write(data)
    return spool.finish()
