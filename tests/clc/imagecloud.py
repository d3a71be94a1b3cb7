"""A CLC and a Walrus on loopback ports, joined as RegisterImage needs them.

The Walrus is ``tests.walrus.live.LiveWalrus``; the CLC serves EC2 over the
same database (so the users are the same), checks bundles through a real
``WalrusBundleSource`` and decrypts them with a real ``ImageCache`` in a
thread pool, reading parts over HTTP.  Clients (boto3, ``eucad-image``) run
in threads so that the reactor serves both while they wait.
"""

import io
import os

import boto3
from botocore.config import Config
from twisted.internet import defer, reactor, threads
from twisted.protocols.policies import WrappingFactory
from twisted.python.threadpool import ThreadPool
from twisted.web.server import Site

from eucad.bundle import cli
from eucad.clc.api.resource import Ec2Resource, makeRootResource
from eucad.clc.bundlecheck import BundleChecker
from eucad.clc.bundlesource import WalrusBundleSource
from eucad.clc.cloud import Cloud
from eucad.clc.clusters import ClusterSet
from eucad.clc.imageprep import ImagePreparer
from eucad.common import accounts
from eucad.walrus.imagecache import ImageCache
from eucad.walrus.imagecache.httpparts import S3PartOpener
from tests.bundle.helpers import certPem, keyPair, writePems
from tests.walrus.live import LiveWalrus

USERS = ("admin", "alice", "bob")


class ImageCloud:

    def __init__(self, testcase, cacheCapacity=64 * 1024 * 1024):
        self.testcase = testcase
        self.cacheCapacity = cacheCapacity

    @defer.inlineCallbacks
    def start(self):
        self.walrus = LiveWalrus(self.testcase)
        yield self.walrus.start()
        self.root = self.walrus.root
        admin = yield self.walrus.db.run(
            lambda s: accounts.createUser(s, "admin", isAdmin=True).accessKey)
        keys = yield self.walrus.db.run(lambda s: {
            name: (s.get(accounts.User, name).accessKey, s.get(accounts.User, name).secretKey)
            for name in USERS})
        self.keys = keys
        assert keys["admin"][0] == admin
        self.cloudKey, self.cloudCert = keyPair("cloud")
        self.certificates = {name: [certPem(keyPair(name)[1])] for name in USERS}
        pool = ThreadPool(1, 2, name="image-cache")
        pool.start()
        self.testcase.addCleanup(pool.stop)
        self.cache = ImageCache.withThreadPool(os.path.join(self.root, "image-cache"),
                                               self.cacheCapacity, self.cloudKey,
                                               reactor, pool)
        yield self.cache.start()
        self.preparer = ImagePreparer(self.walrus.db, self.cache,
                                      lambda keys: S3PartOpener(self.walrus.endpoint, keys))
        checker = BundleChecker(WalrusBundleSource(self.walrus.endpoint),
                                self.certificatesFor, self.cloudKey)
        self.cloud = Cloud(self.walrus.db, ClusterSet.fromLinks({}, reactor), reactor,
                           "http://127.0.0.1/services/Eucalyptus", bundles=checker,
                           imagePreparer=self.preparer)
        port = self.listen(Site(makeRootResource(Ec2Resource(self.cloud))))
        self.ec2Url = "http://127.0.0.1:%d/services/Eucalyptus" % (port.getHost().port,)
        self.cloudCertPath, _ = writePems(self.root, "cloud")

    def listen(self, site):
        """Listen on a free loopback port; at the end, drop every connection."""
        wrapper = WrappingFactory(site)
        port = reactor.listenTCP(0, wrapper, interface="127.0.0.1")

        def close():
            for connection in list(wrapper.protocols):
                connection.transport.abortConnection()
            return port.stopListening()
        self.testcase.addCleanup(close)
        return port

    def certificatesFor(self, name):
        """The accounts store's role: certificates issued to ``name`` (None: all)."""
        if name is None:
            return [pem for pems in self.certificates.values() for pem in pems]
        return self.certificates.get(name, [])

    def env(self, user, signer=None, cloudCertPath=None):
        """An eucarc-like environment for ``user`` (bundles signed by ``signer``)."""
        certPath, keyPath = writePems(self.root, signer or user)
        return {"EC2_URL": self.ec2Url, "S3_URL": self.walrus.endpoint,
                "EC2_ACCESS_KEY": self.keys[user][0], "EC2_SECRET_KEY": self.keys[user][1],
                "EC2_CERT": certPath, "EC2_PRIVATE_KEY": keyPath,
                "EUCALYPTUS_CERT": cloudCertPath or self.cloudCertPath,
                "EC2_USER_ID": user}

    def imageFile(self, name, data):
        path = os.path.join(self.root, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def cli(self, argv, env):
        """Deferred ``(status, stdout, stderr)`` of ``eucad-image -q argv``."""
        def run():
            out, err = io.StringIO(), io.StringIO()
            status = cli.main(["-q"] + argv, environ=env, out=out, err=err)
            return status, out.getvalue(), err.getvalue()
        return threads.deferToThread(run)

    def ec2(self, user):
        return boto3.client("ec2", endpoint_url=self.ec2Url, region_name="eucalyptus",
                            aws_access_key_id=self.keys[user][0],
                            aws_secret_access_key=self.keys[user][1],
                            config=Config(retries={"max_attempts": 1}))

    def s3(self, user):
        return boto3.client("s3", endpoint_url=self.walrus.endpoint,
                            region_name="eucalyptus",
                            aws_access_key_id=self.keys[user][0],
                            aws_secret_access_key=self.keys[user][1],
                            config=Config(s3={"addressing_style": "path"}))

    def call(self, user, operation, **params):
        """Deferred answer of one boto3 EC2 call as ``user`` (in a thread)."""
        client = self.ec2(user)
        return threads.deferToThread(getattr(client, operation), **params)

    @defer.inlineCallbacks
    def error(self, user, operation, **params):
        """``(code, message)`` of a call that must fail."""
        from botocore.exceptions import ClientError
        try:
            yield self.call(user, operation, **params)
        except ClientError as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]
        raise AssertionError("%s succeeded" % (operation,))

    @defer.inlineCallbacks
    def settled(self, imageId):
        """Wait until the image has left ``pending``; its DescribeImages item."""
        running = self.preparer.running.get(imageId)
        if running is not None:
            yield running
        answer = yield self.call("admin", "describe_images", ImageIds=[imageId])
        return answer["Images"][0]
