"""The configuration tab against a real eucalyptus-clc (Walrus on its port), over HTTPS.

Each setting is changed on the page and then used as a user would: Walrus's
limits through boto3 (TooManyBuckets, EntityTooLarge), the default kernel
through RunInstances, a cluster registered on the page through
DescribeAvailabilityZones (its FakeCluster served over the real TLS link by
this test's reactor), the DNS servers as the ClusterSettings that cluster
receives over that link (tests/cc/test_clustersettings.py follows them from
there into a real dhcpd and a real lease), the image cache's size on the
cache directory's files.  Each is in force without a restart and still in
force after one (SIGKILL), and the admin's session survives it too.
"""

import hashlib
import html
import json
import os
import re
import time

from twisted.internet import reactor, threads
from twisted.trial import unittest

from eucad.clc.imageservices import cacheDirectory
from eucad.common import accounts, pblink, trust
from eucad.common.clustersettings import ClusterSettings
from eucad.common.config import EucaConf
from eucad.common.db import Database, defaultUrl
from eucad.common.links import ClusterRoot
from eucad.common.polling import pollUntil
from eucad.testing.fakecluster import FakeCluster
from eucad.walrus import livelimits
from tests.clc.livecloud import LiveCloud, freePort
from tests.webclient import PlainClient

ADMIN_PASSWORD = "admin-secret-1"
BIG_NODE = {"host": "node1", "cpu": 64, "ram": 65536, "disk": 10000}


def errorText(page):
    match = re.search(r'id="error">([^<]*)<', page)
    return match.group(1) if match else ""


