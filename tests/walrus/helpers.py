"""Shared pieces of the Walrus tests: an in-memory Walrus, users, signing.

``WalrusHarness`` is a real Walrus (real SQLite database, real blob files in
a temporary directory) whose database and file work run in the calling
thread, driven through treq's StubTreq: real HTTP parsing, no sockets, no
reactor.  Requests are signed with botocore's signers, an implementation
independent of ours.
"""

import hashlib
import hmac
import os
import time
from urllib.parse import urlsplit, urlunsplit

from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from treq.testing import StubTreq
from twisted.internet import defer

from eucad.common import accounts
from eucad.common.config import EucaConf
from eucad.common.db import Database
from eucad.walrus.app import buildWalrus
from eucad.walrus.service import WalrusResource

HOST = "walrus.test"


class InlineDatabase(Database):
    """The real Database, but ``run`` works in the caller's thread."""

    def run(self, fn, *args, **kwargs):
        return defer.maybeDeferred(self.transact, fn, *args, **kwargs)


def inlineIo(fn, *args, **kwargs):
    """Blocking file work, done at once (tests have no thread pool)."""
    return defer.maybeDeferred(fn, *args, **kwargs)


def addUser(db, name, isAdmin=False):
    def create(session):
        user = accounts.createUser(session, name, isAdmin=isAdmin)
        return user.accessKey, user.secretKey
    return db.transact(create)


class UnsignedPayloadAuth(S3SigV4Auth):
    """botocore's SigV4 with ``x-amz-content-sha256: UNSIGNED-PAYLOAD``."""

    def _should_sha256_sign_payload(self, request):
        return False


class Reply:
    def __init__(self, code, headers, body):
        self.code = code
        self.headers = headers
        self.body = body

    def header(self, name):
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    def errorCode(self):
        from lxml import etree
        if not self.body:
            return None
        root = etree.fromstring(self.body)
        code = root.find("Code")
        return code.text if code is not None else None

    def xml(self):
        from lxml import etree
        return etree.fromstring(self.body)

    def findall(self, path):
        """Texts of elements at ``path`` (tags without namespace, '/'-joined)."""
        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        query = "./" + "/".join(ns + part for part in path.split("/"))
        return [e.text or "" for e in self.xml().findall(query)]


