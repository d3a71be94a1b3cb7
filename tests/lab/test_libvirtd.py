"""A node's libvirtd: its directory, configuration and command line (nothing runs)."""

import os
import sys

from twisted.trial import unittest

from eucad.lab import libvirtd
from eucad.lab.libvirtd import NodeLibvirtd
from tests.lab.recording import RecordingRunner


class NodeLibvirtdTests(unittest.TestCase):
    """NodeLibvirtd with a recording runner and a made-up /etc/libvirt."""

    def setUp(self):
        self.etc = self.mktemp()
        os.makedirs(os.path.join(self.etc, "qemu", "networks", "autostart"))
        with open(os.path.join(self.etc, "qemu.conf"), "w") as f:
            f.write('#user = "libvirt-qemu"\n')
        with open(os.path.join(self.etc, "qemu", "networks", "default.xml"), "w") as f:
            f.write("<network/>")
        os.symlink("../default.xml", os.path.join(self.etc, "qemu", "networks", "autostart",
                                                  "default.xml"))
        self.dir = os.path.abspath(self.mktemp())
        self.runner = RecordingRunner()
        self.daemon = NodeLibvirtd("lab-n1", self.dir, self.runner, etcSource=self.etc,
                                   python="/usr/bin/python3")

    def test_prepareWritesQemuSettings(self):
        """qemu.conf gets root user/group, file stdio handler and no cgroups, once."""
        self.daemon.prepare()
        self.daemon.prepare()
        with open(os.path.join(self.dir, "etc", "qemu.conf")) as f:
            text = f.read()
        for line in libvirtd.QEMU_CONF_SETTINGS:
            self.assertEqual(text.count(line + "\n"), 1, line)
        self.assertTrue(text.startswith('#user = "libvirt-qemu"\n'))

    def test_prepareDropsNetworkAutostart(self):
        """The copied configuration does not autostart the host's default network."""
        self.daemon.prepare()
        self.assertEqual(os.listdir(os.path.join(self.dir, "etc", "qemu", "networks", "autostart")), [])
        self.assertTrue(os.path.exists(os.path.join(self.etc, "qemu", "networks", "autostart",
                                                    "default.xml")))
        for sub in ("run", "lib", "log", "cache"):
            self.assertTrue(os.path.isdir(os.path.join(self.dir, sub)), sub)

    def test_startArgv(self):
        """libvirtd runs in the node's netns, a private mount ns, under the subreaper."""
        d = self.dir
        self.assertEqual(self.daemon.startArgv(), [
            "ip", "netns", "exec", "lab-n1", "unshare", "-m", "--propagation", "private",
            "/usr/bin/python3", libvirtd.SUBREAPER,
            "--bind", d + "/etc", "/etc/libvirt", "--bind", d + "/run", "/run/libvirt",
            "--bind", d + "/lib", "/var/lib/libvirt", "--bind", d + "/log", "/var/log/libvirt",
            "--bind", d + "/cache", "/var/cache/libvirt",
            "--", "libvirtd", "-p", "/run/libvirt/libvirtd.pid"])
        self.assertTrue(os.path.exists(libvirtd.SUBREAPER))

    def test_startSpawns(self):
        """start() prepares the directory and spawns exactly startArgv()."""
        self.daemon.start()
        self.assertEqual(self.runner.spawned, [self.daemon.startArgv()])
        self.assertTrue(os.path.exists(os.path.join(self.dir, "etc", "qemu.conf")))

    def test_uriAndWarmArgv(self):
        """The URI names D/run/libvirt-sock; warming asks for qemu domcapabilities."""
        uri = "qemu+unix:///system?socket=%s/run/libvirt-sock" % (self.dir,)
        self.assertEqual(self.daemon.uri, uri)
        self.daemon.warmCapabilities()
        self.assertEqual(self.runner.commands,
                         [["virsh", "-c", uri, "domcapabilities", "--virttype", "qemu"]])

    def test_defaultPython(self):
        """Without a python given, the subreaper runs under this interpreter."""
        self.assertEqual(NodeLibvirtd("n", self.dir, self.runner).python, sys.executable)


class RunDirectoryTests(unittest.TestCase):
    """Where a node's socket lives: D/run unless that path is too long for a socket."""

    def test_shortDirectory(self):
        """A shallow node directory keeps its socket in D/run."""
        self.assertEqual(libvirtd.runDirectory("/srv/lab/n1", "/run/eucad-lab/x/n1"),
                         "/srv/lab/n1/run")

    def test_deepDirectory(self):
        """A node directory too deep for sun_path uses the short fallback."""
        deep = "/tmp/" + "d" * 100 + "/n1"
        self.assertEqual(libvirtd.runDirectory(deep, "/run/eucad-lab/x/n1"), "/run/eucad-lab/x/n1")

    def test_runDirIsMountedAsRunLibvirt(self):
        """A separate run directory is what the daemon sees as /run/libvirt, and is in the URI."""
        daemon = NodeLibvirtd("lab-n1", "/srv/lab/n1", RecordingRunner(), runDir="/run/eucad-lab/l/n1")
        self.assertIn(("/run/eucad-lab/l/n1", "/run/libvirt"), daemon.mounts())
        self.assertEqual(daemon.uri, "qemu+unix:///system?socket=/run/eucad-lab/l/n1/libvirt-sock")
