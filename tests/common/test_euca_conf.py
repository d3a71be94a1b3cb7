"""euca_conf and euca_sync_key as an admin runs them."""

import os

from twisted.trial import unittest

from eucad.common import euca_conf, sync_key, trust
from eucad.common.config import EucaConf, Layout
from tests.commandline import run


class EucaConfTests(unittest.TestCase):

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        self.conf = os.path.join(self.prefix, "etc", "eucalyptus", "eucalyptus.conf")

    def test_guideFlagsSetTheirKeys(self):
        """The guide's flags land in the file; the template's comments are kept."""
        code, _, _ = run(euca_conf.main, [
            "-d", self.prefix, "-cloud", "Y", "-cc", "y", "-nc", "N",
            "-nodes", "host1  host2:8785", "-instances", "/usr/local/instances",
            "VNET_MODE=static", self.conf])
        self.assertEqual(code, 0)
        conf = EucaConf.load(self.conf)
        self.assertEqual(conf.get("EUCALYPTUS"), self.prefix)
        self.assertTrue(conf.getBool("ENABLE_CLOUD"))
        self.assertTrue(conf.getBool("ENABLE_CC"))
        self.assertFalse(conf.getBool("ENABLE_NC"))
        self.assertEqual(conf.get("NODES"), "host1 host2:8785")
        self.assertEqual(conf.get("INSTANCE_PATH"), "/usr/local/instances")
        self.assertEqual(conf.get("VNET_MODE"), "STATIC")
        self.assertIn("# Which components run on this host", open(self.conf).read())

    def test_badInputLeavesFileAlone(self):
        """Each bad flag or value prints one line, exits 2 and changes nothing."""
        run(euca_conf.main, ["-d", self.prefix, "-cloud", "Y"])
        before = open(self.conf).read()
        for argv in (["-cloud", "maybe"], ["-nodes", "bad host!"], ["FOO=1"],
                     ["-bogus"], ["CC_PORT=99999"], ["VNET_MODE=FANCY"],
                     ["-instances", ""], ["VNET_SUBNET=10.0.0.300"]):
            code, out, err = run(euca_conf.main, argv + [self.conf])
            self.assertEqual(code, 2, argv)
            self.assertEqual(len(err.strip().splitlines()), 1, argv)
            self.assertTrue(err.startswith("euca_conf: "), err)
            self.assertEqual(open(self.conf).read(), before, argv)

    def test_setupMakesKeysAndCredentials(self):
        """--setup makes the CA and role keys; --get-credentials writes a usable eucarc."""
        creds = os.path.join(self.prefix, "creds")
        code, out, _ = run(euca_conf.main, [
            "-d", self.prefix, "-nodes", "10.1.2.3", "--setup",
            "--get-credentials", creds])
        self.assertEqual(code, 0)
        keys = Layout(self.prefix).keys
        node = trust.loadCert(trust.certPath(keys, "node"))
        self.assertIn("10.1.2.3", str(node.extensions))
        text = open(os.path.join(creds, "eucarc")).read()
        for name in ("EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY",
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            self.assertIn("export %s=" % (name,), text)
        self.assertEqual(os.stat(os.path.join(creds, "eucarc")).st_mode & 0o777, 0o600)
        # A second setup keeps the same admin keys (the certificate is new).
        def keyLines(text):
            return [line for line in text.splitlines()
                    if "ACCESS_KEY" in line or "SECRET_KEY" in line]
        first = text
        run(euca_conf.main, ["-d", self.prefix, "--setup", "--get-credentials", creds])
        self.assertEqual(keyLines(open(os.path.join(creds, "eucarc")).read()),
                         keyLines(first))


class SyncKeyTests(unittest.TestCase):

    def test_copiesOnlyNodeFilesToLocalPrefix(self):
        """--to copies the CA cert and node key pair, never the CA's private key."""
        prefix = os.path.abspath(self.mktemp())
        run(euca_conf.main, ["-d", prefix, "--setup"])
        nodePrefix = os.path.abspath(self.mktemp())
        conf = os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf")
        code, _, _ = run(sync_key.main, ["-c", conf, "--to", nodePrefix])
        self.assertEqual(code, 0)
        self.assertEqual(sorted(os.listdir(Layout(nodePrefix).keys)),
                         sorted(trust.NODE_FILES))
        creds = trust.Credentials.load(Layout(nodePrefix), "node")
        self.assertEqual(trust.roleOf(creds.cert), "node")
        mode = os.stat(os.path.join(Layout(nodePrefix).keys, "node-pk.pem")).st_mode
        self.assertEqual(mode & 0o777, 0o600)

    def test_clusterFilesToLocalPrefix(self):
        """--cluster NAME --to copies the CA cert and the cluster key pair, nothing else."""
        prefix = os.path.abspath(self.mktemp())
        run(euca_conf.main, ["-d", prefix, "CLUSTERS=zone1@127.0.0.1:8774", "--setup"])
        ccPrefix = os.path.abspath(self.mktemp())
        conf = os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf")
        code, _, _ = run(sync_key.main, ["-c", conf, "--cluster", "zone1", "--to", ccPrefix])
        self.assertEqual(code, 0)
        self.assertEqual(sorted(os.listdir(Layout(ccPrefix).keys)),
                         sorted(trust.CLUSTER_FILES))
        creds = trust.Credentials.load(Layout(ccPrefix), "cluster")
        self.assertEqual(trust.roleOf(creds.cert), "cluster")

    def test_unknownClusterFailsClearly(self):
        """--cluster with a name CLUSTERS does not list says so, with exit status 2."""
        prefix = os.path.abspath(self.mktemp())
        run(euca_conf.main, ["-d", prefix, "CLUSTERS=zone1@127.0.0.1:8774", "--setup"])
        conf = os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf")
        code, _, err = run(sync_key.main, ["-c", conf, "--cluster", "zone9"])
        self.assertEqual(code, 2)
        self.assertIn("no cluster zone9 in CLUSTERS", err)

    def test_rsyncArgvPerNode(self):
        """Remote nodes get the three files by rsync into the same keys path."""
        argv = sync_key.rsyncArgv("/opt/e/keys", "host1", "/opt/e/keys")
        self.assertEqual(argv[0], "rsync")
        self.assertEqual(argv[-1], "host1:/opt/e/keys/")
        self.assertEqual([os.path.basename(a) for a in argv[4:-1]], list(trust.NODE_FILES))

    def test_withoutSetupFailsClearly(self):
        """Without keys it says what to run, with exit status 2."""
        prefix = os.path.abspath(self.mktemp())
        run(euca_conf.main, ["-d", prefix, "-nodes", "h1"])
        conf = os.path.join(prefix, "etc", "eucalyptus", "eucalyptus.conf")
        code, _, err = run(sync_key.main, ["-c", conf])
        self.assertEqual(code, 2)
        self.assertIn("euca_conf --setup", err)
