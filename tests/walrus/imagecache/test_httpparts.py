"""Parts read from a real Walrus over HTTP with a user's keys."""

from twisted.internet import defer, threads
from twisted.trial import unittest

from eucad.walrus.imagecache.httpparts import PartNotFound, S3PartOpener
from tests.walrus.live import LiveWalrus


class S3PartOpenerTests(unittest.TestCase):

    @defer.inlineCallbacks
    def setUp(self):
        self.walrus = LiveWalrus(self)
        yield self.walrus.start()
        self.opener = S3PartOpener(self.walrus.endpoint, self.walrus.alice)

    @defer.inlineCallbacks
    def test_readsPartInChunks(self):
        """A part under the manifest's prefix is streamed back in the sizes asked for."""
        def scenario():
            client = self.opener.client()
            client.create_bucket(Bucket="parts")
            client.put_object(Bucket="parts", Key="p/x.part.00", Body=b"a" * 3000)
            part = self.opener("parts", "p")("x.part.00")
            chunks = [part.read(1024), part.read(1024), part.read(1024), part.read(1024)]
            part.close()
            return chunks
        chunks = yield threads.deferToThread(scenario)
        self.assertEqual([len(c) for c in chunks], [1024, 1024, 952, 0])

    @defer.inlineCallbacks
    def test_missingPart(self):
        """A part Walrus does not have is a PartNotFound (a LookupError) naming it."""
        def scenario():
            self.opener.client().create_bucket(Bucket="parts")
            return self.opener("parts", "")("x.part.07")
        error = yield self.assertFailure(threads.deferToThread(scenario), PartNotFound)
        self.assertIn("parts/x.part.07: NoSuchKey", str(error))

    @defer.inlineCallbacks
    def test_othersPart(self):
        """Another user's private part cannot be read with these keys."""
        bob = S3PartOpener(self.walrus.endpoint, self.walrus.bob)

        def scenario():
            client = self.opener.client()
            client.create_bucket(Bucket="mine")
            client.put_object(Bucket="mine", Key="x.part.00", Body=b"secret")
            return bob("mine", "")("x.part.00")
        error = yield self.assertFailure(threads.deferToThread(scenario), PartNotFound)
        self.assertIn("AccessDenied", str(error))
