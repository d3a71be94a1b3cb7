"""One port for EC2 and S3: the Site the CLC's daemon serves when Walrus shares its port.

eucalyptus.conf's defaults put both CLOUD_PORT and WALRUS_PORT at 8773, as
Eucalyptus did.  Two daemons cannot both listen there, so when a host runs
the CLC and Walrus on the same port and address
(``eucad.common.components.walrusSharesCloudPort``) the CLC's daemon builds
Walrus too and serves one Site (DESIGN.md, "Ports and endpoints"):

- ``/services/Eucalyptus`` is EC2, ``/services/Walrus`` is S3;
- any other path is settled by the request's shape: an ``Action``
  parameter (in the query, or in an EC2 form post's body) or a SigV4
  scope naming ``ec2`` means EC2, everything else is S3.

The Site takes Walrus's request handling (``eucad.walrus.wire``), so S3
bodies stream to disk as they arrive and ``x-amz-*`` header names keep
S3's case.  As on Walrus's own port, an S3 request is admitted from its
line and headers before a byte of its body is stored (``SharedPortGate``
with ``isS3``, which follows the same rule as the root, ``serviceOf``): an
anonymous or wrongly signed upload is refused and its body never read.
EC2 requests carry a plain Walrus body spool as their content; ``readBody``
reads EC2's small bodies from it.  Only a POST whose body is a
URL-encoded form (EC2's shape) is ever read here to look for ``Action``, and
only up to EC2's body limit (the HTTP guard refuses a larger one from its
Content-Length with EC2's error, before reading it): S3 uploads are PUTs or
multipart/form-data POSTs and go to Walrus untouched.  Each
side keeps its own error format.  As with Walrus alone, ``/services/...``
shadows a bucket named ``services``.

``eucad.frontend.tap`` builds this Site when that decision says so.
"""

from urllib.parse import parse_qs, parse_qsl

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from eucad.clc.api.refusals import ec2Answer
from eucad.clc.api.resource import (FORM_TYPE, MAX_BODY_BYTES, Ec2Resource, hasEc2Scope,
                                    readContent)
from eucad.common.errors import CloudError
from eucad.common.httpguard import RequestLimits, accessLogLine, guardSite
from eucad.walrus.body import SPOOLS
from eucad.walrus.errors import S3Error
from eucad.walrus.refusals import s3Answer
from eucad.walrus.service import SharedPortGate, WalrusResource
from eucad.walrus.wire import configureSite

log = Logger()

EC2_PATH = b"/services/Eucalyptus"
S3_PATH = b"/services/Walrus"


def _under(path, prefix):
    return path == prefix or path.startswith(prefix + b"/")


async def _spooledBytes(spool, maxBody):
    """A Walrus spool's bytes, or None when there are more than ``maxBody``."""
    body = await spool.finish()
    if body.size > maxBody:
        return None
    return await body.read(maxBody)


async def _readBody(request, maxBody):
    content = request.content
    if not isinstance(content, SPOOLS):
        return readContent(request, maxBody)
    try:
        data = await _spooledBytes(content, maxBody)
    except S3Error as e:
        raise CloudError("InvalidParameterValue",
                         "The request body could not be received (%s)" % (e.code,))
    if data is None:
        raise CloudError("InvalidParameterValue", "The request body is too large")
    return data


def readBody(request, maxBody=MAX_BODY_BYTES):
    """
    Deferred of an EC2 request's body on the shared Site, where it arrives
    in a Walrus spool (or, outside that Site, in twisted's content file);
    CloudError beyond ``maxBody`` bytes.  ``Ec2Resource``'s ``readBody``.
    """
    return defer.ensureDeferred(_readBody(request, maxBody))


