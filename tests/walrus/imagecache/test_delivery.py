"""The image delivery port over real mutual TLS on loopback: who gets what answer."""

import http.client
import io
import os
import ssl
import types

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest
from twisted.web.server import Site

from eucad.bundle.errors import ImageNotDeliverable, ImageNotReady
from eucad.common import trust
from eucad.walrus.imagecache.delivery import ImageDeliveryResource

IMAGE = os.urandom(700000)


class Images:
    """``openImage``: one available image, one pending, the rest unknown."""

    def __init__(self):
        self.opened = []

    def __call__(self, imageId):
        if imageId == "emi-0000000a":
            f = io.BytesIO(IMAGE)
            self.opened.append(f)
            image = types.SimpleNamespace(size=len(IMAGE), sha1="ab" * 20)
            return defer.succeed(types.SimpleNamespace(image=image, file=f))
        if imageId == "emi-0000000b":
            return defer.fail(ImageNotReady("emi-0000000b is still being decrypted"))
        return defer.fail(ImageNotDeliverable("No image %s" % (imageId,)))


class DeliveryPortTests(unittest.TestCase):

    def setUp(self):
        self.keys = os.path.abspath(self.mktemp())
        os.makedirs(self.keys)
        trust.setup(self.keys, ["127.0.0.1"])
        self.images = Images()
        # Node certificates may fetch, the cluster's (another role the CA signs) may not.
        resource = ImageDeliveryResource(
            self.images, lambda cert: trust.roleOf(cert) == "node",
            lambda f, *args: threads.deferToThread(f, *args))
        cloud = trust.Credentials(
            "cloud", trust.loadCert(trust.certPath(self.keys, "cloud")),
            trust.loadKey(trust.keyPath(self.keys, "cloud")),
            trust.loadCert(os.path.join(self.keys, trust.CA_CERT)))
        self.port = reactor.listenSSL(0, Site(resource),
                                      cloud.serverOptions(("node", "cluster")),
                                      interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    def get(self, path, role=None):
        context = ssl.create_default_context(cafile=os.path.join(self.keys, trust.CA_CERT))
        if role:
            context.load_cert_chain(trust.certPath(self.keys, role),
                                    trust.keyPath(self.keys, role))

        def fetch():
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.port.getHost().port, context=context, timeout=30)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()
        return threads.deferToThread(fetch)

    @defer.inlineCallbacks
    def test_nodeGetsTheImage(self):
        """A node's certificate gets the image's bytes, length and SHA1; the file is closed."""
        status, headers, body = yield self.get("/images/emi-0000000a", "node")
        self.assertEqual((status, body), (200, IMAGE))
        self.assertEqual(headers["X-Image-Sha1"], "ab" * 20)
        self.assertEqual(int(headers["Content-Length"]), len(IMAGE))
        self.assertTrue(self.images.opened[0].closed)

    @defer.inlineCallbacks
    def test_pendingIsRetryLater(self):
        """An image being decrypted is 503 with Retry-After, so the node asks again."""
        status, headers, body = yield self.get("/images/emi-0000000b", "node")
        self.assertEqual(status, 503)
        self.assertIn("Retry-After", headers)
        self.assertIn(b"still being decrypted", body)

    @defer.inlineCallbacks
    def test_unknownAndMalformed(self):
        """Unknown ids and paths that are not /images/ID are 404."""
        for path in ("/images/emi-0000000c", "/images/../etc/passwd", "/other"):
            status, _, _ = yield self.get(path, "node")
            self.assertEqual(status, 404, path)

    @defer.inlineCallbacks
    def test_otherCertificateRefused(self):
        """A certificate mayFetch turns down is 403, before any image is opened."""
        status, _, _ = yield self.get("/images/emi-0000000a", "cluster")
        self.assertEqual(status, 403)
        self.assertEqual(self.images.opened, [])

    @defer.inlineCallbacks
    def test_noCertificateNoConnection(self):
        """Without a client certificate the TLS handshake fails: nothing is served."""
        yield self.assertFailure(self.get("/images/emi-0000000a"), ssl.SSLError,
                                 ConnectionError, OSError)
        self.assertEqual(self.images.opened, [])
