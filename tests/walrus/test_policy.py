"""Bucket policies: the JSON language, MalformedPolicy, and evaluation on every operation."""

import json
import os
import socket

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common import accounts
from eucad.walrus.errors import S3Error
from eucad.walrus.policy import ALLOW, DENY, Policy, PolicyRequest
from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand


def document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class User:
    def __init__(self, name, accountNumber="123456789012", isAdmin=False):
        self.name = name
        self.accountNumber = accountNumber
        self.isAdmin = isAdmin


class PolicyLanguageTests(unittest.TestCase):
    """The language itself, without a Walrus."""

    def evaluate(self, statement, user, action, resource, context=None):
        policy = Policy.parse(document(statement), "b")
        return policy.evaluate(PolicyRequest(user, action, resource, context or {}))

    def test_malformed(self):
        """Every malformed policy is MalformedPolicy with a reason, never a 500 or a partial store."""
        good = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*"}
        bad = [
            "not json", "[]", json.dumps({"Statement": []}), json.dumps({"Version": "1999",
                                                                       "Statement": [good]}),
            document(dict(good, Effect="Maybe")),
            document({k: v for k, v in good.items() if k != "Principal"}),
            document(dict(good, Action="s3:FlyToTheMoon")),
            document(dict(good, Action="ec2:RunInstances")),
            document(dict(good, Resource="arn:aws:s3:::otherbucket/*")),
            document(dict(good, Resource="b/*")),
            document(dict(good, Principal={"Service": "lambda"})),
            document(dict(good, Condition={"StringSortOf": {"s3:prefix": "x"}})),
            document(dict(good, Condition={"IpAddress": {"aws:SourceIp": "not-an-ip"}})),
            document(dict(good, Extra=1)),
            "{" + " " * 21000 + "}",
        ]
        for text in bad:
            with self.assertRaises(S3Error, msg=text[:80]) as caught:
                Policy.parse(text, "b")
            self.assertEqual(caught.exception.code, "MalformedPolicy")
        Policy.parse(document(good, dict(good, Action=["s3:Get*", "s3:List?ucket"],
                                         Resource="*")), "b")

    def test_principals(self):
        """A user is named by name, account number, account root ARN or user ARN; '*' is everyone."""
        alice = User("alice", "111122223333")
        base = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
        for name in ("alice", "111122223333", "arn:aws:iam::111122223333:root",
                     "arn:aws:iam::111122223333:user/alice"):
            statement = dict(base, Principal={"AWS": [name]})
            self.assertEqual(self.evaluate(statement, alice, "s3:GetObject", "arn:aws:s3:::b/k"),
                             ALLOW, name)
            self.assertIsNone(self.evaluate(statement, User("bob", "999988887777"),
                                            "s3:GetObject", "arn:aws:s3:::b/k"))
            self.assertIsNone(self.evaluate(statement, None, "s3:GetObject", "arn:aws:s3:::b/k"))
        self.assertEqual(self.evaluate(dict(base, Principal="*"), None, "s3:GetObject",
                                       "arn:aws:s3:::b/k"), ALLOW)
        statement = dict(base, NotPrincipal={"AWS": "alice"}, Effect="Deny")
        self.assertIsNone(self.evaluate(statement, alice, "s3:GetObject", "arn:aws:s3:::b/k"))
        self.assertEqual(self.evaluate(statement, None, "s3:GetObject", "arn:aws:s3:::b/k"), DENY)

    def test_actionsAndResources(self):
        """Actions match case-insensitively with wildcards; resources case-sensitively; Not* invert."""
        base = {"Effect": "Allow", "Principal": "*"}
        statement = dict(base, Action="s3:get*", Resource="arn:aws:s3:::b/public/*")
        self.assertEqual(self.evaluate(statement, None, "s3:GetObject",
                                       "arn:aws:s3:::b/public/x"), ALLOW)
        self.assertIsNone(self.evaluate(statement, None, "s3:PutObject",
                                        "arn:aws:s3:::b/public/x"))
        self.assertIsNone(self.evaluate(statement, None, "s3:GetObject",
                                        "arn:aws:s3:::b/Public/x"))
        statement = dict(base, NotAction="s3:DeleteObject", NotResource="arn:aws:s3:::b/secret/*")
        self.assertEqual(self.evaluate(statement, None, "s3:GetObject", "arn:aws:s3:::b/k"), ALLOW)
        self.assertIsNone(self.evaluate(statement, None, "s3:DeleteObject", "arn:aws:s3:::b/k"))
        self.assertIsNone(self.evaluate(statement, None, "s3:GetObject",
                                        "arn:aws:s3:::b/secret/k"))

    def test_conditions(self):
        """IpAddress, NotIpAddress, String*, Bool, Date*, Numeric*, Null and IfExists on a context."""
        base = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
        context = {"aws:sourceip": ["10.1.2.3"], "aws:securetransport": ["false"],
                   "aws:currenttime": ["2026-12-03T12:00:00Z"], "s3:prefix": ["home/alice/"],
                   "s3:max-keys": ["10"]}
        cases = [
            ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"]}}, ALLOW),
            ({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, None),
            ({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, ALLOW),
            ({"Bool": {"aws:SecureTransport": "true"}}, None),
            ({"Bool": {"aws:SecureTransport": False}}, ALLOW),
            ({"StringLike": {"s3:prefix": "home/${x}*"}}, None),
            ({"StringLike": {"s3:prefix": ["home/*"]}}, ALLOW),
            ({"StringEquals": {"s3:prefix": "home/alice/"}}, ALLOW),
            ({"StringNotEquals": {"s3:prefix": "home/alice/"}}, None),
            ({"StringNotEquals": {"s3:delimiter": "/"}}, ALLOW),
            ({"StringEquals": {"s3:delimiter": "/"}}, None),
            ({"StringEqualsIfExists": {"s3:delimiter": "/"}}, ALLOW),
            ({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, ALLOW),
            ({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, None),
            ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, ALLOW),
            ({"NumericLessThan": {"s3:max-keys": 10}}, None),
            ({"Null": {"s3:delimiter": "true"}}, ALLOW),
            ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
              "StringLike": {"s3:prefix": "tmp/*"}}, None),
        ]
        for condition, verdict in cases:
            self.assertEqual(self.evaluate(dict(base, Condition=condition), None, "s3:ListBucket",
                                           "arn:aws:s3:::b", context), verdict, condition)

    def test_policyVariables(self):
        """${aws:username} in a Resource and a condition names each user's own prefix (2012-10-17)."""
        statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                     "Resource": "arn:aws:s3:::b/home/${aws:username}/*"}
        alice = User("alice")
        context = {"aws:username": ["alice"]}
        self.assertEqual(self.evaluate(statement, alice, "s3:GetObject",
                                       "arn:aws:s3:::b/home/alice/x", context), ALLOW)
        self.assertIsNone(self.evaluate(statement, alice, "s3:GetObject",
                                        "arn:aws:s3:::b/home/bob/x", context))
        self.assertIsNone(self.evaluate(statement, None, "s3:GetObject",
                                        "arn:aws:s3:::b/home/alice/x", {}))
        listing = {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                   "Resource": "arn:aws:s3:::b",
                   "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}}
        self.assertEqual(self.evaluate(listing, alice, "s3:ListBucket", "arn:aws:s3:::b",
                                       dict(context, **{"s3:prefix": ["home/alice/docs"]})),
                         ALLOW)
        self.assertIsNone(self.evaluate(listing, alice, "s3:ListBucket", "arn:aws:s3:::b",
                                        dict(context, **{"s3:prefix": ["home/bob/"]})))
        old = Policy.parse(json.dumps({"Version": "2008-10-17", "Statement": [statement]}), "b")
        self.assertIsNone(old.evaluate(PolicyRequest(alice, "s3:GetObject",
                                                     "arn:aws:s3:::b/home/alice/x", context)))

    def test_denyWins(self):
        """An applicable Deny beats any Allow, whatever their order."""
        allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
        deny = dict(allow, Effect="Deny", Action="s3:DeleteObject")
        policy = Policy.parse(document(allow, deny), "b")
        self.assertEqual(policy.evaluate(PolicyRequest(None, "s3:DeleteObject",
                                                       "arn:aws:s3:::b/k", {})), DENY)
        self.assertEqual(policy.evaluate(PolicyRequest(None, "s3:GetObject",
                                                       "arn:aws:s3:::b/k", {})), ALLOW)


class BucketPolicyTests(unittest.TestCase):
    """Policies on a Walrus: stored, enforced, and never locking the owner out."""

    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("pol")
        self.walrus.put("pol", "public/page", b"page")
        self.walrus.put("pol", "secret/plan", b"plan")

    def account(self, name):
        return self.walrus.db.transact(lambda s: s.get(accounts.User, name).accountNumber)

    def setPolicy(self, *statements, keys="alice"):
        return self.walrus.request("PUT", "/pol?policy", body=document(*statements).encode(),
                                   keys=keys)

    def test_putGetDelete(self):
        """The policy is kept as sent, read back by the owner only, and deleted."""
        reply = self.walrus.request("GET", "/pol?policy")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchBucketPolicy"))
        text = document({"Sid": "pub", "Effect": "Allow", "Principal": "*",
                         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/public/*"})
        self.assertEqual(self.walrus.request("PUT", "/pol?policy", body=text.encode()).code, 204)
        self.assertEqual(self.walrus.request("GET", "/pol?policy").body.decode(), text)
        status = self.walrus.request("GET", "/pol?policyStatus")
        self.assertEqual(status.findall("IsPublic"), ["true"])
        for method, path, body in (("GET", "/pol?policy", b""), ("PUT", "/pol?policy",
                                                                   text.encode()),
                                   ("DELETE", "/pol?policy", b"")):
            reply = self.walrus.request(method, path, body=body, keys="bob")
            self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.walrus.request("PUT", "/pol?policy", body=b"{not json")
        self.assertEqual((reply.code, reply.errorCode()), (400, "MalformedPolicy"))
        self.assertEqual(self.walrus.request("GET", "/pol?policy").body.decode(), text)
        self.assertEqual(self.walrus.request("DELETE", "/pol?policy").code, 204)
        self.assertEqual(self.walrus.request("GET", "/pol?policy").errorCode(),
                         "NoSuchBucketPolicy")

    def test_allowAnonymousRead(self):
        """Principal '*' on pol/public/* lets anyone read there, and nowhere else."""
        self.assertEqual(self.walrus.get("pol", "public/page", keys=None).code, 403)
        self.setPolicy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::pol/public/*"})
        reply = self.walrus.get("pol", "public/page", keys=None)
        self.assertEqual((reply.code, reply.body), (200, b"page"))
        self.assertEqual(self.walrus.get("pol", "secret/plan", keys=None).code, 403)
        self.assertEqual(self.walrus.request("GET", "/pol", keys=None).code, 403)
        self.assertEqual(self.walrus.request("DELETE", "/pol/public/page", keys=None).code, 403)

    def test_grantToAnotherUserByArn(self):
        """{"AWS": user ARN} lets bob write and list under a prefix (s3:prefix), nothing more."""
        arn = "arn:aws:iam::%s:user/bob" % (self.account("bob"),)
        self.setPolicy(
            {"Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::pol/drop/*"},
            {"Effect": "Allow", "Principal": {"AWS": self.account("bob")},
             "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::pol",
             "Condition": {"StringLike": {"s3:prefix": "drop/*"}}})
        self.assertEqual(self.walrus.put("pol", "drop/report", b"r", keys="bob").code, 200)
        reply = self.walrus.request("PUT", "/pol/elsewhere", body=b"r", keys="bob")
        self.assertEqual(reply.code, 403)
        self.assertEqual(self.walrus.request("GET", "/pol?prefix=drop%2F", keys="bob")
                         .findall("Contents/Key"), ["drop/report"])
        self.assertEqual(self.walrus.request("GET", "/pol?prefix=secret%2F", keys="bob").code,
                         403)
        self.assertEqual(self.walrus.request("GET", "/pol", keys="admin").code, 200)

    def test_denyBindsTheOwner(self):
        """A Deny applies to the owner too, but never to the owner's policy operations."""
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject",
                                                                       "s3:DeleteObject"],
                        "Resource": "arn:aws:s3:::pol/secret/*"})
        self.assertEqual(self.walrus.get("pol", "secret/plan").code, 403)
        self.assertEqual(self.walrus.get("pol", "secret/plan", keys="admin").code, 403)
        self.assertEqual(self.walrus.get("pol", "public/page").code, 200)
        self.assertEqual(self.walrus.request("DELETE", "/pol/secret/plan").code, 403)
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                        "Resource": ["arn:aws:s3:::pol", "arn:aws:s3:::pol/*"]})
        self.assertEqual(self.walrus.get("pol", "public/page").code, 403)
        self.assertEqual(self.walrus.request("GET", "/pol?policy").code, 200)
        self.assertEqual(self.walrus.request("DELETE", "/pol?policy").code, 204)
        self.assertEqual(self.walrus.get("pol", "secret/plan").code, 200)

    def test_secureTransportAndTime(self):
        """Bool aws:SecureTransport denies plain HTTP; an Allow that has expired grants nothing."""
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::pol/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        self.assertEqual(self.walrus.request("PUT", "/pol/new", body=b"x").code, 403)
        self.setPolicy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::pol/*",
                        "Condition": {"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}})
        self.assertEqual(self.walrus.get("pol", "public/page", keys=None).code, 403)

    def test_deleteObjectsPerKey(self):
        """DeleteObjects: the keys a policy denies come back as AccessDenied and stay."""
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
                        "Resource": "arn:aws:s3:::pol/secret/*"})
        body = (b"<Delete><Object><Key>secret/plan</Key></Object>"
                b"<Object><Key>public/page</Key></Object></Delete>")
        import base64
        import hashlib
        reply = self.walrus.request("POST", "/pol?delete", body=body, headers={
            "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.findall("Deleted/Key"), ["public/page"])
        self.assertEqual(reply.findall("Error/Code"), ["AccessDenied"])
        self.assertEqual(self.walrus.get("pol", "secret/plan").code, 200)

    def test_copySourceDenied(self):
        """A copy reads its source under the source bucket's policy."""
        self.setPolicy({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::pol/secret/*"})
        self.walrus.createBucket("dest")
        reply = self.walrus.request("PUT", "/dest/copy",
                                    headers={"x-amz-copy-source": "/pol/secret/plan"})
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.walrus.request("PUT", "/dest/copy",
                                    headers={"x-amz-copy-source": "/pol/public/page"})
        self.assertEqual(reply.code, 200)


    def test_versionActions(self):
        """A request naming a version is the policy's *Version action; so is a copy from one."""
        self.setPolicy({"Effect": "Deny", "Principal": "*",
                        "Action": ["s3:GetObjectVersion", "s3:DeleteObjectVersion"],
                        "Resource": "arn:aws:s3:::pol/secret/*"})
        self.assertEqual(self.walrus.get("pol", "secret/plan").code, 200)
        reply = self.walrus.request("GET", "/pol/secret/plan?versionId=null")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.walrus.createBucket("dest")
        reply = self.walrus.request("PUT", "/dest/copy", headers={
            "x-amz-copy-source": "/pol/secret/plan?versionId=null"})
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        reply = self.walrus.request("PUT", "/dest/copy",
                                    headers={"x-amz-copy-source": "/pol/secret/plan"})
        self.assertEqual(reply.code, 200, reply.body)
        body = b"<Delete><Object><Key>secret/plan</Key><VersionId>null</VersionId></Object></Delete>"
        import base64
        import hashlib
        reply = self.walrus.request("POST", "/pol?delete", body=body, headers={
            "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
        self.assertEqual(reply.findall("Error/Code"), ["AccessDenied"])
        reply = self.walrus.request("DELETE", "/pol/secret/plan?versionId=null")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.assertEqual(self.walrus.request("DELETE", "/pol/secret/plan").code, 204)


class LivePolicyTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    def bobClient(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.live.endpoint,
                            aws_access_key_id=self.live.bob[0],
                            aws_secret_access_key=self.live.bob[1], region_name="us-east-1")

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3: a policy lets bob upload and anyone read; a NotIpAddress Deny shuts loopback out."""
        bobAccount = yield self.live.db.run(
            lambda s: s.get(accounts.User, "bob").accountNumber)

        def scenario():
            import botocore
            from botocore.config import Config
            s3 = self.live.s3Client()
            anonymous = self.live.s3Client(config=Config(signature_version=botocore.UNSIGNED))
            bob = self.bobClient()
            s3.create_bucket(Bucket="shared")
            s3.put_object(Bucket="shared", Key="mine", Body=b"m")
            outcomes = []

            def attempt(fn, **kwargs):
                try:
                    fn(**kwargs)
                    outcomes.append("ok")
                except botocore.exceptions.ClientError as error:
                    outcomes.append(error.response["Error"]["Code"])
            attempt(bob.put_object, Bucket="shared", Key="in/a", Body=b"a")
            s3.put_bucket_policy(Bucket="shared", Policy=document(
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % bobAccount},
                 "Action": "s3:PutObject", "Resource": "arn:aws:s3:::shared/in/*"},
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::shared/in/*"}))
            attempt(bob.put_object, Bucket="shared", Key="in/a", Body=b"a" * 100000)
            attempt(anonymous.get_object, Bucket="shared", Key="in/a")
            attempt(bob.put_object, Bucket="shared", Key="out/a", Body=b"a")
            stored = json.loads(s3.get_bucket_policy(Bucket="shared")["Policy"])
            attempt(s3.put_bucket_policy, Bucket="shared", Policy='{"Statement": "nope"}')
            s3.put_bucket_policy(Bucket="shared", Policy=document(
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": "arn:aws:s3:::shared/*",
                 "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}))
            attempt(s3.get_object, Bucket="shared", Key="mine")
            s3.delete_bucket_policy(Bucket="shared")
            attempt(s3.get_object, Bucket="shared", Key="mine")
            return outcomes, stored
        outcomes, stored = yield self.live.inThread(scenario)
        self.assertEqual(outcomes, ["AccessDenied", "ok", "ok", "AccessDenied", "MalformedPolicy",
                                    "AccessDenied", "ok"])
        self.assertEqual(len(stored["Statement"]), 2)

    @defer.inlineCallbacks
    def test_deniedUploadLeavesNoBytes(self):
        """A PUT a policy denies is refused from its headers: no byte of its body is stored."""
        def scenario():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="locked")
            s3.put_bucket_policy(Bucket="locked", Policy=document(
                {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::locked/*"}))
            request = s3.generate_presigned_url("put_object", Params={"Bucket": "locked",
                                                                      "Key": "big"})
            from urllib.parse import urlsplit
            parts = urlsplit(request)
            sock = socket.create_connection(("127.0.0.1", parts.port), timeout=30)
            try:
                sock.sendall(b"PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 50000000\r\n"
                             b"Expect: 100-continue\r\n\r\n" % (
                                 parts.path.encode(), parts.query.encode(),
                                 parts.netloc.encode()))
                return sock.recv(65536)
            finally:
                sock.close()
        answer = yield self.live.inThread(scenario)
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:300])
        self.assertNotIn(b"100 Continue", answer)
        stored = [name for directory, _, files in os.walk(self.live.path("bukkits"))
                  for name in files if os.path.getsize(os.path.join(directory, name))]
        self.assertEqual(stored, [])

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli put-bucket-policy, get-bucket-policy, get-bucket-policy-status, delete-bucket-policy."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json"]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "clipol"])
        text = document({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                         "Resource": "arn:aws:s3:::clipol/*"})
        yield self.live.run(aws + ["s3api", "put-bucket-policy", "--bucket", "clipol",
                                   "--policy", text])
        out = yield self.live.run(aws + ["s3api", "get-bucket-policy", "--bucket", "clipol"])
        self.assertEqual(json.loads(json.loads(out.stdout)["Policy"]), json.loads(text))
        out = yield self.live.run(aws + ["s3api", "get-bucket-policy-status", "--bucket",
                                         "clipol"])
        self.assertTrue(json.loads(out.stdout)["PolicyStatus"]["IsPublic"])
        bad = yield self.live.run(aws + ["s3api", "put-bucket-policy", "--bucket", "clipol",
                                         "--policy", "{}"], check=False)
        self.assertIn(b"MalformedPolicy", bad.stderr)
        yield self.live.run(aws + ["s3api", "delete-bucket-policy", "--bucket", "clipol"])
        gone = yield self.live.run(aws + ["s3api", "get-bucket-policy", "--bucket", "clipol"],
                                   check=False)
        self.assertIn(b"NoSuchBucketPolicy", gone.stderr)
