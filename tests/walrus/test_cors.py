"""CORS: the bucket's rules (PutBucketCors and its limits), the preflight OPTIONS, the headers on requests."""

import http.client
import json
import os
import socket

from twisted.internet import defer
from twisted.trial import unittest

from tests.walrus.helpers import WalrusHarness
from tests.walrus.live import LiveWalrus, awsCommand

RULES = b"""<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<CORSRule><ID>uploads</ID><AllowedOrigin>https://*.example.com</AllowedOrigin>
<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>
<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>content-type</AllowedHeader>
<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>
<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
</CORSConfiguration>"""


def corsXml(rules):
    return ('<CORSConfiguration>%s</CORSConfiguration>' % "".join(
        "<CORSRule>%s</CORSRule>" % rule for rule in rules)).encode()


class CorsConfigurationTests(unittest.TestCase):
    def setUp(self):
        self.walrus = WalrusHarness(self)
        self.walrus.createBucket("site")

    def test_putGetDelete(self):
        """The rules are stored and read back; NoSuchCORSConfiguration before and after."""
        reply = self.walrus.request("GET", "/site?cors")
        self.assertEqual((reply.code, reply.errorCode()), (404, "NoSuchCORSConfiguration"))
        self.assertEqual(self.walrus.request("PUT", "/site?cors", body=RULES).code, 200)
        reply = self.walrus.request("GET", "/site?cors")
        self.assertEqual(reply.findall("CORSRule/AllowedOrigin"), ["https://*.example.com", "*"])
        self.assertEqual(reply.findall("CORSRule/AllowedMethod"), ["PUT", "POST", "GET"])
        self.assertEqual(reply.findall("CORSRule/MaxAgeSeconds"), ["600"])
        self.assertEqual(reply.findall("CORSRule/ID"), ["uploads"])
        self.assertEqual(self.walrus.request("DELETE", "/site?cors").code, 204)
        self.assertEqual(self.walrus.request("GET", "/site?cors").errorCode(),
                         "NoSuchCORSConfiguration")

    def test_invalidRules(self):
        """Unknown methods, two wildcards, no origin, 101 rules: refused, nothing stored."""
        cases = [
            ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>",
             "InvalidRequest"),
            ("<AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
             "InvalidRequest"),
            ("<AllowedMethod>GET</AllowedMethod>", "MalformedXML"),
            ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
             "<MaxAgeSeconds>soon</MaxAgeSeconds>", "MalformedXML"),
        ]
        for rule, code in cases:
            reply = self.walrus.request("PUT", "/site?cors", body=corsXml([rule]))
            self.assertEqual((reply.code, reply.errorCode()), (400, code), rule)
        many = corsXml(["<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"]
                       * 101)
        self.assertEqual(self.walrus.request("PUT", "/site?cors", body=many).errorCode(),
                         "InvalidRequest")
        self.assertEqual(self.walrus.request("GET", "/site?cors").errorCode(),
                         "NoSuchCORSConfiguration")

    def test_ownerOnly(self):
        """Another user may not read or set the bucket's CORS rules."""
        reply = self.walrus.request("PUT", "/site?cors", body=RULES, keys="bob")
        self.assertEqual((reply.code, reply.errorCode()), (403, "AccessDenied"))
        self.walrus.request("PUT", "/site?cors", body=RULES)
        self.assertEqual(self.walrus.request("GET", "/site?cors", keys="bob").code, 403)

    def preflight(self, path, headers):
        return self.walrus.request("OPTIONS", path, headers=headers, keys=None)

    def test_preflight(self):
        """A preflight is answered from the first matching rule, unauthenticated."""
        self.walrus.request("PUT", "/site?cors", body=RULES)
        reply = self.preflight("/site/upload.bin", {
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"})
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.header("access-control-allow-origin"), "https://app.example.com")
        self.assertEqual(reply.header("access-control-allow-methods"), "PUT, POST")
        self.assertEqual(reply.header("access-control-allow-headers"),
                         "content-type, x-amz-date")
        self.assertEqual(reply.header("access-control-expose-headers"), "ETag")
        self.assertEqual(reply.header("access-control-max-age"), "600")
        self.assertEqual(reply.header("access-control-allow-credentials"), "true")
        reply = self.preflight("/site/x", {"Origin": "http://anywhere.test",
                                           "Access-Control-Request-Method": "GET"})
        self.assertEqual((reply.code, reply.header("access-control-allow-origin")), (200, "*"))

    def test_preflightRefusals(self):
        """No rule matching origin, method or header, no rules, no bucket: the same 403 CORSResponse."""
        self.walrus.request("PUT", "/site?cors", body=RULES)
        refused = [
            ("/site/k", {"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"}),
            ("/site/k", {"Origin": "https://app.example.com",
                         "Access-Control-Request-Method": "DELETE"}),
            ("/site/k", {"Origin": "https://app.example.com",
                         "Access-Control-Request-Method": "PUT",
                         "Access-Control-Request-Headers": "authorization"}),
            ("/nosuchbucket/k", {"Origin": "https://app.example.com",
                                 "Access-Control-Request-Method": "PUT"}),
        ]
        self.walrus.createBucket("plain")
        refused.append(("/plain/k", {"Origin": "http://a.test",
                                     "Access-Control-Request-Method": "GET"}))
        bodies = set()
        for path, headers in refused:
            reply = self.preflight(path, headers)
            self.assertEqual((reply.code, reply.errorCode()), (403, "CORSResponse"), path)
            self.assertIsNone(reply.header("access-control-allow-origin"))
            bodies.add(reply.xml().findtext("Message"))
        self.assertEqual(len(bodies), 1)
        reply = self.preflight("/site/k", {"Access-Control-Request-Method": "GET"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "BadRequest"))
        reply = self.preflight("/site/k", {"Origin": "http://a.test"})
        self.assertEqual((reply.code, reply.errorCode()), (400, "BadRequest"))

    def test_actualRequestHeaders(self):
        """A GET with a matching Origin carries Access-Control-Allow-Origin; others do not."""
        self.walrus.request("PUT", "/site?cors", body=RULES)
        self.walrus.put("site", "page", b"hi")
        reply = self.walrus.get("site", "page", headers={"Origin": "http://a.test"})
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("access-control-allow-origin"), "*")
        self.assertIn("Origin", reply.header("vary"))
        reply = self.walrus.request("DELETE", "/site/page",
                                    headers={"Origin": "https://app.example.com"})
        self.assertEqual(reply.code, 204)
        self.assertIsNone(reply.header("access-control-allow-origin"))
        self.assertIsNone(self.walrus.get("site", "page").header("access-control-allow-origin"))


class LiveCorsTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.live = LiveWalrus(self)
        yield self.live.start()

    def options(self, path, headers):
        connection = http.client.HTTPConnection("127.0.0.1", self.live.port.getHost().port,
                                                timeout=30)
        try:
            connection.request("OPTIONS", path, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    @defer.inlineCallbacks
    def test_boto3(self):
        """boto3 put/get/delete_bucket_cors, and a browser's preflight and GET against the daemon."""
        def scenario():
            s3 = self.live.s3Client()
            s3.create_bucket(Bucket="web")
            s3.put_object(Bucket="web", Key="app.js", Body=b"js")
            s3.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": ["https://console.example.com"], "AllowedMethods": ["GET"],
                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
            rules = s3.get_bucket_cors(Bucket="web")["CORSRules"]
            allowed = self.options("/web/app.js", {
                "Origin": "https://console.example.com", "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range"})
            refused = self.options("/web/app.js", {
                "Origin": "https://other.example.com", "Access-Control-Request-Method": "GET"})
            s3.delete_bucket_cors(Bucket="web")
            afterDelete = self.options("/web/app.js", {
                "Origin": "https://console.example.com", "Access-Control-Request-Method": "GET"})
            return rules, allowed, refused, afterDelete
        rules, allowed, refused, afterDelete = yield self.live.inThread(scenario)
        self.assertEqual(rules[0]["AllowedOrigins"], ["https://console.example.com"])
        self.assertEqual(rules[0]["MaxAgeSeconds"], 60)
        self.assertEqual(allowed[0], 200)
        self.assertEqual(allowed[1]["Access-Control-Allow-Origin"], "https://console.example.com")
        self.assertEqual(allowed[1]["Access-Control-Allow-Headers"], "range")
        self.assertEqual(refused[0], 403)
        self.assertIn(b"CORSResponse", refused[2])
        self.assertEqual(afterDelete[0], 403)

    @defer.inlineCallbacks
    def test_preflightBodyNeverRead(self):
        """An OPTIONS announcing a body is refused from its headers: no byte of it reaches disk."""
        def scenario():
            self.live.s3Client().create_bucket(Bucket="nobody")
            sock = socket.create_connection(("127.0.0.1", self.live.port.getHost().port),
                                            timeout=30)
            try:
                sock.sendall(b"OPTIONS /nobody/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Origin: http://a.test\r\nAccess-Control-Request-Method: PUT\r\n"
                             b"Content-Length: 50000000\r\n\r\n" + b"x" * 65536)
                answer = b""
                while True:
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        break
                    if not data:
                        break
                    answer += data
                return answer
            finally:
                sock.close()
        answer = yield self.live.inThread(scenario)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:200])
        stored = []
        for directory, _, files in os.walk(self.live.path("bukkits")):
            stored += [os.path.join(directory, name) for name in files
                       if os.path.getsize(os.path.join(directory, name)) > 0]
        self.assertEqual(stored, [])

    @defer.inlineCallbacks
    def test_awscli(self):
        """awscli s3api put-bucket-cors with a JSON file, get-bucket-cors, delete-bucket-cors."""
        aws = awsCommand() + ["--endpoint-url", self.live.endpoint, "--output", "json"]
        yield self.live.run(aws + ["s3api", "create-bucket", "--bucket", "clicors"])
        with open(self.live.path("cors.json"), "w") as f:
            json.dump({"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"],
                                      "ExposeHeaders": ["x-amz-request-id"]}]}, f)
        yield self.live.run(aws + ["s3api", "put-bucket-cors", "--bucket", "clicors",
                                   "--cors-configuration", "file://" + self.live.path("cors.json")])
        out = yield self.live.run(aws + ["s3api", "get-bucket-cors", "--bucket", "clicors"])
        self.assertEqual(json.loads(out.stdout)["CORSRules"][0]["AllowedMethods"],
                         ["GET", "HEAD"])
        yield self.live.run(aws + ["s3api", "delete-bucket-cors", "--bucket", "clicors"])
        gone = yield self.live.run(aws + ["s3api", "get-bucket-cors", "--bucket", "clicors"],
                                   check=False)
        self.assertIn(b"NoSuchCORSConfiguration", gone.stderr)
