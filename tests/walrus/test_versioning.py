"""Versioning: bucket status, versions on every write, delete markers, access by id, listings."""

import json
from urllib.parse import quote

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness, md5hex
from tests.walrus.live import LiveWalrus, awsCommand

VERSIONING_ENABLED = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      b'<Status>Enabled</Status></VersioningConfiguration>')
VERSIONING_SUSPENDED = VERSIONING_ENABLED.replace(b"Enabled", b"Suspended")


class VersioningTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("ver")

    def setStatus(self, body, bucket="ver", keys="alice"):
        return self.walrus.request("PUT", "/%s?versioning" % (bucket,), body=body, keys=keys)

    def getVersion(self, key, versionId):
        return self.walrus.request("GET", "/ver/%s?versionId=%s" % (key, versionId))

    def enable(self):
        self.assertEqual(self.setStatus(VERSIONING_ENABLED).code, 200)

    def listing(self, query=""):
        reply = self.walrus.request("GET", "/ver?versions" + query)
        self.assertEqual(reply.code, 200, reply.body)
        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        entries = []
        for element in reply.xml():
            tag = element.tag.replace(ns, "")
            if tag in ("Version", "DeleteMarker"):
                entries.append((tag, element.findtext(ns + "Key"),
                                element.findtext(ns + "VersionId"),
                                element.findtext(ns + "IsLatest")))
        return reply, entries

    def test_statusStartsUnsetThenEnabledThenSuspended(self):
        """GetBucketVersioning has no Status until set; Enabled and Suspended read back."""
        self.assertEqual(self.walrus.request("GET", "/ver?versioning").findall("Status"), [])
        self.enable()
        self.assertEqual(self.walrus.request("GET", "/ver?versioning").findall("Status"),
                         ["Enabled"])
        self.assertEqual(self.setStatus(VERSIONING_SUSPENDED).code, 200)
        self.assertEqual(self.walrus.request("GET", "/ver?versioning").findall("Status"),
                         ["Suspended"])

    def test_badConfigurationsRefused(self):
        """A bad status, MFA delete and a non-owner are refused with S3's errors."""
        reply = self.setStatus(VERSIONING_ENABLED.replace(b"Enabled", b"On"))
        self.assertEqual((reply.code, reply.errorCode()),
                         (400, "IllegalVersioningConfigurationException"))
        reply = self.setStatus(b"<VersioningConfiguration><Status>Enabled</Status>"
                               b"<MfaDelete>Enabled</MfaDelete></VersioningConfiguration>")
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))
        reply = self.setStatus(VERSIONING_ENABLED, keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.setStatus(VERSIONING_ENABLED, bucket="nosuch")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchBucket"))

    def test_unversionedBucketAnswersNoVersionIds(self):
        """A bucket never versioned keeps one version, answers no x-amz-version-id, lists null."""
        reply = self.walrus.put("ver", "k", b"one")
        self.assertIsNone(reply.header("x-amz-version-id"))
        self.walrus.put("ver", "k", b"two")
        self.assertIsNone(self.walrus.get("ver", "k").header("x-amz-version-id"))
        _, entries = self.listing()
        self.assertEqual(entries, [("Version", "k", "null", "true")])
        self.assertEqual(self.getVersion("k", "null").body, b"two")
        self.assertEqual(self.walrus.storedBodies(), 1)

    def test_everyPutIsAVersion(self):
        """With versioning Enabled each PUT gets a new id, and every version reads back by id."""
        self.enable()
        ids = [self.walrus.put("ver", "k", data).header("x-amz-version-id")
               for data in (b"one", b"two", b"three")]
        self.assertEqual(len(set(ids)), 3)
        self.assertNotIn("null", ids)
        current = self.walrus.get("ver", "k")
        self.assertEqual((current.body, current.header("x-amz-version-id")), (b"three", ids[2]))
        for versionId, data in zip(ids, (b"one", b"two", b"three")):
            reply = self.getVersion("k", versionId)
            self.assertEqual((reply.code, reply.body), (200, data))
            self.assertEqual(reply.header("x-amz-version-id"), versionId)
            self.assertEqual(reply.header("ETag"), '"%s"' % md5hex(data))
        head = self.walrus.request("HEAD", "/ver/k?versionId=" + ids[0])
        self.assertEqual((head.code, head.header("Content-Length")), (200, "3"))
        _, entries = self.listing()
        self.assertEqual(entries, [("Version", "k", ids[2], "true"),
                                   ("Version", "k", ids[1], "false"),
                                   ("Version", "k", ids[0], "false")])
        self.assertEqual(self.walrus.storedBodies(), 3)

    def test_objectsBeforeVersioningBecomeTheNullVersion(self):
        """An object written before versioning was enabled stays as the null version."""
        self.walrus.put("ver", "k", b"old")
        self.enable()
        newId = self.walrus.put("ver", "k", b"new").header("x-amz-version-id")
        _, entries = self.listing()
        self.assertEqual(entries, [("Version", "k", newId, "true"),
                                   ("Version", "k", "null", "false")])
        self.assertEqual(self.getVersion("k", "null").body, b"old")

    def test_deleteMakesAMarker(self):
        """DELETE without a version id adds a delete marker: GET is 404 with the marker's headers."""
        self.enable()
        firstId = self.walrus.put("ver", "k", b"data").header("x-amz-version-id")
        reply = self.walrus.request("DELETE", "/ver/k")
        self.assertEqual((reply.code, reply.header("x-amz-delete-marker")), (204, "true"))
        markerId = reply.header("x-amz-version-id")
        self.assertNotIn(markerId, (None, "null", firstId))
        reply = self.walrus.get("ver", "k")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchKey"))
        self.assertEqual(reply.header("x-amz-delete-marker"), "true")
        self.assertEqual(reply.header("x-amz-version-id"), markerId)
        self.assertEqual(self.getVersion("k", firstId).body, b"data")
        reply = self.getVersion("k", markerId)
        self.assertEqual((reply.code, reply.errorCode()), (405, "MethodNotAllowed"))
        self.assertEqual(reply.header("x-amz-delete-marker"), "true")
        _, entries = self.listing()
        self.assertEqual(entries, [("DeleteMarker", "k", markerId, "true"),
                                   ("Version", "k", firstId, "false")])
        listed = self.walrus.request("GET", "/ver?list-type=2")
        self.assertEqual(listed.findall("Contents/Key"), [])
        reply = self.walrus.request("DELETE", "/ver")
        self.assertEqual((reply.code, reply.errorCode()), (409, "BucketNotEmpty"))

    def test_deletingTheMarkerRestoresTheObject(self):
        """Deleting the delete marker by id makes the previous version current again."""
        self.enable()
        firstId = self.walrus.put("ver", "k", b"data").header("x-amz-version-id")
        markerId = self.walrus.request("DELETE", "/ver/k").header("x-amz-version-id")
        reply = self.walrus.request("DELETE", "/ver/k?versionId=" + markerId)
        self.assertEqual((reply.code, reply.header("x-amz-delete-marker"),
                          reply.header("x-amz-version-id")), (204, "true", markerId))
        current = self.walrus.get("ver", "k")
        self.assertEqual((current.body, current.header("x-amz-version-id")), (b"data", firstId))
        _, entries = self.listing()
        self.assertEqual(entries, [("Version", "k", firstId, "true")])

    def test_deleteVersionsForGood(self):
        """Deleting versions by id removes their data; removing the current promotes the next."""
        self.enable()
        ids = [self.walrus.put("ver", "k", data).header("x-amz-version-id")
               for data in (b"one", b"two", b"three")]
        reply = self.walrus.request("DELETE", "/ver/k?versionId=" + ids[1])
        self.assertEqual((reply.code, reply.header("x-amz-version-id")), (204, ids[1]))
        self.assertIsNone(reply.header("x-amz-delete-marker"))
        self.assertEqual(self.walrus.storedBodies(), 2)
        self.assertEqual(self.getVersion("k", ids[1]).errorCode(),
                         "NoSuchVersion")
        self.walrus.request("DELETE", "/ver/k?versionId=" + ids[2])
        self.assertEqual(self.walrus.get("ver", "k").body, b"one")
        self.walrus.request("DELETE", "/ver/k?versionId=" + ids[0])
        self.assertEqual(self.walrus.get("ver", "k").code, 404)
        self.assertEqual(self.listing()[1], [])
        self.assertEqual(self.walrus.storedBodies(), 0)
        self.assertEqual(self.walrus.request("DELETE", "/ver").code, 204)

    def test_badVersionIds(self):
        """A version id Walrus could not have made is 400; a well-formed unknown one 404."""
        self.enable()
        self.walrus.put("ver", "k", b"x")
        reply = self.getVersion("k", "not-an-id")
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidArgument"))
        reply = self.getVersion("k", "A" * 32)
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchVersion"))
        reply = self.walrus.request("PUT", "/ver/k?versionId=" + "A" * 32, body=b"x")
        self.assertEqual((reply.code, reply.errorCode()), (501, "NotImplemented"))

    def test_suspendedWritesReplaceTheNullVersion(self):
        """After suspension PUTs write the null version, overwriting each other, keeping the rest."""
        self.enable()
        keptId = self.walrus.put("ver", "k", b"kept").header("x-amz-version-id")
        self.assertEqual(self.setStatus(VERSIONING_SUSPENDED).code, 200)
        reply = self.walrus.put("ver", "k", b"null one")
        self.assertIsNone(reply.header("x-amz-version-id"))
        self.walrus.put("ver", "k", b"null two")
        current = self.walrus.get("ver", "k")
        self.assertEqual((current.body, current.header("x-amz-version-id")),
                         (b"null two", "null"))
        _, entries = self.listing()
        self.assertEqual(entries, [("Version", "k", "null", "true"),
                                   ("Version", "k", keptId, "false")])
        self.assertEqual(self.walrus.storedBodies(), 2)
        # A delete in a suspended bucket: a null marker replaces the null version.
        reply = self.walrus.request("DELETE", "/ver/k")
        self.assertEqual((reply.header("x-amz-delete-marker"),
                          reply.header("x-amz-version-id")), ("true", "null"))
        _, entries = self.listing()
        self.assertEqual(entries, [("DeleteMarker", "k", "null", "true"),
                                   ("Version", "k", keptId, "false")])
        self.assertEqual(self.walrus.storedBodies(), 1)
        # Enabled again: a new version on top, the null marker stays below.
        self.enable()
        newId = self.walrus.put("ver", "k", b"again").header("x-amz-version-id")
        self.assertEqual(self.listing()[1], [("Version", "k", newId, "true"),
                                             ("DeleteMarker", "k", "null", "false"),
                                             ("Version", "k", keptId, "false")])

    def test_copyFromAVersion(self):
        """CopyObject with ?versionId= in x-amz-copy-source copies that version."""
        self.enable()
        oldId = self.walrus.put("ver", "src", b"old data").header("x-amz-version-id")
        self.walrus.put("ver", "src", b"new data")
        reply = self.walrus.request("PUT", "/ver/dst",
                                    headers={"x-amz-copy-source": "/ver/src?versionId=" + oldId})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.header("x-amz-copy-source-version-id"), oldId)
        self.assertIsNotNone(reply.header("x-amz-version-id"))
        self.assertEqual(self.walrus.get("ver", "dst").body, b"old data")
        # Copying a version onto its own key restores it as a new version.
        reply = self.walrus.request("PUT", "/ver/src",
                                    headers={"x-amz-copy-source": "/ver/src?versionId=" + oldId})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("ver", "src").body, b"old data")
        self.assertEqual(len(self.listing("&prefix=src")[1]), 3)
        markerId = self.walrus.request("DELETE", "/ver/src").header("x-amz-version-id")
        reply = self.walrus.request("PUT", "/ver/x",
                                    headers={"x-amz-copy-source": "/ver/src?versionId=" + markerId})
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidRequest"))
        reply = self.walrus.request("PUT", "/ver/x", headers={"x-amz-copy-source": "/ver/src"})
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchKey"))

    def test_multipartCompletionIsAVersion(self):
        """CompleteMultipartUpload in a versioned bucket answers a new version id, keeping the old."""
        self.enable()
        oldId = self.walrus.put("ver", "big", b"small").header("x-amz-version-id")
        uploadId = self.walrus.request("POST", "/ver/big?uploads").findall("UploadId")[0]
        part = self.walrus.request("PUT", "/ver/big?partNumber=1&uploadId=" + uploadId,
                                   body=b"p" * 100)
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                "</Part></CompleteMultipartUpload>" % (part.header("ETag"),)).encode()
        reply = self.walrus.request("POST", "/ver/big?uploadId=" + uploadId, body=body)
        self.assertEqual(reply.code, 200, reply.body)
        newId = reply.header("x-amz-version-id")
        self.assertNotIn(newId, (None, oldId))
        self.assertEqual(self.walrus.get("ver", "big").body, b"p" * 100)
        self.assertEqual(self.getVersion("big", oldId).body, b"small")

    def test_conditionalWritesSeeTheCurrentVersion(self):
        """If-None-Match: * succeeds over a delete marker and fails over a current version."""
        self.enable()
        self.walrus.put("ver", "k", b"v1")
        reply = self.walrus.request("PUT", "/ver/k", body=b"v2", headers={"If-None-Match": "*"})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.walrus.request("DELETE", "/ver/k")
        reply = self.walrus.request("PUT", "/ver/k", body=b"v3", headers={"If-None-Match": "*"})
        self.assertEqual(reply.code, 200, reply.body)
        reply = self.walrus.request("PUT", "/ver/k", body=b"v4",
                                    headers={"If-Match": '"%s"' % md5hex(b"v1")})
        self.assertEqual((reply.code, reply.errorCode()), (412, "PreconditionFailed"))
        self.assertEqual(len(self.listing()[1]), 3)

    def test_deleteObjectsWithVersions(self):
        """DeleteObjects removes named versions and makes markers for the others."""
        self.enable()
        aId = self.walrus.put("ver", "a", b"a").header("x-amz-version-id")
        self.walrus.put("ver", "b", b"b")
        body = ("<Delete><Object><Key>a</Key><VersionId>%s</VersionId></Object>"
                "<Object><Key>b</Key></Object>"
                "<Object><Key>c</Key><VersionId>bad</VersionId></Object></Delete>"
                % (aId,)).encode()
        reply = self.walrus.request("POST", "/ver?delete", body=body,
                                    headers={"Content-MD5": _md5b64(body)})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("Deleted/Key"), ["a", "b"])
        self.assertEqual(reply.findall("Deleted/VersionId"), [aId])
        self.assertEqual(reply.findall("Deleted/DeleteMarker"), ["true"])
        markerId = reply.findall("Deleted/DeleteMarkerVersionId")[0]
        self.assertEqual(reply.findall("Error/Code"), ["InvalidArgument"])
        _, entries = self.listing()
        self.assertEqual([e[:2] for e in entries], [("DeleteMarker", "b"), ("Version", "b")])
        self.assertEqual(entries[0][2], markerId)

    def test_tagsStayWithTheirVersion(self):
        """A superseded version keeps its tags, read by id, and gets them back when promoted."""
        self.enable()
        first = self.walrus.put("ver", "k", b"one", headers={"x-amz-tagging": "team=a&tier=1"}) \
            .header("x-amz-version-id")
        second = self.walrus.put("ver", "k", b"two", headers={"x-amz-tagging": "team=b"}) \
            .header("x-amz-version-id")
        current = self.walrus.request("GET", "/ver/k?tagging")
        self.assertEqual(current.findall("TagSet/Tag/Value"), ["b"])
        old = self.walrus.request("GET", "/ver/k?tagging&versionId=" + first)
        self.assertEqual((old.code, old.header("x-amz-version-id")), (200, first))
        self.assertEqual(old.findall("TagSet/Tag/Key"), ["team", "tier"])
        self.assertEqual(old.findall("TagSet/Tag/Value"), ["a", "1"])
        self.assertEqual(self.getVersion("k", first).header("x-amz-tagging-count"), "2")
        self.assertEqual(self.walrus.request("DELETE", "/ver/k?versionId=" + second).code, 204)
        promoted = self.walrus.request("GET", "/ver/k?tagging")
        self.assertEqual(promoted.findall("TagSet/Tag/Value"), ["a", "1"])

    def test_copyFromAVersionCopiesItsTags(self):
        """CopyObject from a version takes that version's tags (x-amz-tagging-directive COPY)."""
        self.enable()
        first = self.walrus.put("ver", "src", b"one", headers={"x-amz-tagging": "from=first"}) \
            .header("x-amz-version-id")
        self.walrus.put("ver", "src", b"two", headers={"x-amz-tagging": "from=second"})
        reply = self.walrus.request("PUT", "/ver/dst", headers={
            "x-amz-copy-source": "/ver/src?versionId=" + first})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.get("ver", "dst").body, b"one")
        self.assertEqual(self.walrus.request("GET", "/ver/dst?tagging")
                         .findall("TagSet/Tag/Value"), ["first"])

    def test_versionAcls(self):
        """GetObjectAcl/PutObjectAcl with versionId read and change that version's ACL only."""
        self.enable()
        oldId = self.walrus.put("ver", "k", b"old").header("x-amz-version-id")
        self.walrus.put("ver", "k", b"new")
        reply = self.walrus.request("PUT", "/ver/k?acl&versionId=" + oldId,
                                    headers={"x-amz-acl": "public-read"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.walrus.request("GET", "/ver/k?versionId=" + oldId, keys=None)
                         .body, b"old")
        self.assertEqual(self.walrus.request("GET", "/ver/k", keys=None).code, 403)
        grants = self.walrus.request("GET", "/ver/k?acl&versionId=" + oldId) \
            .findall("AccessControlList/Grant/Permission")
        self.assertIn("READ", grants)
        reply = self.walrus.request("PUT", "/ver/k?acl&versionId=" + oldId, keys="bob",
                                    headers={"x-amz-acl": "private"})
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))

    def test_headOfADeleteMarker(self):
        """HEAD by a delete marker's id is 405 with the marker's headers."""
        self.enable()
        self.walrus.put("ver", "k", b"x")
        markerId = self.walrus.request("DELETE", "/ver/k").header("x-amz-version-id")
        reply = self.walrus.request("HEAD", "/ver/k?versionId=" + markerId)
        self.assertEqual((reply.code, reply.header("x-amz-delete-marker"),
                          reply.header("x-amz-version-id")), (405, "true", markerId))
        reply = self.walrus.request("HEAD", "/ver/k")
        self.assertEqual((reply.code, reply.header("x-amz-delete-marker")), (404, "true"))

    def test_uploadPartCopyFromAVersion(self):
        """UploadPartCopy with ?versionId= in x-amz-copy-source copies that version's bytes."""
        self.enable()
        oldId = self.walrus.put("ver", "src", b"old bytes").header("x-amz-version-id")
        self.walrus.put("ver", "src", b"new bytes")
        uploadId = self.walrus.request("POST", "/ver/dst?uploads").findall("UploadId")[0]
        reply = self.walrus.request(
            "PUT", "/ver/dst?partNumber=1&uploadId=" + uploadId,
            headers={"x-amz-copy-source": "/ver/src?versionId=" + oldId})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.header("x-amz-copy-source-version-id"), oldId)
        etag = reply.findall("ETag")[0]
        body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag>"
                "</Part></CompleteMultipartUpload>" % (etag,)).encode()
        self.assertEqual(self.walrus.request("POST", "/ver/dst?uploadId=" + uploadId,
                                             body=body).code, 200)
        self.assertEqual(self.walrus.get("ver", "dst").body, b"old bytes")

    def test_listingPagesByKeyAndVersionMarkers(self):
        """ListObjectVersions pages through keys and versions with markers, prefix and delimiter."""
        self.enable()
        expected = []
        for key in ("a", "b", "dir/x", "dir/y", "e"):
            ids = [self.walrus.put("ver", key, data).header("x-amz-version-id")
                   for data in (b"1", b"2", b"3")]
            expected.extend((key, versionId) for versionId in reversed(ids))
        seen = []
        query = "&max-keys=4"
        for _ in range(10):
            reply, entries = self.listing(query)
            seen.extend((key, versionId) for _, key, versionId, _ in entries)
            if reply.findall("IsTruncated") == ["false"]:
                break
            query = "&max-keys=4&key-marker=%s&version-id-marker=%s" % (
                quote(reply.findall("NextKeyMarker")[0], safe=""),
                reply.findall("NextVersionIdMarker")[0])
        self.assertEqual(seen, expected)
        reply, entries = self.listing("&delimiter=%2F")
        self.assertEqual(reply.findall("CommonPrefixes/Prefix"), ["dir/"])
        self.assertEqual(sorted({key for _, key, _, _ in entries}), ["a", "b", "e"])
        reply, entries = self.listing("&prefix=dir%2F&max-keys=2")
        self.assertEqual([(k, v) for _, k, v, _ in entries], expected[6:8])
        self.assertEqual(reply.findall("NextKeyMarker"), ["dir/x"])
        reply, entries = self.listing("&key-marker=b")
        self.assertEqual([(k, v) for _, k, v, _ in entries], expected[6:])
        reply = self.walrus.request("GET", "/ver?versions&version-id-marker=" + "A" * 32)
        self.assertEqual((reply.code, reply.errorCode()), (400, "InvalidArgument"))