class WalrusHarness:
    """
    A Walrus over a temporary directory with users ``alice``, ``bob`` and
    ``admin``; ``request`` sends one signed (or anonymous) request.
    """

    def __init__(self, testcase, conf=None, clock=time.time):
        self.testcase = testcase
        self.root = os.path.abspath(testcase.mktemp())
        os.makedirs(self.root)
        # A tests.dbengines.EngineTests test case names its engine (PostgreSQL).
        url = (testcase.databaseUrl() if hasattr(testcase, "databaseUrl")
               else "sqlite:///" + os.path.join(self.root, "eucalyptus.db"))
        self.db = InlineDatabase(url)
        self.db.open()
        testcase.addCleanup(self.db.engine.dispose)
        self.conf = EucaConf(os.path.join(self.root, "eucalyptus.conf"))
        self.conf.set("WALRUS_MAX_BUCKETS_PER_USER", "10")
        for key, value in (conf or {}).items():
            self.conf.set(key, value)
        self.bukkits = os.path.join(self.root, "bukkits")
        self.walrus = buildWalrus(self.db, self.bukkits, self.conf, inlineIo, clock)
        self.walrus.blobs.prepare()
        self.resource = WalrusResource(self.walrus)
        self.stub = StubTreq(self.resource)
        self.alice = addUser(self.db, "alice")
        self.bob = addUser(self.db, "bob")
        self.admin = addUser(self.db, "admin", isAdmin=True)

    def sign(self, method, url, headers, body, keys, scheme):
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        credentials = Credentials(*keys)
        if scheme == "v4":
            S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
        elif scheme == "v4-unsigned":
            UnsignedPayloadAuth(credentials, "s3", "us-east-1").add_auth(request)
        elif scheme == "v2":
            HmacV1Auth(credentials).add_auth(request)
        else:
            raise ValueError(scheme)
        return dict(request.headers.items())

    def presign(self, method, path, keys=None, scheme="v4", expires=300, host=HOST):
        url = "http://%s%s" % (host, path)
        request = AWSRequest(method=method, url=url)
        credentials = Credentials(*(keys or self.alice))
        if scheme == "v4":
            S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=expires).add_auth(request)
        else:
            HmacV1QueryAuth(credentials, expires=expires).add_auth(request)
        return request.url

    def request(self, method, path, body=b"", headers=None, keys="alice", scheme="v4",
                host=HOST, signPath=None, url=None):
        """
        Send a request and return a Reply.  ``keys`` is a user name, a key
        pair, or None for anonymous; ``signPath`` signs another path than
        the one sent (for the /services/Walrus prefix tests).
        """
        if url is None:
            url = "http://%s%s" % (host, path)
        headers = dict(headers or {})
        if isinstance(keys, str):
            keys = getattr(self, keys)
        if keys is not None:
            signUrl = url
            if signPath is not None:
                parts = urlsplit(url)
                signUrl = urlunsplit((parts.scheme, parts.netloc, signPath, parts.query, ""))
            headers = self.sign(method, signUrl, headers, body, keys, scheme)
        d = self.stub.request(method, url, data=body if body else None,
                              headers={k: v for k, v in headers.items()})
        self.stub.flush()
        response = self.testcase.successResultOf(d)
        content = self.stub.content(response)
        self.stub.flush()
        return Reply(response.code, response.headers, self.testcase.successResultOf(content))

    # -- conveniences -----------------------------------------------------------
    def createBucket(self, name, keys="alice", headers=None):
        reply = self.request("PUT", "/" + name, keys=keys, headers=headers)
        self.testcase.assertEqual(reply.code, 200, reply.body)
        return reply

    def put(self, bucket, key, data, keys="alice", headers=None):
        from urllib.parse import quote
        reply = self.request("PUT", "/%s/%s" % (bucket, quote(key, safe="/~")), body=data,
                             keys=keys, headers=headers)
        self.testcase.assertEqual(reply.code, 200, reply.body)
        return reply

    def get(self, bucket, key, keys="alice", headers=None):
        from urllib.parse import quote
        return self.request("GET", "/%s/%s" % (bucket, quote(key, safe="/~")), keys=keys,
                            headers=headers)

    def blobFiles(self):
        found = []
        for directory, _, files in os.walk(self.bukkits):
            found.extend(os.path.join(directory, f) for f in files)
        return found

    def inlineBodies(self):
        """How many object and version rows hold their own bytes (eucad.walrus.inline)."""
        from sqlalchemy import func, select

        from eucad.walrus.models import StoredObject
        from eucad.walrus.versionmodels import ObjectVersion

        def count(session):
            return sum(session.scalar(select(func.count()).select_from(table)
                                      .where(table.data.is_not(None)))
                       for table in (StoredObject, ObjectVersion))
        return self.db.transact(count)

    def storedBodies(self):
        """How many bodies are kept, in blob files or in rows."""
        return len(self.blobFiles()) + self.inlineBodies()


def md5hex(data):
    return hashlib.md5(data).hexdigest()


def awsChunkedBody(data, signingKey, amzDate, scope, seedSignature, chunkSize):
    """An aws-chunked body signed per chunk, as the S3 SigV4 streaming spec says."""
    empty = hashlib.sha256(b"").hexdigest()
    previous = seedSignature
    out = []
    chunks = [data[i:i + chunkSize] for i in range(0, len(data), chunkSize)] + [b""]
    for chunk in chunks:
        text = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, previous, empty,
                          hashlib.sha256(chunk).hexdigest()])
        signature = hmac.new(signingKey, text.encode(), hashlib.sha256).hexdigest()
        out.append(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), signature.encode(), chunk))
        previous = signature
    return b"".join(out)
