"""The HTTP side of the EC2 Query API (twisted.web).

``Ec2Resource`` takes GET query strings and POST form bodies alike, checks
the signature (``auth``), runs the action (``dispatch``) and answers with
``render``'s XML; every failure, expected or not, becomes an EC2 error answer
here.  ``makeRootResource`` mounts it at ``/services/Eucalyptus`` and ``/``
when the CLC has its port to itself; when Walrus shares the port,
``eucad.frontend.frontdoor`` mounts it instead and uses ``isEc2Request`` to tell
EC2 requests at the shared root from S3 ones.
"""

import re
import uuid
from urllib.parse import parse_qsl

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from eucad.clc.api import render
from eucad.clc.api.auth import Authenticator, SignedRequest
from eucad.clc.api.dispatch import ApiCall, dispatch
from eucad.clc.api.versions import checkVersion
from eucad.common.errors import CloudError

log = Logger()

#: Largest request body read (UserData is at most 16 KiB, base64 ~22 KiB).
MAX_BODY_BYTES = 1024 * 1024

FORM_TYPE = b"application/x-www-form-urlencoded"


def _pairs(raw):
    """Decoded ``(name, value)`` pairs of a query string or form body."""
    try:
        text = raw.decode("ascii")
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise CloudError("InvalidParameterValue",
                         "The query string is not valid percent-encoded UTF-8")


def readContent(request, maxBody=MAX_BODY_BYTES):
    """
    The request body from twisted.web's content file, refused beyond
    ``maxBody`` bytes: the default way an ``Ec2Resource`` reads bodies.
    """
    request.content.seek(0)
    body = request.content.read(maxBody + 1)
    if len(body) > maxBody:
        raise CloudError("InvalidParameterValue", "The request body is too large")
    return body


def signedRequestFrom(request, maxBody=MAX_BODY_BYTES, body=None):
    """
    The parts of a twisted.web request that ``auth`` and the operations need;
    ``body`` is the request body when the caller has already read it.
    """
    rawPath, _, query = request.uri.partition(b"?")
    queryPairs = _pairs(query)
    if body is None:
        body = readContent(request, maxBody)
    params = {}
    for name, value in queryPairs:
        params.setdefault(name, value)
    if isFormPost(request):
        for name, value in _pairs(body):
            params.setdefault(name, value)
    headers = {}
    for name, values in request.requestHeaders.getAllRawHeaders():
        headers.setdefault(name.decode("latin-1").lower(), []).extend(
            value.decode("latin-1") for value in values)
    host = (request.getHeader(b"host") or b"").decode("latin-1")
    return SignedRequest(request.method.decode("ascii", "replace"), host,
                         rawPath.decode("latin-1"), queryPairs, params, headers, body)


def isFormPost(request):
    """Whether the request is a POST whose body is an EC2 form (parameters)."""
    contentType = (request.getHeader(b"content-type") or b"").split(b";")[0].strip()
    return request.method == b"POST" and contentType.lower() == FORM_TYPE


_CREDENTIAL = re.compile(rb"Credential=([^,\s]+)")


def _scopeService(credential):
    """The service of a SigV4 credential ``AK/date/region/service/aws4_request``."""
    parts = credential.split(b"/")
    return parts[-2] if len(parts) >= 5 else None


def isEc2Request(request):
    """
    Whether a request at a root shared with S3 is meant for EC2 from its
    query and headers alone: it has an ``Action`` query parameter, or its
    SigV4 scope (Authorization header or presigned ``X-Amz-Credential``)
    names the service ``ec2`` (DESIGN.md).

    The scope is parsed, not searched for: an S3 key may well contain the
    text ``/ec2/aws4_request``.  EC2 form posts carry ``Action`` in their
    body, which only the caller can read (``eucad.frontend.frontdoor``).
    """
    if b"Action" in (request.args or {}):
        return True
    return hasEc2Scope(request.getHeader(b"authorization") or b"",
                       request.uri.partition(b"?")[2])