class VersionQuotaTests(unittest.TestCase):
    def test_noncurrentVersionsCountInTheBucketSize(self):
        """WALRUS_MAX_BUCKET_SIZE_MB counts every version; deleting old versions frees room."""
        walrus = WalrusHarness(self, conf={"WALRUS_MAX_BUCKET_SIZE_MB": "1"})
        walrus.createBucket("quota")
        walrus.request("PUT", "/quota?versioning", body=VERSIONING_ENABLED)
        firstId = walrus.put("quota", "k", b"x" * 600000).header("x-amz-version-id")
        reply = walrus.request("PUT", "/quota/k", body=b"y" * 600000)
        self.assertEqual((reply.code, reply.errorCode()), (400, "EntityTooLarge"))
        markerId = walrus.request("DELETE", "/quota/k").header("x-amz-version-id")
        reply = walrus.request("PUT", "/quota/other", body=b"y" * 600000)
        self.assertEqual((reply.code, reply.errorCode()), (400, "EntityTooLarge"))
        walrus.request("DELETE", "/quota/k?versionId=" + markerId)
        walrus.request("DELETE", "/quota/k?versionId=" + firstId)
        walrus.put("quota", "k", b"y" * 600000)

        def totals(session):
            from eucad.walrus.models import Bucket
            bucket = session.get(Bucket, "quota")
            return bucket.objectCount, bucket.bytesUsed
        self.assertEqual(walrus.db.transact(totals), (1, 600000))


