"""boto3 and the AWS CLI, unmodified, against one port serving EC2 and S3.

A CLC (FakeClusters) and a Walrus share one database and one Site
(``eucad.frontend.frontdoor.makeSharedSite``, as the CLC's daemon builds it when
WALRUS_PORT equals CLOUD_PORT) listening on 127.0.0.1:0 inside the trial
reactor; clients run in threads, so the reactor keeps serving them.
"""

import hashlib
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config
from twisted.internet import defer, reactor, threads
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from eucad.frontend import frontdoor
from eucad.clc.clusters import ClusterSet
from eucad.clc.cloud import Cloud
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.vmtypes import ensureDefaults
from eucad.common.config import EucaConf
from eucad.common.db import Database
from eucad.testing.fakecluster import FakeCluster
from eucad.walrus import body as bodyModule
from eucad.walrus import wire
from eucad.walrus.app import IoPool, StoreStartup, buildWalrus
from eucad.walrus import service as walrusService
from eucad.walrus.body import BodySpool, makeSpool

from tests.clc import helpers
from tests.walrus.test_post import BOUNDARY, form
from tests.listening import listenClosingConnections, patchEnv

BIG = 20 * 1024 * 1024


class SharedPortTestCase(unittest.TestCase):

    timeout = 240

    @defer.inlineCallbacks
    def setUp(self):
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        self.home = home
        # Nothing from the machine's own AWS configuration may leak in.
        self.env = {"HOME": home, "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_EC2_METADATA_DISABLED": "true", "PATH": os.environ["PATH"]}
        for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                    "AWS_EC2_METADATA_DISABLED"):
            patchEnv(self, key, self.env[key])
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CA_BUNDLE"):
            patchEnv(self, key, None)
        self.db = Database("sqlite:///" + os.path.join(home, "eucalyptus.db"))
        self.db.startService()
        self.addCleanup(self.db.stopService)
        yield self.db.run(ensureDefaults)
        self.keys = helpers.addUser(self.db, "alice")
        self.emi, self.eki, self.eri = helpers.registerImages(self.db)
        self.zones = {"zone1": FakeCluster(clock=reactor),
                      "zone2": FakeCluster(clock=reactor, subnet="10.2.0")}
        io = IoPool(4)
        io.startService()
        self.addCleanup(io.stopService)
        conf = EucaConf(os.path.join(home, "eucalyptus.conf"))
        self.walrus = buildWalrus(self.db, os.path.join(home, "bukkits"), conf, io.run)
        startup = StoreStartup(self.walrus.store)
        startup.startService()
        yield startup.swept

        self.cloud = Cloud(self.db, ClusterSet.fromLinks(self.zones, reactor), reactor,
                           None)
        site = frontdoor.makeSharedSite(self.cloud, self.walrus)
        # Every body spool Walrus makes: those of admitted S3 requests come
        # from its admission, the others (EC2's) from the Site's plain factory.
        self.spools = []
        self.plainSpools = []
        self.spoolWatchers = []

        def recordSpool(*args):
            spool = makeSpool(*args)
            self.spools.append(spool)
            for watch in self.spoolWatchers:
                watch(spool)
            return spool
        self.patch(walrusService, "makeSpool", recordSpool)
        plainFactory = site.walrusSpoolFactory

        def recordPlainSpool(*args):
            spool = plainFactory(*args)
            self.plainSpools.append(spool)
            return spool
        site.walrusSpoolFactory = recordPlainSpool
        port = listenClosingConnections(self, site)
        self.root = "http://127.0.0.1:%d" % (port.getHost().port,)
        self.cloud.endpoint = self.root + "/services/Eucalyptus"
        poller = ClusterPoller(self.cloud, interval=0.2)
        poller.startService()
        self.addCleanup(poller.stopService)
        watcher = ClusterWatcher(poller)
        watcher.startService()
        self.addCleanup(watcher.stopService)

    def session(self):
        return boto3.session.Session(aws_access_key_id=self.keys[0],
                                     aws_secret_access_key=self.keys[1],
                                     region_name="eucalyptus")

    def ec2(self, endpoint):
        return self.session().client("ec2", endpoint_url=endpoint, config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}))

    def s3(self, endpoint):
        return self.session().client("s3", endpoint_url=endpoint, config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"}))


def exercise(testcase, ec2Endpoint, s3Endpoint, bucket):
    """EC2 describes and an S3 bucket round trip; returns what they gave."""
    ec2 = testcase.ec2(ec2Endpoint)
    s3 = testcase.s3(s3Endpoint)
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    images = ec2.describe_images()["Images"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="notes/hello.txt", Body=b"hello, shared port",
                  Metadata={"Color": "red"})
    got = s3.get_object(Bucket=bucket, Key="notes/hello.txt")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {"zones": sorted(z["ZoneName"] for z in zones),
            "images": {i["ImageId"] for i in images},
            "body": got["Body"].read(), "metadata": got["Metadata"],
            "keys": [o["Key"] for o in listed], "buckets": buckets}


class Boto3Tests(SharedPortTestCase):

    def check(self, seen, bucket):
        self.assertEqual(seen["zones"], ["zone1", "zone2"])
        self.assertEqual(seen["images"], {self.emi, self.eki, self.eri})
        self.assertEqual(seen["body"], b"hello, shared port")
        self.assertEqual(seen["metadata"], {"color": "red"})
        self.assertEqual(seen["keys"], ["notes/hello.txt"])
        self.assertIn(bucket, seen["buckets"])

    def test_bareRoot(self):
        """boto3's EC2 and S3 clients both pointed at http://127.0.0.1:PORT just work."""
        d = threads.deferToThread(exercise, self, self.root, self.root, "atroot")
        return d.addCallback(self.check, "atroot")

    def test_servicePaths(self):
        """boto3 at /services/Eucalyptus and /services/Walrus works on the same port."""
        d = threads.deferToThread(exercise, self, self.root + "/services/Eucalyptus",
                                  self.root + "/services/Walrus", "prefixed")
        return d.addCallback(self.check, "prefixed")

    def test_largePutStreams(self):
        """A 20 MiB PUT at the root is admitted, then streams to disk, never held whole in memory."""
        data = os.urandom(BIG)
        peaks = {}

        def watch(spool):
            # How much of the body waits in memory after each piece arrives.
            if not isinstance(spool, BodySpool):
                return
            write = spool.write

            def measured(chunk):
                write(chunk)
                peaks[id(spool)] = max(peaks.get(id(spool), 0),
                                       spool.pendingBytes + spool.inFlight)
            spool.write = measured
        self.spoolWatchers.append(watch)

        def upload():
            s3 = self.s3(self.root)
            s3.create_bucket(Bucket="big")
            s3.put_object(Bucket="big", Key="blob", Body=data)
            got = s3.get_object(Bucket="big", Key="blob")["Body"].read()
            return hashlib.md5(got).hexdigest()

        def check(digest):
            self.assertEqual(digest, hashlib.md5(data).hexdigest())
            [spool] = [s for s in self.spools
                       if isinstance(s, BodySpool) and s.received >= BIG]
            # Walrus admitted the PUT from its headers before making its spool.
            self.assertNotIn(spool, self.plainSpools)
            self.assertTrue(spool.onFile)
            self.assertLessEqual(peaks[id(spool)], bodyModule.HIGH_WATER + wire.LARGE_READ)
        return threads.deferToThread(upload).addCallback(check)


class AwsCliTests(SharedPortTestCase):

    @defer.inlineCallbacks
    def test_s3LsAndDescribeRegions(self):
        """`aws s3 ls` and `aws ec2 describe-regions` both work with --endpoint-url at the bare root."""
        yield threads.deferToThread(lambda: self.s3(self.root).create_bucket(Bucket="listed"))
        env = dict(self.env, AWS_ACCESS_KEY_ID=self.keys[0],
                   AWS_SECRET_ACCESS_KEY=self.keys[1])
        out, err, code = yield getProcessOutputAndValue(sys.executable, [
            "-m", "awscli", "s3", "ls", "--endpoint-url", self.root,
            "--region", "eucalyptus"], env=env)
        self.assertEqual(code, 0, err)
        self.assertEqual([line.split()[-1] for line in out.decode().splitlines()], ["listed"])
        out, err, code = yield getProcessOutputAndValue(sys.executable, [
            "-m", "awscli", "ec2", "describe-regions", "--endpoint-url", self.root,
            "--region", "eucalyptus", "--output", "json"], env=env)
        self.assertEqual(code, 0, err)
        regions = json.loads(out)["Regions"]
        self.assertEqual([r["RegionName"] for r in regions], ["eucalyptus"])


class BrowserUploadTests(SharedPortTestCase):

    def test_presignedPostAtRoot(self):
        """An S3 browser upload (multipart/form-data POST) through the shared root stores the file."""
        def upload():
            s3 = self.s3(self.root)
            s3.create_bucket(Bucket="forms")
            post = s3.generate_presigned_post("forms", "up/${filename}")
            body = form(sorted(post["fields"].items()), b"\x89PNG image bytes" * 1000,
                        filename="pic.png")
            request = urllib.request.Request(post["url"], data=body, method="POST", headers={
                "Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = answer.status
            return status, s3.get_object(Bucket="forms", Key="up/pic.png")["Body"].read()

        def check(result):
            status, stored = result
            self.assertEqual(status, 204)
            self.assertEqual(stored, b"\x89PNG image bytes" * 1000)
        return threads.deferToThread(upload).addCallback(check)
