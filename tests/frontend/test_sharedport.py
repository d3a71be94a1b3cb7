"""WALRUS_PORT equal to CLOUD_PORT: the CLC's daemon serves both, Walrus's refuses.

The service trees are checked without a reactor; then real ``twistd -n``
processes: ``eucalyptus-clc`` answering boto3's EC2 and S3 clients on its one
port, and ``eucalyptus-walrus`` refusing with one line instead of a bind error.
"""

import io
import os
import signal
import socket
import subprocess
import time
from contextlib import redirect_stderr, redirect_stdout

import boto3
from botocore.config import Config
from twisted.application import internet
from twisted.internet import defer, reactor, threads
from twisted.trial import unittest
from twisted.web.server import Site

from eucad.clc.imageservices import ImageServices
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.policypush import PolicyPublisher
from eucad.clc.settingspush import SettingsPublisher
from eucad.clc.startup import CloudStartup
from eucad.common import components, control, euca_conf, trust
from eucad.common.config import EucaConf, Layout
from eucad.common.daemon import LoggingService
from eucad.common.db import Database
from eucad.common.httpguard import GuardedChannel
from eucad.common.listening import ListeningService
from eucad.common.pids import pidAlive
from eucad.frontend import frontdoor, tap
from eucad.frontend.images import ImageThreads
from eucad.walrus import tap as walrusTap
from eucad.walrus.app import IoPool, StoreStartup
from eucad.walrus.bucketmove import BucketDirectoryService
from eucad.walrus.lifecycleservice import LifecycleService
from eucad.walrus.service import WalrusResource
from eucad.walrus.wire import WalrusChannel, WalrusRequest

SHARED = {"ENABLE_CLOUD": "Y", "ENABLE_WALRUS": "Y", "CLOUD_PORT": "0",
          "WALRUS_PORT": "0", "CLOUD_LISTEN": "127.0.0.1", "WALRUS_LISTEN": "127.0.0.1",
          "METADATA_PORT": "0", "METADATA_LISTEN": "127.0.0.1", "WEB_PORT": "0",
          "WALRUS_IMAGE_PORT": "0"}


def writeConf(prefix, settings):
    conf = EucaConf.load(Layout(prefix).conf)
    for key, value in settings.items():
        conf.set(key, value)
    conf.save()
    return conf


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files(prefix):
    return sorted(os.path.relpath(os.path.join(d, f), prefix)
                  for d, _, names in os.walk(prefix) for f in names)


class DecisionTests(unittest.TestCase):

    def conf(self, **settings):
        conf = EucaConf(self.mktemp())
        for key, value in dict(SHARED, **settings).items():
            conf.set(key, value)
        return conf

    def test_sharedWhenBothEnabledOnOnePortAndAddress(self):
        """Both enabled, the same port and address: Walrus lives in the CLC."""
        self.assertTrue(components.walrusSharesCloudPort(self.conf()))

    def test_defaultsShare(self):
        """The shipped defaults (8773 and 0.0.0.0 for both) share once both are enabled."""
        conf = EucaConf(self.mktemp())
        conf.set("ENABLE_CLOUD", "Y")
        conf.set("ENABLE_WALRUS", "Y")
        self.assertTrue(components.walrusSharesCloudPort(conf))

    def test_apart(self):
        """Another port, another address, or either component off: two daemons."""
        for settings in ({"WALRUS_PORT": "8779"}, {"WALRUS_LISTEN": "127.0.0.2"},
                         {"ENABLE_WALRUS": "N"}, {"ENABLE_CLOUD": "N"},
                         {"WALRUS_PORT": "not-a-port"}):
            self.assertFalse(components.walrusSharesCloudPort(self.conf(**settings)), settings)


