"""The one error type that carries an API error code across tiers.

EC2 answers ``<Response><Errors><Error><Code>``; a CC or NC raising
``CloudError("InsufficientInstanceCapacity", ...)`` reaches the EC2 user with
that code: ``CloudError`` is a ``pb.Error``, which PB sends as its class name
and ``str()`` ("Code: message"), and ``eucad.common.pblink`` rebuilds it.
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

