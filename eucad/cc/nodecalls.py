"""How the cluster controller reads the failure of a call to a node.

Every failure becomes a ``CloudError`` (a timeout is ``Unavailable``), and
an ``Unavailable`` or ``InternalError`` says the node, not the request, is
the problem: the node registry then takes it out of placement until a poll
succeeds again.
"""

from twisted.internet import defer

from eucad.common.errors import CloudError


def asCloudError(failure):
    """The CloudError a failed node call stands for."""
    if failure.check(CloudError):
        return failure.value
    if failure.check(defer.TimeoutError):
        return CloudError("Unavailable", "the node did not answer in time", 503)
    return CloudError("InternalError", failure.getErrorMessage(), 500)


def nodeIsDown(error):
    """Whether a failed call says the node (not the request) is the problem."""
    return error.code in ("Unavailable", "InternalError")
