"""EC2's answers to the requests the HTTP guard refuses before they reach the API.

``eucad.common.httpguard`` refuses an oversized URL, an oversized or
undeclared body and headers that never finish, before ``Ec2Resource`` sees
the request; this module says how EC2 says no (``<Response><Errors>``, the
same codes and statuses the API itself uses) and how large an EC2 body may
be.  Used by the CLC's own Site and by the front door's shared one.
"""

import uuid

from eucad.clc.api import render
from eucad.clc.api.resource import MAX_BODY_BYTES
from eucad.common.errors import CloudError
from eucad.common.httpguard import RequestLimits

#: The EC2 error code for each refusal; the status is EC2's 400 except where noted.
EC2_CODES = {
    "uriTooLong": ("InvalidParameterValue", 414),
    "headersTooLarge": ("InvalidParameterValue", 400),
    "bodyTooLarge": ("InvalidParameterValue", 400),
    "lengthRequired": ("MissingParameter", 411),
    "headersTimeout": ("InvalidRequest", 408),
}

CONTENT_TYPE = b"text/xml;charset=UTF-8"


def ec2Answer(method, target, headers, refusal):
    """``(status, content type, body)`` of EC2's error for ``refusal``."""
    code, status = EC2_CODES[refusal.name]
    _, body = render.renderError(CloudError(code, refusal.message, status), str(uuid.uuid4()))
    return status, CONTENT_TYPE, body


def ec2BodyLimit(method, target, headers):
    """Every EC2 request: parameters and user data fit in MAX_BODY_BYTES."""
    return MAX_BODY_BYTES


def ec2Limits(clock=None):
    """The limits of a Site that serves EC2 alone."""
    return RequestLimits(answer=ec2Answer, bodyLimit=ec2BodyLimit, clock=clock)