class ConfigurationLiveTests(unittest.TestCase):
    timeout = 600

    def setUp(self):
        self.webPort = freePort()
        cluster = FakeCluster(nodes=[BIG_NODE], clock=reactor, bootSeconds=0.1)
        self.cloud = LiveCloud(self, cluster=cluster, extraSettings=[
            "WEB_PORT=%d" % self.webPort, "WEB_LISTEN=127.0.0.1"])
        self.cloud.serveCluster(reactor)
        self.base = "https://127.0.0.1:%d" % (self.webPort,)

    def database(self):
        db = Database(defaultUrl(self.cloud.layout))
        self.addCleanup(lambda: db.engine and db.engine.dispose())
        return db

    def clients(self):
        import boto3
        from botocore.config import Config
        user = self.database().transact(lambda s: accounts.findByName(s, "admin"))
        session = boto3.session.Session(aws_access_key_id=user.accessKey,
                                        aws_secret_access_key=user.secretKey,
                                        region_name="eucalyptus")
        config = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
        return (session.client("ec2", endpoint_url=self.cloud.ec2Url, config=config),
                session.client("s3", endpoint_url=self.cloud.s3Url, config=config))

    def test_configuration(self):
        """Walrus limits, default kernel and a registered cluster: in force at once and after a restart."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        self.cacheKeys = [self.cacheEntry(n) for n in range(3)]
        self.cloud.start()
        admin = PlainClient(self.base)
        admin.login("admin", "admin")
        admin.submit("/setup", "/setup", password=ADMIN_PASSWORD, confirm=ADMIN_PASSWORD,
                     email="admin@example.com", publicUrl=self.base)
        self.ec2, self.s3 = self.clients()
        self.walrusLimits(admin)
        self.bucketDirectory(admin)
        self.imageCacheSize(admin)
        self.dnsServers(admin)
        self.vmTypes(admin)
        kernel = self.defaultKernel(admin)
        self.registerCluster(admin)

        self.cloud.kill()
        pushesBefore = len(self.cloud.cluster.settingsReceived)
        # Added while the CLC is down, the most recently used: at start the
        # stored 2 MiB evicts down to it and one other.
        self.cacheKeys.append(self.cacheEntry(3))
        self.cloud.start()
        # Still logged in (the session is in the database), and every setting holds.
        status, page, _ = admin.request("/admin/config")
        self.assertEqual(status, 200)
        self.assertIn('name="WALRUS_MAX_BUCKETS_PER_USER" value="2"', page)
        self.assertRefused("TooManyBuckets", self.s3.create_bucket, Bucket="fourth")
        self.assertIn('name="WALRUS_IMAGE_CACHE_MB" value="2"', page)
        self.assertIn('name="WALRUS_BUCKET_DIRECTORY" value="%s"' % (self.newBukkits,), page)
        self.assertObjectsIntact()
        self.s3.put_object(Bucket="third", Key="after-restart", Body=os.urandom(70 * 1024))
        self.assertEqual(self.blobFiles(self.cloud.layout.bukkits), set())
        self.assertEqual(len(self.blobFiles(self.newBukkits)), len(self.moved) + 4)
        pollUntil("the image cache evicted down to 2 MiB at start",
                  lambda: self.cachedKeys() == set(self.cacheKeys[2:]), timeout=30,
                  interval=0.2)
        self.assertIn('name="VNET_DNS" value="192.0.2.53, 198.51.100.7"', page)
        pollUntil("the DNS servers pushed again over the new link", lambda: len(
            self.cloud.cluster.settingsReceived) > pushesBefore, timeout=30, interval=0.2)
        self.assertEqual(self.cloud.cluster.settings.dnsServers,
                         ("192.0.2.53", "198.51.100.7"))
        self.assertEqual(self.smallMemory(), 384)
        self.assertEqual(self.launchedKernel(), kernel)
        self.assertIn("zone2", self.zones())
        self.deregisterCluster(admin)

    def assertRefused(self, code, call, **kwargs):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as caught:
            call(**kwargs)
        self.assertEqual(caught.exception.response["Error"]["Code"], code)

    def walrusReadsAgain(self):
        """Walrus reads its limits again once its copy is MAX_AGE old: let that pass."""
        time.sleep(livelimits.MAX_AGE + 0.3)

    def walrusLimits(self, admin):
        _, page, _ = admin.request("/admin/config")
        self.assertIn('id="WALRUS_MAX_BUCKETS_PER_USER" name="WALRUS_MAX_BUCKETS_PER_USER" '
                      'value="5"', page)
        self.assertIn(self.cloud.layout.bukkits, page)
        status, page, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                       WALRUS_MAX_BUCKETS_PER_USER="lots",
                                       WALRUS_MAX_BUCKET_SIZE_MB="-1")
        self.assertEqual(status, 400)
        self.assertEqual(errorText(page).splitlines(), [
            "Max buckets per user must be a whole number from 0 to 1000000.",
            "Max bucket size (MiB) must be a whole number from 0 to 1073741824."])
        self.assertIn('value="lots"', page)

        # Without the form's CSRF token nothing is changed.
        status, _, _ = admin.request("/admin/config/walrus", {
            "WALRUS_MAX_BUCKETS_PER_USER": "1", "WALRUS_MAX_BUCKET_SIZE_MB": "1"})
        self.assertEqual(status, 403)
        for name in ("first", "second"):
            self.s3.create_bucket(Bucket=name)
        status, _, headers = admin.submit("/admin/config", "/admin/config/walrus",
                                          WALRUS_MAX_BUCKETS_PER_USER="2",
                                          WALRUS_MAX_BUCKET_SIZE_MB="1")
        self.assertEqual((status, headers["Location"]), (303, "/admin/config"))
        self.walrusReadsAgain()
        self.assertRefused("TooManyBuckets", self.s3.create_bucket, Bucket="third")
        self.s3.put_object(Bucket="first", Key="a", Body=os.urandom(600 * 1024))
        self.assertRefused("EntityTooLarge", self.s3.put_object, Bucket="first", Key="b",
                           Body=os.urandom(600 * 1024))
        self.assertEqual([o["Key"] for o in self.s3.list_objects_v2(
            Bucket="first")["Contents"]], ["a"])

        admin.submit("/admin/config", "/admin/config/walrus",
                     WALRUS_MAX_BUCKETS_PER_USER="3", WALRUS_MAX_BUCKET_SIZE_MB="2")
        self.walrusReadsAgain()
        self.s3.create_bucket(Bucket="third")
        self.s3.put_object(Bucket="first", Key="b", Body=os.urandom(600 * 1024))
        admin.submit("/admin/config", "/admin/config/walrus",
                     WALRUS_MAX_BUCKETS_PER_USER="2", WALRUS_MAX_BUCKET_SIZE_MB="2")
        self.walrusReadsAgain()
        self.assertRefused("TooManyBuckets", self.s3.create_bucket, Bucket="fourth")

    def blobFiles(self, root):
        found = set()
        for top, _, names in os.walk(os.path.join(root, "blobs")):
            found.update(os.path.join(top, name) for name in names)
        return found

    def assertObjectsIntact(self):
        for key, body in self.moved.items():
            self.assertEqual(self.s3.get_object(Bucket="third", Key=key)["Body"].read(), body)

    def bucketDirectory(self, admin):
        old = self.cloud.layout.bukkits
        _, page, _ = admin.request("/admin/config")
        self.assertIn('name="WALRUS_BUCKET_DIRECTORY" value="%s"' % (old,), page)
        # Larger than what Walrus keeps in the row: each is a blob file.
        self.moved = {"k%03d" % n: os.urandom(66 * 1024 + n) for n in range(20)}
        for key, body in self.moved.items():
            self.s3.put_object(Bucket="third", Key=key, Body=body)
        before = self.blobFiles(old)
        self.assertEqual(len(before), len(self.moved) + 2)
        self.newBukkits = os.path.abspath(self.mktemp())
        full = os.path.abspath(self.mktemp())
        os.makedirs(self.newBukkits)
        os.makedirs(full)
        with open(os.path.join(full, "something"), "w"):
            pass
        for path, why in (("relative/dir", "an absolute path"),
                          (full, "is not empty"),
                          (os.path.join(old, "inside"), "overlaps the current one"),
                          (self.newBukkits + "/nothere", "is not an existing directory")):
            status, page, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                           WALRUS_BUCKET_DIRECTORY=path)
            self.assertEqual(status, 400)
            self.assertIn(why, html.unescape(errorText(page)))
        status, _, _ = admin.request("/admin/config/walrus",
                                     {"WALRUS_BUCKET_DIRECTORY": self.newBukkits})
        self.assertEqual(status, 403)
        self.assertEqual(self.blobFiles(old), before)

        status, _, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                    WALRUS_BUCKET_DIRECTORY=self.newBukkits)
        self.assertEqual(status, 303)
        # Requests keep being served while Walrus moves the blobs.
        rounds = 0
        while rounds < 200:
            rounds += 1
            self.assertObjectsIntact()
            _, page, _ = admin.request("/admin/config")
            if 'id="bucket-move"' not in page:
                break
            time.sleep(0.1)
        self.assertIn('name="WALRUS_BUCKET_DIRECTORY" value="%s"' % (self.newBukkits,), page)
        self.s3.put_object(Bucket="third", Key="after-move", Body=os.urandom(70 * 1024))
        self.assertEqual(self.blobFiles(old), set())
        self.assertEqual(len(self.blobFiles(self.newBukkits)), len(self.moved) + 3)
        self.assertObjectsIntact()
        self.assertEqual(self.s3.get_object(Bucket="first", Key="a")["ContentLength"],
                         600 * 1024)
        self.killedDuringMove(admin)

    def killedDuringMove(self, admin):
        """Asked to move again and SIGKILLed at once: after the restart the move ends, nothing lost."""
        first, self.newBukkits = self.newBukkits, os.path.abspath(self.mktemp())
        os.makedirs(self.newBukkits)
        status, _, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                    WALRUS_BUCKET_DIRECTORY=self.newBukkits)
        self.assertEqual(status, 303)
        self.cloud.kill()
        self.cloud.start()
        self.assertObjectsIntact()
        pollUntil("the move after the restart", lambda: 'id="bucket-move"' not in
                  admin.request("/admin/config")[1], timeout=60, interval=0.2)
        self.assertEqual(self.blobFiles(first), set())
        self.assertEqual(len(self.blobFiles(self.newBukkits)), len(self.moved) + 3)
        self.assertObjectsIntact()

    def cacheEntry(self, number):
        """
        A decrypted image of 1 MiB in the CLC's image cache, as the cache
        writes one (image, then its record), used ``number`` minutes after
        the first: the key.
        """
        directory = cacheDirectory(self.cloud.layout)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        body = os.urandom(1024 * 1024)
        key = hashlib.sha1(b"manifest %d" % number).hexdigest()
        image = os.path.join(directory, key + ".img")
        with open(image, "wb") as f:
            f.write(body)
        with open(os.path.join(directory, key + ".json"), "w") as f:
            json.dump({"sha1": hashlib.sha1(body).hexdigest(), "size": len(body)}, f)
        used = time.time() - 3600 + 60 * number
        os.utime(image, (used, used))
        return key

    def cachedKeys(self):
        return {name[:-4] for name in os.listdir(cacheDirectory(self.cloud.layout))
                if name.endswith(".img")}

    def imageCacheSize(self, admin):
        _, page, _ = admin.request("/admin/config")
        self.assertIn('name="WALRUS_IMAGE_CACHE_MB" value="10240"', page)
        self.assertEqual(self.cachedKeys(), set(self.cacheKeys))
        status, page, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                       WALRUS_IMAGE_CACHE_MB="0")
        self.assertEqual(status, 400)
        self.assertEqual(errorText(page),
                         "Image cache size (MiB) must be a whole number from 1 to 1073741824.")
        status, _, _ = admin.request("/admin/config/walrus", {"WALRUS_IMAGE_CACHE_MB": "1"})
        self.assertEqual(status, 403)
        self.assertEqual(self.cachedKeys(), set(self.cacheKeys))
        status, _, _ = admin.submit("/admin/config", "/admin/config/walrus",
                                    WALRUS_IMAGE_CACHE_MB="2")
        self.assertEqual(status, 303)
        # The least recently used image goes at once, without a restart.
        pollUntil("the image cache evicted down to 2 MiB",
                  lambda: self.cachedKeys() == set(self.cacheKeys[1:]), timeout=30,
                  interval=0.2)

    def dnsServers(self, admin):
        cluster = self.cloud.cluster
        pollUntil("the cluster settings at start", lambda: cluster.settings is not None,
                  timeout=30, interval=0.2)
        self.assertEqual(cluster.settings, ClusterSettings())
        status, page, _ = admin.submit("/admin/config", "/admin/config/system",
                                       VNET_DNS="192.0.2.53, dns.example.com")
        self.assertEqual(status, 400)
        self.assertEqual(html.unescape(errorText(page)),
                         "DNS servers: 'dns.example.com' is not an IPv4 "
                         "address (up to 3 IPv4 addresses, or empty).")
        status, _, _ = admin.request("/admin/config/system", {"VNET_DNS": "192.0.2.1"})
        self.assertEqual(status, 403)
        status, _, _ = admin.submit("/admin/config", "/admin/config/system",
                                    VNET_DNS="192.0.2.53 198.51.100.7")
        self.assertEqual(status, 303)
        # Pushed as soon as it is saved: no restart.
        pollUntil("the DNS servers at the cluster", lambda: cluster.settings.dnsServers == (
            "192.0.2.53", "198.51.100.7"), timeout=10, interval=0.1)
        self.assertNotIn(ClusterSettings(dnsServers=("192.0.2.1",)), cluster.settingsReceived)

    def smallMemory(self):
        answer = self.ec2.describe_instance_types(InstanceTypes=["m1.small"])
        return answer["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"]

    def vmTypes(self, admin):
        _, page, _ = admin.request("/admin/config")
        form = dict(re.findall(r'name="((?:cpu|ram|disk)\.[^"]+)" value="(\d+)"', page))
        status, page, _ = admin.submit("/admin/config", "/admin/config/vmtypes", **dict(
            form, **{"ram.m1.small": "lots", "disk.m1.large": "0"}))
        self.assertEqual(errorText(page).splitlines(), [
            "m1.large disk (GiB) must be a whole number from 1 to 100000.",
            "m1.small memory (MiB) must be a whole number from 32 to 1048576."])
        self.assertNotEqual(self.smallMemory(), 384)
        admin.submit("/admin/config", "/admin/config/vmtypes",
                     **dict(form, **{"ram.m1.small": "384"}))
        self.assertEqual(self.smallMemory(), 384)

    def registerImages(self):
        from eucad.clc import imagestore

        def register(session):
            eki = imagestore.registerImage(session, "admin", "kernel", "/images/vmlinuz",
                                           digest="c" * 64)["id"]
            private = imagestore.registerImage(session, "admin", "kernel", "/images/k2",
                                               isPublic=False, digest="a" * 64)["id"]
            emi = imagestore.registerImage(session, "admin", "machine", "/images/root.img",
                                           digest="e" * 64)["id"]
            return emi, eki, private
        return self.database().transact(register)

    def launchedKernel(self):
        answer = self.ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=1)
        return answer["Instances"][0].get("KernelId")

    def defaultKernel(self, admin):
        self.emi, eki, private = self.registerImages()
        pollUntil("the cluster's capacity at the CLC", lambda: self.zones().get("zone1"),
                  timeout=60, interval=0.2)
        self.assertIsNone(self.launchedKernel())
        status, page, _ = admin.submit("/admin/config", "/admin/config/system",
                                       DEFAULT_KERNEL="eki-nothere1",
                                       DEFAULT_RAMDISK="emi-00000000")
        self.assertEqual(errorText(page).splitlines(), [
            "Default kernel: eki-nothere1 is not a registered kernel.",
            "Default ramdisk must be an image id like eri-1234abcd, or empty."])
        _, page, _ = admin.submit("/admin/config", "/admin/config/system",
                                  DEFAULT_KERNEL=private, DEFAULT_RAMDISK="")
        self.assertIn("is private", errorText(page))
        status, _, _ = admin.submit("/admin/config", "/admin/config/system",
                                    DEFAULT_KERNEL=eki, DEFAULT_RAMDISK="")
        self.assertEqual(status, 303)
        self.assertEqual(self.launchedKernel(), eki)
        return eki

    def zones(self):
        answer = self.ec2.describe_availability_zones()["AvailabilityZones"]
        return {z["ZoneName"]: z["State"] == "available" for z in answer}

    def serveSecondCluster(self):
        port = freePort()
        cluster = FakeCluster(nodes=[BIG_NODE], clock=reactor, bootSeconds=0.1,
                              subnet="10.2.0")

        def serve():
            server = pblink.LinkServer(
                ClusterRoot(cluster), port=port, host="127.0.0.1",
                tlsOptions=trust.Credentials.load(self.cloud.layout, "cluster")
                .serverOptions(acceptRole="cloud"), reactor=reactor)
            server.startService()
            self.addCleanup(server.stopService)
            self.addCleanup(cluster.changes.release)
        threads.blockingCallFromThread(reactor, serve)
        return port

    def registerCluster(self, admin):
        port = self.serveSecondCluster()
        status, page, _ = admin.submit("/admin/config", "/admin/config/clusters/add",
                                       name="", host="bad host!", port="x")
        self.assertEqual(status, 400)
        self.assertEqual(len(errorText(page).splitlines()), 3)
        _, page, _ = admin.submit("/admin/config", "/admin/config/clusters/add",
                                  name="zone1", host="127.0.0.1", port="8774")
        self.assertIn("zone1 is registered already", errorText(page))

        status, _, _ = admin.submit("/admin/config", "/admin/config/clusters/add",
                                    name="zone2", host="127.0.0.1", port=str(port))
        self.assertEqual(status, 303)
        _, page, _ = admin.request("/admin/config")
        self.assertIn("euca_sync_key -c %s --cluster zone2" % (self.cloud.layout.conf,),
                      page)
        self.assertIn("<td>zone2</td><td>127.0.0.1</td><td>%d</td>" % (port,), page)
        self.assertEqual(EucaConf.load(self.cloud.layout.conf).get("CLUSTERS"),
                         "zone1@127.0.0.1:%d zone2@127.0.0.1:%d" % (self.cloud.ccPort, port))
        # Without a restart, the CLC reaches zone2 and launches there.
        pollUntil("zone2 available", lambda: self.zones().get("zone2"), timeout=60,
                  interval=0.2)
        answer = self.ec2.run_instances(ImageId=self.emi, MinCount=1, MaxCount=1,
                                        Placement={"AvailabilityZone": "zone2"})
        self.zone2Instance = answer["Instances"][0]["InstanceId"]

    def deregisterCluster(self, admin):
        pollUntil("zone2 available", lambda: self.zones().get("zone2"), timeout=60,
                  interval=0.2)
        _, page, _ = admin.submit("/admin/config", "/admin/config/clusters/remove",
                                  name="zone2")
        self.assertRegex(errorText(page), r"^Cluster zone2 still runs \d instance\(s\): "
                                          r"terminate them first\.$")
        everyInstance = [i["InstanceId"] for r in self.ec2.describe_instances()["Reservations"]
                         for i in r["Instances"]]
        self.assertIn(self.zone2Instance, everyInstance)
        self.ec2.terminate_instances(InstanceIds=everyInstance)
        pollUntil("every instance terminated", lambda: all(
            i["State"]["Name"] == "terminated"
            for r in self.ec2.describe_instances()["Reservations"] for i in r["Instances"]),
            timeout=60, interval=0.2)
        status, _, _ = admin.submit("/admin/config", "/admin/config/clusters/remove",
                                    name="zone2")
        self.assertEqual(status, 303)
        self.assertNotIn("zone2", self.zones())
        self.assertEqual(EucaConf.load(self.cloud.layout.conf).get("CLUSTERS"),
                         "zone1@127.0.0.1:%d" % (self.cloud.ccPort,))
