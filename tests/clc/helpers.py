"""Shared pieces of the CLC tests: a DB that runs inline, users, signing.

``InlineDatabase`` is the real ``Database`` (SQLite file, same transactions)
whose ``run`` executes in the calling thread, so that tests need no reactor
and no thread pool.  Requests are signed with botocore's own signers, an
implementation independent of ours.
"""

import time
from urllib.parse import urlencode

from botocore.auth import SigV2Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twisted.internet import defer, task

from eucad.clc.clusters import ClusterSet
from eucad.clc.cloud import Cloud
from eucad.clc.vmtypes import ensureDefaults
from eucad.common import accounts
from eucad.common.db import Database

ENDPOINT = "http://cloud.example:8773/services/Eucalyptus"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


class InlineDatabase(Database):
    """The real Database, but ``run`` works in the caller's thread."""

    def run(self, fn, *args, **kwargs):
        return defer.maybeDeferred(self.transact, fn, *args, **kwargs)


def makeDatabase(testcase):
    """
    A fresh database: SQLite, or the engine a ``tests.dbengines.EngineTests``
    test case names (so that one test class runs on PostgreSQL too).
    """
    if hasattr(testcase, "databaseUrl"):
        db = InlineDatabase(testcase.databaseUrl())
    else:
        db = InlineDatabase("sqlite:///" + testcase.mktemp() + ".db")
    db.open()
    testcase.addCleanup(db.engine.dispose)
    db.transact(ensureDefaults)
    return db


def addUser(db, name, isAdmin=False):
    """Create a user; return ``(accessKey, secretKey)``."""
    def create(session):
        user = accounts.createUser(session, name, isAdmin=isAdmin)
        return user.accessKey, user.secretKey
    return db.transact(create)


def realTimeClock():
    """A task.Clock set to now, so that botocore's signatures are current."""
    clock = task.Clock()
    clock.advance(time.time())
    return clock


def makeCloud(testcase, clusters, clock=None, db=None):
    """A Cloud over an inline DB and ``{zone: FakeCluster}``."""
    clock = clock or realTimeClock()
    db = db or makeDatabase(testcase)
    return Cloud(db, ClusterSet.fromLinks(clusters, clock, timeout=30), clock, ENDPOINT)


def signV4(keys, params, url=ENDPOINT, region="eucalyptus", service="ec2",
           method="POST"):
    """``(url, headers, body)`` of a V4-header-signed request."""
    body = urlencode(params).encode("ascii") if method == "POST" else b""
    if method != "POST":
        url = url + "?" + urlencode(params)
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"Content-Type": FORM} if method == "POST" else {})
    SigV4Auth(Credentials(*keys), service, region).add_auth(request)
    return url, dict(request.headers.items()), body


def presignV4(keys, params, url=ENDPOINT, region="eucalyptus", expires=300):
    """A V4 presigned GET URL."""
    request = AWSRequest(method="GET", url=url + "?" + urlencode(params))
    SigV4QueryAuth(Credentials(*keys), "ec2", region, expires=expires).add_auth(request)
    return request.url


def signV2(keys, params, url=ENDPOINT, method="POST", signatureMethod=None):
    """``(url, body)`` of a SignatureVersion 2 request (botocore's signer)."""
    params = dict(params)
    if method == "POST":
        request = AWSRequest(method="POST", url=url, data=params)
    else:
        request = AWSRequest(method="GET", url=url, params=params)
    signer = SigV2Auth(Credentials(*keys))
    if signatureMethod == "HmacSHA1":
        signer = _SigV2Sha1(Credentials(*keys))
    signer.add_auth(request)
    signed = request.data if method == "POST" else request.params
    if method == "POST":
        return url, urlencode(signed).encode("ascii")
    return url + "?" + urlencode(signed), b""


