"""Reading bundles from Walrus over HTTP as the user who registers them.

RegisterImage must only accept manifests the registering user can read, so
the CLC asks Walrus with that user's own keys (an S3 request signed with
Signature V4 by botocore's signer), exactly as a client would: Walrus's
access checks decide, and nothing here needs privileges.  Bodies are read
with a size bound; nothing is held beyond the manifest.
"""

from urllib.parse import quote

import treq

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twisted.internet import defer

from eucad.bundle.manifest import MAX_MANIFEST_BYTES


class BundleSourceError(Exception):
    """Walrus refused or failed; ``status`` and ``code`` are Walrus's."""

    def __init__(self, message, status=None, code=None):
        Exception.__init__(self, message)
        self.status = status
        self.code = code


class _BoundedBody:
    """Collects a response body, failing once it passes ``limit`` bytes."""

    def __init__(self, limit):
        self.limit = limit
        self.chunks = []
        self.size = 0
        self.tooLarge = False

    def collect(self, data):
        self.size += len(data)
        if self.size > self.limit:
            self.tooLarge = True
            raise BundleSourceError("larger than %d bytes" % (self.limit,))
        self.chunks.append(data)


class WalrusBundleSource:
    """
    @param walrusUrl: where Walrus answers S3 (``http://host:port/services/Walrus``
        or its root).
    @param httpClient: a ``treq.client.HTTPClient`` (or ``StubTreq``); by
        default one without persistent connections, since registrations are
        rare and a daemon should not hold idle sockets to Walrus.
    """

    def __init__(self, walrusUrl, httpClient=None, region="eucalyptus"):
        self.walrusUrl = walrusUrl.rstrip("/")
        if httpClient is None:
            from treq.client import HTTPClient
            from twisted.internet import reactor
            from twisted.web.client import Agent, HTTPConnectionPool
            httpClient = HTTPClient(Agent(
                reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        self.http = httpClient
        self.region = region

    def _url(self, bucket, key):
        return "%s/%s/%s" % (self.walrusUrl, quote(bucket, safe=""), quote(key, safe="/"))

    def _signed(self, method, url, keys):
        request = AWSRequest(method=method, url=url)
        S3SigV4Auth(Credentials(*keys), "s3", self.region).add_auth(request)
        return {name: [value] for name, value in request.headers.items()}

    @defer.inlineCallbacks
    def getManifest(self, keys, bucket, key, maxBytes=MAX_MANIFEST_BYTES):
        """The manifest's bytes, read as the user whose ``(accessKey, secret)`` is ``keys``."""
        url = self._url(bucket, key)
        try:
            response = yield self.http.request("GET", url,
                                               headers=self._signed("GET", url, keys))
        except Exception as e:
            raise BundleSourceError("Walrus cannot be reached: %s" % (e,))
        if response.code != 200:
            body = yield treq.content(response)
            raise BundleSourceError("Walrus answered %d" % (response.code,), response.code,
                                    _errorCode(body))
        length = response.length
        if isinstance(length, int) and length > maxBytes:
            raise BundleSourceError("The manifest is larger than %d bytes" % (maxBytes,),
                                    413, "ManifestTooLarge")
        body = _BoundedBody(maxBytes)
        try:
            yield treq.collect(response, body.collect)
        except Exception:
            if body.tooLarge:
                raise BundleSourceError("The manifest is larger than %d bytes"
                                        % (maxBytes,), 413, "ManifestTooLarge")
            raise
        return b"".join(body.chunks)

    @defer.inlineCallbacks
    def exists(self, keys, bucket, key):
        """Whether the user can read the object (a signed HEAD)."""
        url = self._url(bucket, key)
        response = yield self.http.request("HEAD", url,
                                           headers=self._signed("HEAD", url, keys))
        yield treq.content(response)
        if response.code == 200:
            return True
        if response.code in (403, 404):
            return False
        raise BundleSourceError("Walrus answered %d to HEAD %s/%s"
                                % (response.code, bucket, key), response.code)


def _errorCode(body):
    """The ``<Code>`` of an S3 error body, if it has one."""
    from lxml import etree
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False,
                                                      no_network=True))
        return root.findtext("Code")
    except etree.XMLSyntaxError:
        return None
