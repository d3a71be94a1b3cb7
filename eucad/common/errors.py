"""The one error type that carries an API error code across tiers.

EC2 answers ``<Response><Errors><Error><Code>``; a CC or NC raising
``CloudError("InsufficientInstanceCapacity", ...)`` reaches the EC2 user with
that code because ``CloudError`` is a ``pb.Error`` (PB sends its class and
arguments instead of an opaque remote traceback).
"""

from twisted.spread import pb


class CloudError(pb.Error):
    """An error with an EC2-style code, an HTTP status and a message."""

    def __init__(self, code, message="", status=400):
        pb.Error.__init__(self, code, message, status)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


def cloudErrorFromFailure(failure):
    """
    Turn a failure that came over PB back into a CloudError.

    PB delivers a remote ``pb.Error`` as a ``CopiedFailure`` whose ``value``
    holds the arguments as text; the code is the first word of the text.
    """
    if failure.check(CloudError):
        return failure.value
    remote = getattr(failure, "type", None)
    if isinstance(remote, (bytes, str)) and b"CloudError" in (
            remote if isinstance(remote, bytes) else remote.encode()):
        args = getattr(failure.value, "args", ())
        text = args[0] if args else str(failure.value)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return _parseCloudErrorText(text)
    return None


def _parseCloudErrorText(text):
    """Undo ``pb.Error``'s str() of ``(code, message, status)``."""
    import ast
    try:
        code, message, status = ast.literal_eval(text)
        return CloudError(code, message, int(status))
    except (ValueError, SyntaxError, TypeError):
        return CloudError("InternalError", text, 500)