class _SigV2Sha1(SigV2Auth):
    """botocore only signs V2 with SHA-256; euca2ools of 2009 used SHA-1."""

    def calc_signature(self, request, params):
        import base64
        import hashlib
        import hmac
        from urllib.parse import quote, urlsplit
        params["SignatureMethod"] = "HmacSHA1"
        split = urlsplit(request.url)
        pairs = "&".join("%s=%s" % (quote(k, safe=""), quote(str(params[k]), safe="-_~"))
                         for k in sorted(params) if k != "Signature")
        text = "%s\n%s\n%s\n%s" % (request.method, split.netloc, split.path or "/", pairs)
        mac = hmac.new(self.credentials.secret_key.encode(), text.encode(), hashlib.sha1)
        return pairs, base64.b64encode(mac.digest()).decode()


class StubEc2:
    """
    An EC2 client for in-memory tests: signs with botocore, sends through
    treq's StubTreq (real HTTP parsing, no socket), parses answers with
    botocore's EC2 parser against the service model, as boto3 does.
    """

    def __init__(self, testcase, cloud, keys):
        from treq.testing import StubTreq

        from eucad.clc.api.resource import Ec2Resource, makeRootResource
        self.testcase = testcase
        self.keys = keys
        self.stub = StubTreq(makeRootResource(Ec2Resource(cloud)))

    def send(self, url, headers=None, body=b"", method="POST"):
        """``(status, body bytes)`` of one raw request."""
        d = self.stub.request(method, url, headers=headers or {}, data=body or None)
        self.stub.flush()
        response = self.testcase.successResultOf(d)
        content = response.content()
        self.stub.flush()
        return response.code, self.testcase.successResultOf(content)

    def raw(self, action, keys=None, **params):
        """``(status, body)`` of ``action`` signed with V4."""
        params = dict(params, Action=action)
        params.setdefault("Version", "2016-11-15")
        url, headers, body = signV4(keys or self.keys, params)
        return self.send(url, headers, body)

    def parse(self, action, status, body):
        return parseAnswer(action, status, body)

    def call(self, action, keys=None, **params):
        """The botocore-parsed answer; the test fails on an error answer."""
        status, body = self.raw(action, keys, **params)
        parsed = parseAnswer(action, status, body)
        if status != 200:
            self.testcase.fail("%s failed: %s %r" % (action, status, parsed.get("Error")))
        return parsed

    def error(self, action, keys=None, **params):
        """``(status, code, message)`` of an answer that must be an error."""
        status, body = self.raw(action, keys, **params)
        if status == 200:
            self.testcase.fail("%s succeeded, expected an error: %r" % (action, body))
        error = parseAnswer(action, status, body)["Error"]
        return status, error["Code"], error["Message"]


_MODEL = None


def parseAnswer(action, status, body):
    """Parse an EC2 answer exactly as boto3 would."""
    global _MODEL
    import botocore.session
    from botocore import parsers
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("ec2")
    parser = parsers.create_parser("ec2")
    return parser.parse({"body": body, "headers": {}, "status_code": status},
                        _MODEL.operation_model(action).output_shape)


def registerImages(db, owner="admin", isPublic=True):
    """A kernel, a ramdisk and a machine image booting them: ``(emi, eki, eri)``."""
    from eucad.clc import imagestore

    def register(session):
        eki = imagestore.registerImage(session, owner, "kernel", "/images/vmlinuz",
                                       digest="c" * 64)["id"]
        eri = imagestore.registerImage(session, owner, "ramdisk", "/images/initrd",
                                       digest="d" * 64)["id"]
        emi = imagestore.registerImage(session, owner, "machine", "/images/root.img",
                                       isPublic=isPublic, kernelId=eki, ramdiskId=eri,
                                       digest="e" * 64)["id"]
        return emi, eki, eri
    return db.transact(register)


def instanceRows(db):
    """Every instance row as a record, by id."""
    from sqlalchemy import select

    from eucad.clc.models import Instance

    def rows(session):
        return {row.id: row.record() for row in session.scalars(select(Instance))}
    return db.transact(rows)


def reservationCount(db):
    from sqlalchemy import func, select

    from eucad.clc.models import Reservation
    return db.transact(lambda s: s.scalar(select(func.count()).select_from(Reservation)))
