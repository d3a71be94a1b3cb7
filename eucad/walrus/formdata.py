"""A streaming multipart/form-data reader for browser POST uploads.

The form's ``file`` field can be gigabytes, so it is never held in memory:
``readForm`` walks the spooled body once, keeps the small text fields, and
sends the file field's bytes to a callback as they are found.  It runs in the
I/O thread pool.  Limits on field size, count and header size keep a hostile
form from using memory.
"""

from eucad.walrus.errors import S3Error

READ_SIZE = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 100
MAX_PART_HEADER_BYTES = 16 * 1024


def boundaryOf(contentType):
    """The boundary parameter of a multipart/form-data Content-Type."""
    for parameter in contentType.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if 0 < len(value) <= 200:
                return value.encode("latin-1")
    raise S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                  "multipart/form-data (no boundary).")


def _malformed(why):
    return S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                   "multipart/form-data: %s." % (why,))


def _parseDisposition(value):
    """``form-data; name="key"; filename="a.txt"`` -> {"name": ..., "filename": ...}."""
    params = {}
    for item in value.split(";")[1:]:
        name, sep, raw = item.strip().partition("=")
        if sep:
            raw = raw.strip()
            if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                raw = raw[1:-1].replace('\\"', '"')
            params[name.strip().lower()] = raw
    return params


class _Buffer:
    """Bytes read ahead from ``read(n)``, consumed from the front."""

    def __init__(self, read):
        self.read = read
        self.data = b""
        self.eof = False

    def fill(self):
        if self.eof:
            return False
        more = self.read(READ_SIZE)
        if not more:
            self.eof = True
            return False
        self.data += more
        return True


def readForm(read, boundary, onFileData):
    """
    Parse a form from ``read(n)``.  Text fields are returned as
    {lower-case name: text}; the ``file`` field's bytes go to
    ``onFileData(bytes)``, and its filename and Content-Type are returned.
    Fields after ``file`` are ignored, as S3 does.

    @return: (fields, filename, fileContentType)
    """
    delimiter = b"\r\n--" + boundary
    buffer = _Buffer(read)
    # A leading CRLF makes the first boundary look like every other one.
    buffer.data = b"\r\n"
    fields = {}
    # Skip the preamble up to the first boundary.
    while True:
        index = buffer.data.find(delimiter)
        if index >= 0:
            buffer.data = buffer.data[index + len(delimiter):]
            break
        buffer.data = buffer.data[-len(delimiter):]
        if not buffer.fill():
            raise _malformed("no boundary")
    while True:
        while len(buffer.data) < 2 and buffer.fill():
            pass
        if buffer.data.startswith(b"--"):
            raise _malformed("no file field")
        if not buffer.data.startswith(b"\r\n"):
            raise _malformed("bad boundary line")
        buffer.data = buffer.data[2:]
        while True:
            end = buffer.data.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buffer.data) > MAX_PART_HEADER_BYTES or not buffer.fill():
                raise _malformed("bad part headers")
        rawHeaders = buffer.data[:end].decode("utf-8", "replace")
        buffer.data = buffer.data[end + 4:]
        headers = {}
        for line in rawHeaders.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        disposition = _parseDisposition(headers.get("content-disposition", ""))
        name = disposition.get("name", "").lower()
        if not name:
            raise _malformed("a part has no name")
        isFile = name == "file"
        collected = []
        size = 0
        while True:
            index = buffer.data.find(delimiter)
            if index >= 0:
                piece, buffer.data = buffer.data[:index], buffer.data[index + len(delimiter):]
            else:
                keep = len(delimiter) - 1
                piece = buffer.data[:-keep] if len(buffer.data) > keep else b""
                buffer.data = buffer.data[len(piece):]
            if piece:
                size += len(piece)
                if isFile:
                    onFileData(piece)
                else:
                    if size > MAX_FIELD_BYTES:
                        raise S3Error("MaxMessageLengthExceeded",
                                      "The form field %s is too large." % (name,))
                    collected.append(piece)
            if index >= 0:
                break
            if not buffer.fill():
                raise _malformed("the body ends inside a field")
        if isFile:
            return fields, disposition.get("filename", ""), headers.get("content-type")
        if len(fields) >= MAX_FIELDS:
            raise _malformed("too many fields")
        fields[name] = b"".join(collected).decode("utf-8", "replace")
