"""ACLs (canned, grant headers, grant XML) and anonymous access, in memory."""

from twisted.trial import unittest

from eucad.walrus import acl
from tests.walrus.helpers import WalrusHarness

GRANT_XML = """<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <Owner><ID>alice</ID></Owner><AccessControlList>
 <Grant><Grantee xsi:type="CanonicalUser"><ID>alice</ID></Grantee>
  <Permission>FULL_CONTROL</Permission></Grant>
 <Grant><Grantee xsi:type="CanonicalUser"><ID>bob</ID></Grantee>
  <Permission>READ</Permission></Grant>
 </AccessControlList></AccessControlPolicy>"""


class AclTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("acls")

    def test_publicReadVersusPrivate(self):
        """Anonymous GET reads a public-read object and is refused a private one."""
        self.walrus.put("acls", "public", b"pub", headers={"x-amz-acl": "public-read"})
        self.walrus.put("acls", "private", b"priv")
        self.assertEqual(self.walrus.get("acls", "public", keys=None).body, b"pub")
        denied = self.walrus.get("acls", "private", keys=None)
        self.assertEqual((denied.code, denied.errorCode()), (403, "AccessDenied"))
        other = self.walrus.get("acls", "private", keys="bob")
        self.assertEqual(other.code, 403)
        self.assertEqual(self.walrus.get("acls", "private", keys="admin").body, b"priv")

    def test_missingKeyHiddenWithoutListRight(self):
        """A missing key is AccessDenied to someone who may not list the bucket."""
        self.assertEqual(self.walrus.get("acls", "nothing", keys=None).errorCode(),
                         "AccessDenied")
        self.assertEqual(self.walrus.get("acls", "nothing").errorCode(), "NoSuchKey")

    def test_publicReadWriteBucket(self):
        """Anyone may list and write into a public-read-write bucket."""
        self.walrus.createBucket("dropbox", headers={"x-amz-acl": "public-read-write"})
        reply = self.walrus.request("PUT", "/dropbox/anon", body=b"hi", keys=None)
        self.assertEqual(reply.code, 200, reply.body)
        listing = self.walrus.request("GET", "/dropbox", keys="bob")
        self.assertEqual(listing.findall("Contents/Key"), ["anon"])
        denied = self.walrus.request("PUT", "/acls/anon", body=b"hi", keys=None)
        self.assertEqual(denied.code, 403)

    def test_grantXmlRoundTrip(self):
        """A PUT ?acl document grants bob READ and GET ?acl shows the grants."""
        self.walrus.put("acls", "shared", b"s")
        self.assertEqual(self.walrus.get("acls", "shared", keys="bob").code, 403)
        reply = self.walrus.request("PUT", "/acls/shared?acl", body=GRANT_XML.encode())
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("acls", "shared", keys="bob").body, b"s")
        shown = self.walrus.request("GET", "/acls/shared?acl")
        self.assertEqual(shown.findall("AccessControlList/Grant/Grantee/ID"), ["alice", "bob"])
        self.assertEqual(shown.findall("AccessControlList/Grant/Permission"),
                         ["FULL_CONTROL", "READ"])
        refused = self.walrus.request("PUT", "/acls/shared?acl", body=GRANT_XML.encode(),
                                      keys="bob")
        self.assertEqual(refused.code, 403)

    def test_grantToUnknownUser(self):
        """Granting to a user that does not exist is InvalidArgument."""
        self.walrus.put("acls", "x", b"x")
        body = GRANT_XML.replace("<ID>bob</ID>", "<ID>nobody</ID>").encode()
        reply = self.walrus.request("PUT", "/acls/x?acl", body=body)
        self.assertEqual(reply.errorCode(), "InvalidArgument")

    def test_cannedBucketAcl(self):
        """PUT ?acl with x-amz-acl on a bucket opens listing to authenticated users."""
        self.assertEqual(self.walrus.request("GET", "/acls", keys="bob").code, 403)
        reply = self.walrus.request("PUT", "/acls?acl", headers={"x-amz-acl": "authenticated-read"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.request("GET", "/acls", keys="bob").code, 200)
        self.assertEqual(self.walrus.request("GET", "/acls", keys=None).code, 403)

    def test_grantHeaders(self):
        """x-amz-grant-read on PUT gives that user read access."""
        self.walrus.put("acls", "g", b"g", headers={"x-amz-grant-read": 'id="bob"'})
        self.assertEqual(self.walrus.get("acls", "g", keys="bob").body, b"g")

    def test_badCannedAcl(self):
        """An unknown canned ACL is InvalidArgument and stores nothing."""
        reply = self.walrus.request("PUT", "/acls/bad", body=b"x",
                                    headers={"x-amz-acl": "world-writable"})
        self.assertEqual(reply.errorCode(), "InvalidArgument")
        self.assertEqual(self.walrus.get("acls", "bad").code, 404)


class CannedAclTests(unittest.TestCase):
    def test_everyCannedAcl(self):
        """Each canned ACL gives exactly the grants S3 documents for it."""
        expect = {
            "private": [],
            "public-read": [("uri", acl.ALL_USERS, "READ")],
            "public-read-write": [("uri", acl.ALL_USERS, "READ"), ("uri", acl.ALL_USERS, "WRITE")],
            "authenticated-read": [("uri", acl.AUTHENTICATED_USERS, "READ")],
            "aws-exec-read": [],
            "bucket-owner-read": [("id", "owner", "READ")],
            "bucket-owner-full-control": [("id", "owner", "FULL_CONTROL")],
            "log-delivery-write": [("uri", acl.LOG_DELIVERY, "WRITE"),
                                   ("uri", acl.LOG_DELIVERY, "READ_ACP")],
        }
        for name, extra in expect.items():
            result = acl.canned(name, "me", "owner")
            grants = [(("id" if g["grantee"]["type"] == "CanonicalUser" else "uri"),
                       g["grantee"].get("id") or g["grantee"].get("uri"), g["permission"])
                      for g in result["grants"]]
            self.assertEqual(grants, [("id", "me", "FULL_CONTROL")] + extra, name)