class ClcTapTests(unittest.TestCase):

    def options(self, **settings):
        prefix = os.path.abspath(self.mktemp())
        writeConf(prefix, dict(SHARED, **settings))
        options = tap.Options()
        options.parseOptions(["--prefix", prefix])
        return options

    def test_sharedTree(self):
        """With a shared port the CLC also builds Walrus's I/O pool, sweep and lifecycle timer, and one Site for both."""
        options = self.options()
        before = files(options["prefix"])
        root = tap.makeService(options)
        self.assertEqual(files(options["prefix"]), before)
        children = list(root)
        self.assertEqual([type(c) for c in children],
                         [LoggingService, Database, ImageThreads, ImageServices,
                          CloudStartup, ClusterPoller, ClusterWatcher, PolicyPublisher,
                          internet.TCPServer, SettingsPublisher, IoPool,
                          BucketDirectoryService, StoreStartup, LifecycleService,
                          ListeningService])
        self.assertIs(root.walrus.store.database.database, children[1])
        self.assertEqual(children[8].name, "metadata")
        web = children[-1]
        self.assertEqual(web.description, "tcp:0:interface=127.0.0.1")
        site = web.factory
        self.assertIsInstance(site.resource, frontdoor.SharedRoot)
        self.assertIsInstance(site.resource.s3, WalrusResource)
        self.assertIs(site.resource.s3.walrus, root.walrus)
        self.assertIs(site.requestFactory, WalrusRequest)
        self.assertTrue(issubclass(site.protocol, WalrusChannel))
        self.assertTrue(issubclass(site.protocol, GuardedChannel))
        self.assertEqual(root.walrus.blobs.root, Layout(options["prefix"]).bukkits)
        self.assertIs(site.resource.ec2.readBody, frontdoor.readBody)
        self.assertFalse(site.resource.ec2.isReady())
        children[4].recovered = True
        self.assertTrue(site.resource.ec2.isReady())

    def test_separatePortKeepsTheClcAlone(self):
        """With WALRUS_PORT apart the CLC serves EC2 alone, as before."""
        root = tap.makeService(self.options(WALRUS_PORT="8779"))
        self.assertFalse(any(type(c) in (IoPool, StoreStartup, LifecycleService) for c in root))
        # RegisterImage's services are there all the same.
        self.assertTrue(any(isinstance(c, ImageServices) for c in root))
        site = list(root)[-1].factory
        self.assertNotIsInstance(site.resource, frontdoor.SharedRoot)
        self.assertIs(site.requestFactory, Site.requestFactory)

    @defer.inlineCallbacks
    def test_startAndStop(self):
        """Started, the shared CLC creates Walrus's bukkits and tables in its database, and stops cleanly."""
        options = self.options()
        trust.setup(Layout(options["prefix"]).keys, ["127.0.0.1"])
        root = tap.makeService(options, reactor=reactor)
        root.startService()
        try:
            startup = [c for c in root if isinstance(c, CloudStartup)][0]
            yield startup.ready
            sweep = [c for c in root if isinstance(c, StoreStartup)][0]
            yield sweep.swept
            buckets = yield root.walrus.store.listBuckets(None)
            self.assertEqual(list(buckets), [])
        finally:
            yield root.stopService()
        self.assertTrue(os.path.isdir(Layout(options["prefix"]).bukkits))


class WalrusTapTests(unittest.TestCase):

    def options(self, argv=(), **settings):
        prefix = os.path.abspath(self.mktemp())
        conf = dict(SHARED, CLOUD_PORT="8773", WALRUS_PORT="8773")
        conf.update(settings)
        writeConf(prefix, conf)
        options = walrusTap.Options()
        options.parseOptions(["--prefix", prefix] + list(argv))
        return options

    def test_refusesWhenTheClcServesIt(self):
        """eucalyptus-walrus with WALRUS_PORT equal to CLOUD_PORT stops at once with one clear line."""
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            with self.assertRaises(SystemExit) as raised:
                walrusTap.makeService(self.options())
        self.assertNotEqual(raised.exception.code, 0)
        self.assertEqual(err.getvalue(), "Walrus is served by the cloud controller on port "
                                         "8773: WALRUS_PORT equals CLOUD_PORT\n")

    def test_startsWhenApart(self):
        """With its own port, or the CLC not enabled here, Walrus builds its daemon as before."""
        for settings in ({"WALRUS_PORT": "8779"}, {"ENABLE_CLOUD": "N"}):
            root = walrusTap.makeService(self.options(**settings))
            self.assertIsInstance(list(root)[-1], ListeningService)

    def test_explicitPortOverrides(self):
        """--port names another listener, so there is nothing to refuse."""
        root = walrusTap.makeService(self.options(["--port", "tcp:0:interface=127.0.0.1"]))
        self.assertIsInstance(root.walrus.store.database.database, Database)


def twistd():
    return control.twistdPath()


