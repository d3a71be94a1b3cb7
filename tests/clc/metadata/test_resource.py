"""The metadata resource over a real database, in memory with StubTreq.

StubTreq's requests come from 127.0.0.1, so the instance under test sits at
that address; others sit elsewhere and must never show through.
"""

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.trial import unittest

from eucad.clc.metadata.resource import MetadataResource
from eucad.clc.models import PENDING, SHUTTING_DOWN, TERMINATED
from tests.clc.helpers import makeDatabase
from tests.clc.metadata.fixtures import KEY, addImage, addInstance

BASE = "http://169.254.169.254"
REQUESTER = "127.0.0.1"


class FailingDatabase:
    """A database whose every query fails, as a broken connection would."""

    def run(self, fn, *args, **kwargs):
        return defer.fail(RuntimeError("the database went away"))


class ResourceTests(unittest.TestCase):
    """Paths, listings and values as the requesting instance sees them."""

    def setUp(self):
        self.db = makeDatabase(self)
        addImage(self.db)
        self.client = StubTreq(MetadataResource(self.db))

    @defer.inlineCallbacks
    def get(self, path, method="GET"):
        response = yield self.client.request(method, BASE + path)
        body = yield response.content()
        return response.code, response.headers.getRawHeaders("content-type", [""])[0], body

    @defer.inlineCallbacks
    def test_versions(self):
        """/ lists the dated versions, oldest first, then latest."""
        addInstance(self.db, REQUESTER)
        code, _, body = yield self.get("/")
        self.assertEqual(code, 200)
        self.assertEqual(body.decode().split("\n"), [
            "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
            "2008-02-01", "2008-09-01", "2009-04-04", "latest"])

    @defer.inlineCallbacks
    def test_ownValues(self):
        """Each value is the requester's own, with and without a trailing slash."""
        instanceId = addInstance(self.db, REQUESTER, vmType="c1.medium")
        other = addInstance(self.db, "10.0.0.9")
        for path, expected in (
                ("/latest/meta-data/instance-id", instanceId),
                ("/latest/meta-data/instance-id/", instanceId),
                ("/2009-04-04/meta-data/local-ipv4", REQUESTER),
                ("/latest/meta-data/instance-type", "c1.medium"),
                ("/latest/meta-data/ami-manifest-path", "images/test.img.manifest.xml"),
                ("/latest/meta-data/security-groups", "default\nweb"),
                ("/latest/meta-data/placement/availability-zone", "zone-a"),
                ("/latest/meta-data/block-device-mapping/root", "/dev/sda1"),
                ("/latest/meta-data/block-device-mapping/ephemeral0", "sda2"),
                ("/latest/meta-data/block-device-mapping/swap", "sda3"),
                ("/latest/meta-data/public-keys/", "0=alice-key"),
                ("/latest/meta-data/public-keys/0/", "openssh-key"),
                ("/latest/meta-data/public-keys/0/openssh-key", KEY + "\n")):
            code, contentType, body = yield self.get(path)
            self.assertEqual((code, body.decode()), (200, expected), path)
            self.assertEqual(contentType, "text/plain; charset=utf-8")
            self.assertNotIn(other.encode(), body)

    @defer.inlineCallbacks
    def test_metaDataListing(self):
        """/latest/meta-data/ lists the categories, directories ending in /."""
        addInstance(self.db, REQUESTER)
        code, _, body = yield self.get("/latest/meta-data/")
        self.assertEqual(code, 200)
        names = body.decode().split("\n")
        for name in ("ami-id", "block-device-mapping/", "placement/", "public-keys/",
                     "instance-id", "reservation-id", "kernel-id", "ramdisk-id"):
            self.assertIn(name, names)

    @defer.inlineCallbacks
    def test_datedVersionHidesLaterCategories(self):
        """/1.0/meta-data/ has no instance-type; asking for it is a 404."""
        addInstance(self.db, REQUESTER)
        _, _, body = yield self.get("/1.0/meta-data/")
        self.assertNotIn("instance-type", body.decode().split("\n"))
        code, _, _ = yield self.get("/1.0/meta-data/instance-type")
        self.assertEqual(code, 404)

    @defer.inlineCallbacks
    def test_userData(self):
        """user-data is the bytes the user gave, listed under the version."""
        script = b"#!/bin/sh\necho \xe2\x9c\x93 hello\n"
        addInstance(self.db, REQUESTER, userData=script)
        code, contentType, body = yield self.get("/latest/user-data")
        self.assertEqual((code, contentType, body), (200, "application/octet-stream", script))
        _, _, listing = yield self.get("/latest/")
        self.assertEqual(listing, b"meta-data\nuser-data")

    @defer.inlineCallbacks
    def test_noUserData(self):
        """Without user data, /latest/user-data is a 404 and is not listed."""
        addInstance(self.db, REQUESTER)
        code, _, _ = yield self.get("/latest/user-data")
        self.assertEqual(code, 404)
        _, _, listing = yield self.get("/latest")
        self.assertEqual(listing, b"meta-data")

    @defer.inlineCallbacks
    def test_unknownRequester(self):
        """An address no live instance has gets 404 everywhere, even at /."""
        addInstance(self.db, "10.0.0.9", userData=b"secret")
        for path in ("/", "/latest/meta-data/", "/latest/meta-data/instance-id",
                     "/latest/user-data"):
            code, _, body = yield self.get(path)
            self.assertEqual((code, body), (404, b"Not Found"), path)

    @defer.inlineCallbacks
    def test_onlyLiveInstances(self):
        """Pending instances are answered; shutting-down and terminated ones are not."""
        pending = addInstance(self.db, REQUESTER, state=PENDING)
        code, _, body = yield self.get("/latest/meta-data/instance-id")
        self.assertEqual((code, body.decode()), (200, pending))

        def end(session, state):
            from eucad.clc.models import Instance
            session.get(Instance, pending).state = state
        for state in (SHUTTING_DOWN, TERMINATED):
            self.db.transact(end, state)
            code, _, _ = yield self.get("/latest/meta-data/instance-id")
            self.assertEqual(code, 404, state)

    @defer.inlineCallbacks
    def test_addressReusedAfterTermination(self):
        """A terminated instance's address, handed to a new one, answers for the new one."""
        addInstance(self.db, REQUESTER, state=TERMINATED, userData=b"old")
        fresh = addInstance(self.db, REQUESTER)
        _, _, body = yield self.get("/latest/meta-data/instance-id")
        self.assertEqual(body.decode(), fresh)
        code, _, _ = yield self.get("/latest/user-data")
        self.assertEqual(code, 404)

    @defer.inlineCallbacks
    def test_ambiguousAddress(self):
        """Two live instances claiming one address: neither is answered."""
        addInstance(self.db, REQUESTER)
        addInstance(self.db, REQUESTER)
        code, _, _ = yield self.get("/latest/meta-data/instance-id")
        self.assertEqual(code, 404)

    @defer.inlineCallbacks
    def test_badPaths(self):
        """Unknown versions, categories and documents are 404s."""
        addInstance(self.db, REQUESTER)
        for path in ("/2010-01-01/meta-data/", "/latest/meta-data/no-such-thing",
                     "/latest/dynamic/", "/latest/user-data/more",
                     "/latest/meta-data/public-keys/0=alice-key",
                     "/latest/meta-data/instance-id/more", "/latest/%ff"):
            code, _, _ = yield self.get(path)
            self.assertEqual(code, 404, path)

    @defer.inlineCallbacks
    def test_onlyReading(self):
        """POST is refused (405); HEAD answers without a body."""
        addInstance(self.db, REQUESTER)
        code, _, _ = yield self.get("/latest/meta-data/instance-id", method="POST")
        self.assertEqual(code, 405)
        code, _, body = yield self.get("/latest/meta-data/instance-id", method="HEAD")
        self.assertEqual((code, body), (200, b""))

    @defer.inlineCallbacks
    def test_headersDoNotNameTheRequester(self):
        """X-Forwarded-For naming another instance changes nothing."""
        addInstance(self.db, "10.0.0.9")
        response = yield self.client.get(BASE + "/latest/meta-data/instance-id",
                                          headers={"X-Forwarded-For": "10.0.0.9"})
        self.assertEqual(response.code, 404)

    @defer.inlineCallbacks
    def test_databaseFailure(self):
        """A failing database is a 500 with a logged failure, not a hang."""
        client = StubTreq(MetadataResource(FailingDatabase()))
        response = yield client.get(BASE + "/latest/meta-data/instance-id")
        self.assertEqual(response.code, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
