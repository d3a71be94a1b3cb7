"""The all-in-one acts on the cloud of its run directory, and only on it.

These tests need no namespaces or daemons: they check what a command reads
from a run directory, what it refuses, and whose ~/.euca/eucarc it leaves
alone.  tests/e2e/test_sidebyside.py runs two real clouds side by side.
"""

import json
import os
import socket

from twisted.trial import unittest

from eucad.common.config import EucaConf, Layout
from eucad.lab import allinone
from eucad.lab.allinone import CloudMismatch, openCloud, otherRunningCloud, readRecord
from tests.commandline import run


def quiet(message):
    pass


class RecordTests(unittest.TestCase):

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())

    def test_newCloudFromDefaultsAndOptions(self):
        """A directory holding no cloud gets the options given, the defaults for the rest."""
        cloud = openCloud(self.dir, port=9873, subnet="10.79.0", log=quiet)
        self.assertEqual(cloud.record(), {"name": "eucad", "basePort": 9873,
                                          "subnet": "10.79.0", "nodes": 2})
        chosen = openCloud(self.dir, choosePort=lambda: 20000, log=quiet)
        self.assertEqual(chosen.clcPort, 20000)

    def test_recordedCloudWins(self):
        """Once recorded, a command without options acts on the recorded lab, ports and subnet."""
        openCloud(self.dir, name="second", port=9873, subnet="10.79.0.0/24", nodes=1,
                  log=quiet).saveRecord()
        cloud = openCloud(self.dir, log=quiet)
        self.assertEqual((cloud.labName, cloud.clcPort, cloud.ccPort, cloud.walrusPort,
                          cloud.nodeCount), ("second", 9873, 9874, 9879, 1))
        self.assertEqual(cloud.lab.namespace("fe"), "second-fe")
        same = openCloud(self.dir, name="second", port=9873, subnet="10.79.0", log=quiet)
        self.assertEqual(same.record(), cloud.record())

    def test_mismatchRefusedInOneLine(self):
        """Another --name, --port or --subnet than the directory's is refused with one line saying so."""
        openCloud(self.dir, name="second", port=9873, log=quiet).saveRecord()
        for option, given in (("name", {"name": "eucad"}), ("port", {"port": 8773}),
                              ("subnet", {"subnet": "10.78.0.0/24"})):
            with self.assertRaises(CloudMismatch) as raised:
                openCloud(self.dir, log=quiet, **given)
            message = str(raised.exception)
            self.assertEqual(len(message.splitlines()), 1)
            self.assertIn("--%s" % (option,), message)
            self.assertIn("'second'", message)

    def test_installWithoutRecord(self):
        """A run directory from before cloud.json is read from its front end's eucalyptus.conf."""
        conf = EucaConf.load(Layout(os.path.join(self.dir, "frontend")).conf)
        for key, value in (("CLOUD_PORT", "9000"), ("VNET_NETNS", "old-fe"),
                           ("VNET_SUBNET", "10.5.0.0"), ("VNET_NETMASK", "255.255.255.0")):
            conf.set(key, value)
        conf.save()
        os.makedirs(os.path.join(self.dir, "nodes", "n1"))
        self.assertEqual(readRecord(self.dir), {"name": "old", "basePort": 9000,
                                                "subnet": "10.5.0.0/24", "nodes": 1})
        self.assertRaises(CloudMismatch, openCloud, self.dir, name="eucad", log=quiet)

    def test_portInUseRefused(self):
        """up refuses ports another process listens on (while this cloud's daemons are down)."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            cloud = openCloud(self.dir, name="pt%d" % (os.getpid() % 1000), port=port - 6,
                              log=quiet)
            with self.assertRaises(CloudMismatch) as raised:
                cloud.checkRoomBeside()
        self.assertIn("port %d is in use" % (port,), str(raised.exception))


class CommandTests(unittest.TestCase):

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())

    def test_downOfAnEmptyDirectory(self):
        """down where no cloud was ever made says so and touches nothing."""
        code, out, err = run(allinone.main, ["down", "--dir", self.dir])
        self.assertEqual((code, err), (0, ""))
        self.assertIn("holds no cloud", out)
        self.assertFalse(os.path.exists(self.dir))

    def test_downWithAnotherName(self):
        """down --name X for a directory of lab Y exits 2 with one line, before touching anything."""
        openCloud(self.dir, name="second", port=9873, log=quiet).saveRecord()
        code, out, err = run(allinone.main, ["down", "--dir", self.dir, "--name", "eucad"])
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("lab 'second'", err)


class EucarcTests(unittest.TestCase):

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        self.cloud = openCloud(os.path.abspath(self.mktemp()), port=9873, log=quiet)
        self.creds = {"EC2_URL": "http://127.0.0.1:9873/services/Eucalyptus",
                      "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}

    def test_writtenPrivateAndMarked(self):
        """The eucarc is 0600 in a 0700 directory and names the run directory it is for."""
        path = allinone.writeUserEucarc(self.creds, home=self.home, runDir=self.cloud.runDir)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
        with open(path) as f:
            self.assertIn("# eucad cloud: %s\n" % (self.cloud.runDir,), f.read())
        self.assertIsNone(otherRunningCloud(path, self.cloud))

    def test_stoppedCloudsFileMayBeReplaced(self):
        """An eucarc of another cloud that is not running is not in the way."""
        path = allinone.writeUserEucarc(self.creds, home=self.home,
                                        runDir=os.path.abspath(self.mktemp()))
        self.assertIsNone(otherRunningCloud(path, self.cloud))

    def test_foreignFileOfARunningEndpoint(self):
        """An eucarc not written here whose EC2_URL answers (not at our port) is another cloud's."""
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen(1)
            url = "http://127.0.0.1:%d/services/Eucalyptus" % (other.getsockname()[1],)
            path = os.path.join(self.home, "eucarc")
            os.makedirs(self.home)
            with open(path, "w") as f:
                f.write("export EC2_URL=%s\n" % (url,))
            self.assertEqual(otherRunningCloud(path, self.cloud), "the cloud at %s" % (url,))
        self.assertIsNone(otherRunningCloud(path, self.cloud))

    def test_missingFile(self):
        """No eucarc at all is nobody's."""
        self.assertIsNone(otherRunningCloud(os.path.join(self.home, "none"), self.cloud))