async def formHasAction(request, maxBody=MAX_BODY_BYTES):
    """
    Whether a form post's body names an ``Action``.  A body larger than
    EC2 takes, or one that failed to arrive, is not EC2's: S3 reports it.
    """
    content = request.content
    try:
        if isinstance(content, SPOOLS):
            data = await _spooledBytes(content, maxBody)
        else:
            content.seek(0)
            data = content.read(maxBody + 1)
            content.seek(0)
            data = data if len(data) <= maxBody else None
    except S3Error:
        return False
    if data is None:
        return False
    try:
        pairs = parse_qsl(data.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return False
    return any(name == "Action" for name, _ in pairs)


#: What a request's line and headers say it is (``serviceOf``).
EC2, S3, FORM = "ec2", "s3", "form"


def serviceOf(method, target, headers):
    """
    ``EC2`` or ``S3`` for a request from its line and headers alone, or
    ``FORM`` for a URL-encoded form post at the root, which only its body's
    ``Action`` can settle (EC2's shape; S3 never sends one): the one rule
    both the gate before the body and the root after it follow.
    """
    path, _, query = target.partition(b"?")
    if _under(path, EC2_PATH):
        return EC2
    if _under(path, S3_PATH):
        return S3
    if query and b"Action" in parse_qs(query, 1):
        return EC2
    authorization = (headers.getRawHeaders(b"authorization") or [b""])[0]
    if hasEc2Scope(authorization, query):
        return EC2
    contentType = (headers.getRawHeaders(b"content-type") or [b""])[0]
    if method == b"POST" and contentType.split(b";")[0].strip().lower() == FORM_TYPE:
        return FORM
    return S3


def isS3(method, target, headers):
    """
    Whether a request is S3's from its line and headers (``SharedPortGate``'s
    predicate): Walrus then admits it before a byte of its body is stored.
    EC2's requests and the root's form posts keep the plain spool, bounded
    by EC2's body limit.
    """
    return serviceOf(method, target, headers) == S3


class SharedRoot(Resource):
    """
    The root of the Site shared by EC2 (``ec2``, an Ec2Resource) and S3
    (``s3``, a WalrusResource): each request goes to one of them whole.

    A leaf: Walrus reads the raw request target itself, and EC2 answers
    whatever path it is given, so twisted's path traversal has no say.
    """

    isLeaf = True

    def __init__(self, ec2, s3):
        Resource.__init__(self)
        self.ec2 = ec2
        self.s3 = s3

    def serviceFor(self, request):
        """``ec2``, ``s3``, or None when only a form body can tell."""
        service = serviceOf(request.method, request.uri, request.requestHeaders)
        return {EC2: self.ec2, S3: self.s3}.get(service)

    def render(self, request):
        service = self.serviceFor(request)
        if service is not None:
            return service.render(request)
        d = defer.ensureDeferred(formHasAction(request, self.ec2.maxBody))
        d.addCallback(lambda isEc2: self.ec2 if isEc2 else self.s3)
        d.addCallback(self._renderWith, request)
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _renderWith(self, service, request):
        if request.channel is None:
            return  # the client left while its body was being read
        try:
            answer = service.render(request)
        except Exception:
            request.processingFailed(Failure())
            return
        if answer is not NOT_DONE_YET:
            request.write(answer)
            request.finish()

    def _failed(self, failure, request):
        if request.channel is not None and not request.finished:
            request.processingFailed(failure)  # logs it, answers 500
        else:
            log.failure("Choosing EC2 or S3 for {uri} failed", failure, uri=request.uri)


def isEc2Target(target):
    """
    Whether a request target is EC2's from the target alone (for answers
    given before the headers are complete): under ``/services/Eucalyptus``,
    or elsewhere but for ``/services/Walrus`` with an ``Action`` parameter.
    """
    path, _, query = target.partition(b"?")
    if _under(path, EC2_PATH):
        return True
    if _under(path, S3_PATH):
        return False
    return any(pair.partition(b"=")[0] == b"Action" for pair in query.split(b"&"))


def mayBeEc2(method, target, headers):
    """
    Whether a request may be EC2's from its line and headers (None before
    they are complete): an EC2 target, or, outside ``/services/Walrus``, a
    URL-encoded form post, which S3 never sends.
    """
    if isEc2Target(target):
        return True
    if headers is None or _under(target.partition(b"?")[0], S3_PATH):
        return False
    contentType = (headers.getRawHeaders(b"content-type") or [b""])[0]
    return method == b"POST" and contentType.split(b";")[0].strip().lower() == FORM_TYPE


def sharedAnswer(method, target, headers, refusal):
    """A refusal in EC2's format for what may be EC2's, in S3's otherwise."""
    answer = ec2Answer if mayBeEc2(method, target, headers) else s3Answer
    return answer(method, target, headers, refusal)


def sharedBodyLimit(method, target, headers):
    """EC2's body limit for what may be EC2; none for S3, which streams its bodies."""
    return MAX_BODY_BYTES if mayBeEc2(method, target, headers) else None


def sharedLimits(clock=None):
    """The HTTP limits of the shared Site."""
    return RequestLimits(answer=sharedAnswer, bodyLimit=sharedBodyLimit, clock=clock)


def makeSharedSite(cloud, walrus, isReady=None, limits=None):
    """
    The Site of a CLC that serves Walrus too: EC2 over ``cloud`` (answering
    503 until ``isReady()``), S3 over ``walrus``, Walrus's body spooling,
    with Walrus admitting S3's requests from their headers before their
    bodies (``SharedPortGate``), under ``limits`` (default
    ``sharedLimits()``).  Requests are logged as the CLC's are, without
    their query strings.
    """
    options = {"readBody": readBody}
    if isReady is not None:
        options["isReady"] = isReady
    root = SharedRoot(Ec2Resource(cloud, **options), WalrusResource(walrus))
    site = configureSite(Site(root, logFormatter=accessLogLine), walrus.spoolFactory,
                         gate=SharedPortGate(walrus, isS3))
    return guardSite(site, limits or sharedLimits())