def _md5b64(body):
    import base64
    import hashlib
    return base64.b64encode(hashlib.md5(body).digest()).decode()


class VersioningClientTests(unittest.TestCase):
    """Versioning driven by boto3 and awscli against a listening Walrus."""

    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: enable, put versions, delete marker, get/copy by id, list and page versions."""
        from botocore.exceptions import ClientError
        s3 = self.live.s3Client()

        def scenario():
            s3.create_bucket(Bucket="bver")
            s3.put_bucket_versioning(Bucket="bver",
                                     VersioningConfiguration={"Status": "Enabled"})
            status = s3.get_bucket_versioning(Bucket="bver")["Status"]
            ids = [s3.put_object(Bucket="bver", Key="k", Body=data)["VersionId"]
                   for data in (b"one", b"two", b"three")]
            oldest = s3.get_object(Bucket="bver", Key="k", VersionId=ids[0])["Body"].read()
            marker = s3.delete_object(Bucket="bver", Key="k")
            try:
                s3.head_object(Bucket="bver", Key="k")
                hidden = "visible"
            except ClientError as e:
                hidden = e.response["Error"]["Code"]
            copied = s3.copy_object(Bucket="bver", Key="copy",
                                    CopySource={"Bucket": "bver", "Key": "k", "VersionId": ids[1]})
            copyBody = s3.get_object(Bucket="bver", Key="copy")["Body"].read()
            pages = s3.get_paginator("list_object_versions").paginate(
                Bucket="bver", PaginationConfig={"PageSize": 2})
            listed, markers = [], []
            for page in pages:
                listed.extend((v["Key"], v["VersionId"]) for v in page.get("Versions", []))
                markers.extend(m["VersionId"] for m in page.get("DeleteMarkers", []))
            deleted = s3.delete_objects(Bucket="bver", Delete={"Objects": [
                {"Key": "k", "VersionId": marker["VersionId"]}]})["Deleted"]
            restored = s3.get_object(Bucket="bver", Key="k")["Body"].read()
            return (status, ids, oldest, marker, hidden, copied, copyBody, listed, markers,
                    deleted, restored)
        (status, ids, oldest, marker, hidden, copied, copyBody, listed, markers, deleted,
         restored) = yield self.live.inThread(scenario)
        self.assertEqual(status, "Enabled")
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(oldest, b"one")
        self.assertTrue(marker["DeleteMarker"])
        self.assertEqual(hidden, "404")
        self.assertEqual(copied["CopySourceVersionId"], ids[1])
        self.assertEqual(copyBody, b"two")
        self.assertEqual(markers, [marker["VersionId"]])
        self.assertEqual([v for k, v in listed if k == "k"], list(reversed(ids)))
        self.assertEqual(len(listed), 4)
        self.assertEqual(deleted[0]["VersionId"], marker["VersionId"])
        self.assertEqual(restored, b"three")

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli s3api: put-bucket-versioning, versions by id, delete marker, list-object-versions."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json"]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "cliv"])
        yield self.live.run(aws + ["s3api", "put-bucket-versioning", "--bucket", "cliv",
                                   "--versioning-configuration", "Status=Enabled"])
        status = yield self.live.run(aws + ["s3api", "get-bucket-versioning", "--bucket",
                                            "cliv"])
        self.assertEqual(json.loads(status.stdout)["Status"], "Enabled")
        ids = []
        for data in (b"first", b"second"):
            with open(self.live.path("body"), "wb") as f:
                f.write(data)
            put = yield self.live.run(aws + ["s3api", "put-object", "--bucket", "cliv",
                                             "--key", "k", "--body", self.live.path("body")])
            ids.append(json.loads(put.stdout)["VersionId"])
        yield self.live.run(aws + ["s3api", "get-object", "--bucket", "cliv", "--key", "k",
                                   "--version-id", ids[0], self.live.path("out")])
        with open(self.live.path("out"), "rb") as f:
            self.assertEqual(f.read(), b"first")
        deleted = yield self.live.run(aws + ["s3api", "delete-object", "--bucket", "cliv",
                                             "--key", "k"])
        self.assertTrue(json.loads(deleted.stdout)["DeleteMarker"])
        listed = yield self.live.run(aws + ["s3api", "list-object-versions", "--bucket",
                                            "cliv"])
        listing = json.loads(listed.stdout)
        self.assertEqual([v["VersionId"] for v in listing["Versions"]], list(reversed(ids)))
        self.assertEqual([m["VersionId"] for m in listing["DeleteMarkers"]],
                         [json.loads(deleted.stdout)["VersionId"]])
        self.assertTrue(listing["DeleteMarkers"][0]["IsLatest"])
        yield self.live.run(aws + ["s3api", "delete-object", "--bucket", "cliv", "--key", "k",
                                   "--version-id", ids[1]])
        listed = yield self.live.run(aws + ["s3api", "list-object-versions", "--bucket",
                                            "cliv"])
        self.assertEqual([v["VersionId"] for v in json.loads(listed.stdout)["Versions"]],
                         [ids[0]])
