"""The lab's plan, checked as the exact commands it would run (nothing runs)."""

import json
import os

from twisted.trial import unittest

from eucad.lab import netns
from eucad.lab.commands import CommandFailed
from eucad.lab.topology import AddressPlan, Lab, LabError
from tests.lab.recording import RecordingRunner


class NetnsArgvTests(unittest.TestCase):
    """The argv builders of eucad.lab.netns."""

    def test_vethIsCreatedInsideNamespaces(self):
        """A veth pair is made in one namespace with its peer sent straight to the other."""
        self.assertEqual(
            netns.addVethPair("a-fe", "priv0", "a-sw", "p-fe"),
            ["ip", "-n", "a-fe", "link", "add", "priv0", "type", "veth",
             "peer", "name", "p-fe", "netns", "a-sw"])

    def test_interfaceNamesAreLimited(self):
        """Names longer than 15 characters are refused before anything runs."""
        self.assertRaises(ValueError, netns.addBridge, "ns", "a-very-long-bridge")
        self.assertRaises(ValueError, netns.addVethPair, "ns", "ok", "other", "x" * 16)

    def test_sysctlRunsInsideTheNamespace(self):
        """A sysctl is set through ip netns exec, never in the root namespace."""
        self.assertEqual(netns.setSysctl("a-fe", "net.ipv4.ip_forward", 1),
                         ["ip", "netns", "exec", "a-fe", "sysctl", "-q", "-w",
                          "net.ipv4.ip_forward=1"])


class AddressPlanTests(unittest.TestCase):
    """Who gets which address."""

    def test_defaultPlan(self):
        """fe is .1, nodes .2 and .3; pub is .254 and fe's public side .1."""
        plan = AddressPlan("10.77.0.0/24", "192.0.2.0/24", 2)
        self.assertEqual((plan.router, plan.nodes, plan.frontEndPublic, plan.pub),
                         ("10.77.0.1", ["10.77.0.2", "10.77.0.3"], "192.0.2.1", "192.0.2.254"))

    def test_otherSubnet(self):
        """A lab can use another private subnet, addresses follow it."""
        plan = AddressPlan("10.88.4.0/22", "198.51.100.0/24", 1)
        self.assertEqual((plan.router, plan.nodes, plan.privateCidr(plan.router)),
                         ("10.88.4.1", ["10.88.4.2"], "10.88.4.1/22"))

    def test_tooSmall(self):
        """A subnet without room for fe and every node is refused."""
        self.assertRaises(ValueError, AddressPlan, "10.0.0.0/30", "192.0.2.0/24", 2)