class RealDaemonTests(unittest.TestCase):
    """``twistd -n eucalyptus-clc`` with the shared port, as an admin would run it."""

    timeout = 180

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.port = freePort()
        self.credentials = os.path.join(self.prefix, "creds")
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = euca_conf.main([
                "-d", self.prefix, "-cloud", "Y", "-walrus", "Y",
                "CLOUD_PORT=%d" % self.port, "WALRUS_PORT=%d" % self.port, "WEB_PORT=0", "WALRUS_IMAGE_PORT=0",
                "CLOUD_LISTEN=127.0.0.1", "WALRUS_LISTEN=127.0.0.1", "CLOUD_HOST=127.0.0.1",
                "METADATA_PORT=0", "METADATA_LISTEN=127.0.0.1",
                "--setup", "--get-credentials", self.credentials])
        self.assertEqual(code, 0, err.getvalue())
        self.keys = self.readKeys()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({"HOME": self.prefix, "AWS_CONFIG_FILE": os.devnull,
                         "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                         "AWS_EC2_METADATA_DISABLED": "true"})

    def readKeys(self):
        found = {}
        with open(os.path.join(self.credentials, "eucarc")) as f:
            for line in f:
                if line.startswith("export "):
                    name, _, value = line[len("export "):].strip().partition("=")
                    found[name] = value.strip("'\"")
        return found["AWS_ACCESS_KEY_ID"], found["AWS_SECRET_ACCESS_KEY"]

    def spawn(self, plugin):
        log = os.path.join(self.prefix, plugin + "-twistd.log")
        return subprocess.Popen(
            [twistd(), "-n", "--pidfile", "", "--logfile", log, plugin, "--prefix", self.prefix],
            cwd=self.prefix, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)

    def stop(self, process):
        if process.poll() is None and pidAlive(process.pid):
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
        process.stdout.close()
        process.stderr.close()

    def waitForPort(self, process):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.fail("the daemon exited %s: %s" % (process.returncode,
                                                          process.stderr.read()[-2000:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("nothing listened on %d" % (self.port,))

    def clients(self, ec2Endpoint, s3Endpoint):
        session = boto3.session.Session(aws_access_key_id=self.keys[0],
                                        aws_secret_access_key=self.keys[1],
                                        region_name="eucalyptus")
        config = Config(retries={"total_max_attempts": 6, "mode": "standard"},
                        s3={"addressing_style": "path"})
        return (session.client("ec2", endpoint_url=ec2Endpoint, config=config),
                session.client("s3", endpoint_url=s3Endpoint, config=config))

    def test_clcServesBothAndWalrusRefuses(self):
        """The real eucalyptus-clc answers EC2 and S3 on its one port; eucalyptus-walrus refuses to start."""
        def scenario():
            clc = self.spawn("eucalyptus-clc")
            try:
                self.waitForPort(clc)
                root = "http://127.0.0.1:%d" % (self.port,)
                ec2, s3 = self.clients(root, root)
                waitUntilReady(ec2)
                regions = ec2.describe_regions()["Regions"]
                s3.create_bucket(Bucket="daemon")
                s3.put_object(Bucket="daemon", Key="k", Body=b"from the real daemon")
                ec2Prefixed, s3Prefixed = self.clients(root + "/services/Eucalyptus",
                                                       root + "/services/Walrus")
                zones = ec2Prefixed.describe_availability_zones()["AvailabilityZones"]
                body = s3Prefixed.get_object(Bucket="daemon", Key="k")["Body"].read()
                walrus = self.spawn("eucalyptus-walrus")
                try:
                    _, walrusErr = walrus.communicate(timeout=60)
                finally:
                    self.stop(walrus)
                stillServing = s3.list_objects_v2(Bucket="daemon")["KeyCount"]
                signedGets = self.signedGets(root, s3)
            finally:
                self.stop(clc)
            return regions, zones, body, walrus.returncode, walrusErr, stillServing, signedGets

        def check(result):
            regions, zones, body, walrusCode, walrusErr, stillServing, signedGets = result
            self.assertEqual([r["RegionName"] for r in regions], ["eucalyptus"])
            self.assertEqual(regions[0]["Endpoint"],
                             "http://127.0.0.1:%d/services/Eucalyptus" % (self.port,))
            self.assertEqual(zones, [])
            self.assertEqual(body, b"from the real daemon")
            self.assertNotEqual(walrusCode, 0)
            self.assertEqual(walrusErr.strip().splitlines(), [
                "Walrus is served by the cloud controller on port %d: "
                "WALRUS_PORT equals CLOUD_PORT" % (self.port,)])
            self.assertEqual(stillServing, 1)
            self.assertEqual(signedGets, (200, b"from the real daemon"))
            self.assertLogsPrivateAndUnsigned()
        return threads.deferToThread(scenario).addCallback(check)

    def signedGets(self, root, s3):
        """A SigV2 EC2 GET and a presigned S3 GET: signatures in their query strings."""
        import urllib.request

        from tests.clc.helpers import signV2
        url, _ = signV2(self.keys, {"Action": "DescribeRegions", "Version": "2016-11-15"},
                        url=root + "/services/Eucalyptus", method="GET")
        with urllib.request.urlopen(url, timeout=30) as answer:
            ec2Status = answer.status
        presigned = s3.generate_presigned_url(
            "get_object", Params={"Bucket": "daemon", "Key": "k"}, ExpiresIn=600)
        with urllib.request.urlopen(presigned, timeout=30) as answer:
            data = answer.read()
        return ec2Status, data

    def assertLogsPrivateAndUnsigned(self):
        """The daemon's logs are 0600 and hold no signature from a request's query."""
        logs = Layout(self.prefix).logs
        names = sorted(os.listdir(logs))
        self.assertIn("cloud-output.log", names)
        for name in names:
            path = os.path.join(logs, name)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, name)
        texts = []
        for path in [os.path.join(logs, n) for n in names] + [
                os.path.join(self.prefix, "eucalyptus-clc-twistd.log")]:
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
        everything = "\n".join(texts)
        self.assertIn('"GET /services/Eucalyptus HTTP/1.1" 200', everything)
        self.assertIn('"GET /daemon/k HTTP/1.1" 200', everything)
        for secret in ("Signature=", "X-Amz-Signature", "X-Amz-Credential", "AWSAccessKeyId"):
            self.assertNotIn(secret, everything)


def waitUntilReady(ec2, seconds=30):
    """Retry while the CLC answers 503 ServiceUnavailable (start-up recovery)."""
    from botocore.exceptions import ClientError
    deadline = time.monotonic() + seconds
    while True:
        try:
            return ec2.describe_regions()
        except ClientError as e:
            if e.response["Error"]["Code"] != "ServiceUnavailable" or \
                    time.monotonic() > deadline:
                raise
            time.sleep(0.2)