def hasEc2Scope(authorization, query):
    """
    Whether a request's SigV4 scope, from its Authorization header or its
    presigned query's ``X-Amz-Credential``, names the service ``ec2``.
    """
    if authorization.startswith(b"AWS4-"):
        match = _CREDENTIAL.search(authorization)
        if match and _scopeService(match.group(1)) == b"ec2":
            return True
    if b"Credential" not in query:
        return False
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return False
    for name, value in pairs:
        if name == "X-Amz-Credential":
            return _scopeService(value.encode("latin-1")) == b"ec2"
    return False


def _alwaysReady():
    return True


class Ec2Resource(Resource):
    """
    Every path below where it is mounted answers EC2 Query requests.

    @param isReady: a callable saying whether the CLC may serve requests
        (``CloudStartup.isReady``); while false every request is answered
        503 ServiceUnavailable.  Default: always ready.
    @param readBody: ``readBody(request, maxBody)`` gives the request body
        (bytes, or a Deferred of them), raising CloudError when it is larger
        than ``maxBody``.  Default: ``readContent``, twisted.web's content
        file; a Site shared with Walrus receives bodies differently and
        passes its own (``eucad.frontend.frontdoor.readBody``).
    """

    isLeaf = True

    def __init__(self, cloud, authenticator=None, maxBody=MAX_BODY_BYTES,
                 isReady=_alwaysReady, readBody=readContent):
        Resource.__init__(self)
        self.cloud = cloud
        self.authenticator = authenticator or Authenticator(cloud.db, cloud.clock)
        self.maxBody = maxBody
        self.isReady = isReady
        self.readBody = readBody

    def render_GET(self, request):
        requestId = str(uuid.uuid4())
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = self._handle(request, requestId)
        d.addErrback(self._failed, requestId)
        d.addErrback(self._renderingFailed, requestId)
        d.addCallback(self._write, request, gone)
        d.addErrback(lambda f: log.failure("could not answer {id}", f, id=requestId))
        return NOT_DONE_YET

    render_POST = render_GET

    @defer.inlineCallbacks
    def _handle(self, request, requestId):
        if not self.isReady():
            raise CloudError("ServiceUnavailable", "The cloud controller is starting "
                             "up; try again shortly", 503)
        body = yield defer.maybeDeferred(self.readBody, request, self.maxBody)
        parts = signedRequestFrom(request, self.maxBody, body)
        version = checkVersion(parts.params.get("Version"))
        action = parts.params.get("Action", "")
        caller = yield self.authenticator.authenticate(parts)
        call = ApiCall(self.cloud, caller, action, version, requestId, parts.params)
        data = yield dispatch(call)
        log.info("{action} by {user}: ok", action=action, user=caller.name)
        return 200, render.renderResponse(action, version, requestId, data)

    def _failed(self, failure, requestId):
        if failure.check(CloudError):
            error = failure.value
            log.info("request {id} refused: {error}", id=requestId, error=error)
        else:
            log.failure("request {id} failed", failure, id=requestId)
            error = CloudError("InternalError", "An internal error occurred", 500)
        return render.renderError(error, requestId)

    def _renderingFailed(self, failure, requestId):
        """The last resort: making the answer failed, so the client still gets one."""
        log.failure("could not render the answer to {id}", failure, id=requestId)
        return render.renderInternalError(requestId)

    def _write(self, answer, request, gone):
        if gone:
            return
        status, body = answer
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/xml;charset=UTF-8")
        request.setHeader(b"content-length", str(len(body)).encode("ascii"))
        request.write(body)
        request.finish()


def makeRootResource(ec2):
    """A root serving ``ec2`` at ``/`` and ``/services/Eucalyptus``."""
    root = Resource()
    root.putChild(b"", ec2)
    services = Resource()
    services.putChild(b"Eucalyptus", ec2)
    root.putChild(b"services", services)
    return root