class LabPlanTests(unittest.TestCase):
    """Lab.up/down with a recording runner and no libvirtd."""

    def setUp(self):
        self.runner = RecordingRunner()
        self.dir = os.path.abspath(self.mktemp())
        self.lab = Lab("t1", self.dir, nodes=2, withLibvirt=False, runner=self.runner)

    def test_upCommands(self):
        """up() adds the five namespaces, then wires them in this exact order."""
        self.lab.up()
        adds = [c[3] for c in self.runner.commands if c[:3] == ["ip", "netns", "add"]]
        self.assertEqual(adds, ["t1-pub", "t1-fe", "t1-sw", "t1-n1", "t1-n2"])
        wiring = [c for c in self.runner.commands if c[:3] != ["ip", "netns", "add"]]
        self.assertEqual(wiring[5:19], [
            ["ip", "-n", "t1-sw", "link", "add", "sw0", "type", "bridge"],
            ["ip", "-n", "t1-sw", "link", "set", "dev", "sw0", "up"],
            ["ip", "-n", "t1-fe", "link", "add", "priv0", "type", "veth",
             "peer", "name", "p-fe", "netns", "t1-sw"],
            ["ip", "-n", "t1-sw", "link", "set", "dev", "p-fe", "master", "sw0"],
            ["ip", "-n", "t1-sw", "link", "set", "dev", "p-fe", "up"],
            ["ip", "-n", "t1-fe", "addr", "add", "10.77.0.1/24", "broadcast", "+", "dev", "priv0"],
            ["ip", "-n", "t1-fe", "link", "set", "dev", "priv0", "up"],
            ["ip", "-n", "t1-pub", "link", "add", "eth0", "type", "veth",
             "peer", "name", "pub0", "netns", "t1-fe"],
            ["ip", "-n", "t1-pub", "addr", "add", "192.0.2.254/24", "broadcast", "+", "dev", "eth0"],
            ["ip", "-n", "t1-pub", "link", "set", "dev", "eth0", "up"],
            ["ip", "-n", "t1-fe", "addr", "add", "192.0.2.1/24", "broadcast", "+", "dev", "pub0"],
            ["ip", "-n", "t1-fe", "link", "set", "dev", "pub0", "up"],
            ["ip", "-n", "t1-fe", "route", "add", "default", "via", "192.0.2.254"],
            ["ip", "netns", "exec", "t1-fe", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
        ])
        self.assertIn(["ip", "-n", "t1-n2", "addr", "add", "10.77.0.3/24", "broadcast", "+",
                       "dev", "br0"], wiring)
        self.assertIn(["ip", "-n", "t1-n1", "route", "add", "default", "via", "10.77.0.1"], wiring)
        self.assertEqual(wiring[19], ["ip", "-n", "t1-fe", "addr", "add", "169.254.169.254/32",
                                      "broadcast", "+", "dev", "lo"])

    def test_noCommandTouchesTheRootNamespace(self):
        """Every ip command names a namespace (-n or netns exec/add/delete)."""
        self.lab.up()
        self.lab.down()
        for argv in self.runner.commands:
            self.assertEqual(argv[0], "ip")
            self.assertTrue(argv[1] == "-n" or argv[1] == "netns", argv)

    def test_upIsIdempotent(self):
        """A second up() of a healthy lab runs no command."""
        self.lab.up()
        count = len(self.runner.commands)
        self.lab.up()
        self.assertEqual(len(self.runner.commands), count)

    def test_stateFileDescribes(self):
        """up() saves lab.json with its parameters and what describe() says."""
        self.lab.up()
        with open(os.path.join(self.dir, "lab.json")) as f:
            state = json.load(f)
        self.assertTrue(state["complete"])
        self.assertEqual(state["describe"]["nodes"][1]["address"], "10.77.0.3")
        self.assertEqual(state["parameters"]["nodes"], 2)

    def test_downFromAnotherProcess(self):
        """A Lab loaded from the state file deletes every namespace and the directory."""
        self.lab.up()
        other = Lab.load(self.dir, runner=self.runner)
        other.down()
        self.assertEqual(self.runner.namespaces(), set())
        self.assertFalse(os.path.exists(self.dir))

    def test_downAfterPartialUp(self):
        """When a command fails half-way, up() raises and leaves no namespace."""
        self.runner.failOn = lambda argv: argv[:4] == ["ip", "-n", "t1-n2", "link"]
        self.assertRaises(CommandFailed, self.lab.up)
        self.assertEqual(self.runner.namespaces(), set())
        deletes = sorted(c[3] for c in self.runner.commands if c[:3] == ["ip", "netns", "delete"])
        self.assertEqual(deletes, ["t1-fe", "t1-n1", "t1-n2", "t1-pub", "t1-sw"])

    def test_staleNamespacesAreCleared(self):
        """Namespaces with this lab's names left by a crashed run are removed before up()."""
        self.runner.existing.update({"t1-fe", "t1-n1", "other-fe"})
        self.lab.up()
        deletes = [c[3] for c in self.runner.commands if c[:3] == ["ip", "netns", "delete"]]
        self.assertEqual(sorted(deletes), ["t1-fe", "t1-n1"])
        self.assertIn("other-fe", self.runner.namespaces())

    def test_downReportsNamespacesThatStay(self):
        """down() raises LabError when a namespace cannot be deleted."""
        self.lab.up()
        self.runner.failOn = lambda argv: argv[:3] == ["ip", "netns", "delete"]
        self.assertRaises(LabError, self.lab.down)

    def test_describe(self):
        """describe() names the namespaces, fe's interfaces and each node's URI and bridge."""
        lab = Lab("t2", "/srv/lab", nodes=1, subnet="10.78.0.0/24")
        description = lab.describe()
        self.assertEqual(description["fe"]["netns"], "t2-fe")
        self.assertEqual((description["fe"]["privateInterface"], description["fe"]["address"],
                          description["fe"]["netmask"], description["fe"]["broadcast"]),
                         ("priv0", "10.78.0.1", "255.255.255.0", "10.78.0.255"))
        self.assertEqual((description["fe"]["publicInterface"], description["fe"]["publicAddress"]),
                         ("pub0", "192.0.2.1"))
        self.assertEqual(description["nodes"], [{
            "name": "n1", "netns": "t2-n1", "address": "10.78.0.2", "bridge": "br0",
            "interface": "eth0", "dir": "/srv/lab/n1",
            "libvirtUri": "qemu+unix:///system?socket=/srv/lab/n1/run/libvirt-sock"}])

    def test_deepDirectoryGetsShortSocket(self):
        """Under a deep directory a node's libvirt URI names a socket under /run/eucad-lab."""
        lab = Lab("t4", "/tmp/" + "d" * 100, nodes=1)
        self.assertEqual(lab.describe()["nodes"][0]["libvirtUri"],
                         "qemu+unix:///system?socket=/run/eucad-lab/t4/n1/libvirt-sock")

    def test_threeOctetSubnet(self):
        """A subnet given as "10.78.0" means 10.78.0.0/24, and "frontend" is "fe"."""
        description = Lab("t5", "/srv/lab", nodes=1, subnet="10.78.0").describe()
        self.assertEqual((description["frontend"]["address"], description["frontend"]["interface"],
                          description["nodes"][0]["address"]), ("10.78.0.1", "priv0", "10.78.0.2"))
        self.assertEqual(description["frontend"], description["fe"])

    def test_badNames(self):
        """Lab names that would make odd namespace names are refused."""
        self.assertRaises(ValueError, Lab, "Bad Name", "/tmp/x")
        self.assertRaises(ValueError, Lab, "x" * 30, "/tmp/x")
        self.assertRaises(ValueError, Lab, "ok", "/tmp/x", nodes=0)


class RecordingLibvirtd:
    """Stands in for NodeLibvirtd: records calls, starts nothing."""

    calls = []

    def __init__(self, netns, directory, runner, runDir):
        self.netns = netns
        self.runDir = runDir
        self.directory = directory
        self.process = None

    def start(self):
        from eucad.lab.ownedprocess import OwnedProcess
        self.calls.append(("start", self.netns, self.directory, self.runDir))
        self.process = OwnedProcess(999999999, None)
        return self.process

    def waitReady(self):
        self.calls.append(("ready", self.netns))

    def warmCapabilities(self):
        self.calls.append(("warm", self.netns))


class LabLibvirtdPlanTests(unittest.TestCase):
    """Lab with libvirt: one daemon per node, in the node's namespace and directory."""

    def test_oneDaemonPerNode(self):
        """up() starts, waits for and warms one libvirtd per node, with the node's dir."""
        RecordingLibvirtd.calls = []
        base = os.path.abspath(self.mktemp())
        lab = Lab("t3", base, nodes=2, runner=RecordingRunner(), libvirtdFactory=RecordingLibvirtd)
        lab.up()
        self.assertEqual(sorted(RecordingLibvirtd.calls), sorted([
            ("start", "t3-n1", os.path.join(base, "n1"), lab.nodeRunDir("n1")),
            ("start", "t3-n2", os.path.join(base, "n2"), lab.nodeRunDir("n2")),
            ("ready", "t3-n1"), ("ready", "t3-n2"), ("warm", "t3-n1"), ("warm", "t3-n2")]))
        with open(os.path.join(base, "lab.json")) as f:
            self.assertEqual(json.load(f)["libvirtd"]["n1"], {"pid": 999999999, "started": None})
        lab.down()
        self.assertFalse(os.path.exists(base))
