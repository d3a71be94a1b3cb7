"""The eucalyptus-nc daemon's service tree, and one instance across the real link."""

import os
import shutil

import libvirt
from twisted.internet import defer
from twisted.trial import unittest

from eucad.common import trust
from eucad.common.config import EucaConf
from eucad.common.errors import CloudError
from eucad.common.links import NodeLink
from eucad.common.pblink import LinkServer
from eucad.nc import tap
from eucad.nc.hypervisor import Hypervisor
from eucad.nc.node import NodeController
from tests.nc.specs import runSpec, runSpecData


class TapTests(unittest.TestCase):
    """makeService builds the tree from the conf without touching anything."""

    def setUp(self):
        self.prefix = os.path.abspath(self.mktemp())
        conf = EucaConf(os.path.join(self.prefix, "etc", "eucalyptus", "eucalyptus.conf"))
        conf.set("LIBVIRT_URI", "test:///default")
        conf.set("INSTANCE_PATH", os.path.join(self.prefix, "instances"))
        conf.set("NC_PORT", "0")
        conf.set("NC_LISTEN", "127.0.0.1")
        conf.set("MAX_CORES", "2")
        conf.set("MAX_MEM", "1024")
        conf.set("MAX_DISK", "20")
        conf.save()
        self.options = tap.Options()
        self.options.parseOptions(["--prefix", self.prefix])

    def test_treeWithoutIO(self):
        """The tree holds logging, libvirt, the node and the listener; nothing is opened yet."""
        root = tap.makeService(self.options)
        services = list(root)
        self.assertIsInstance(services[1], Hypervisor)
        self.assertIsInstance(services[2], NodeController)
        self.assertIsInstance(services[3], LinkServer)
        self.assertEqual(services[1].uri, "test:///default")
        self.assertEqual(services[2].limits, (2, 1024, 20))
        # No keys exist, yet building succeeded: they are read at start.
        self.assertEqual(os.listdir(self.prefix), ["etc"])

    @defer.inlineCallbacks
    def test_instanceOverTheLink(self):
        """A cluster-role client runs, sees, long-polls and terminates an instance through PB over TLS."""
        for tool in ("qemu-img", "mkfs.ext4", "mkswap"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("missing " + tool)
        trust.setup(self.options.layout.keys)
        machine = os.path.join(self.prefix, "machine.img")
        with open(machine, "wb") as f:
            f.truncate(4 * 1024 * 1024)
        root = tap.makeService(self.options)
        root.startService()
        self.addCleanup(root.stopService)
        port = list(root)[3].listeningPort.getHost().port

        credentials = trust.Credentials.load(self.options.layout, "cluster")
        client = NodeLink("127.0.0.1", port,
                          credentials.clientOptions("127.0.0.1", expectRole="node"))
        client.startService()
        self.addCleanup(client.stopService)
        yield client.whenConnected()

        resources = yield client.describeResource()
        self.assertEqual((resources["cpu"], resources["freeCpu"], resources["hypervisor"]),
                         (2, 2, "qemu"))
        spec = runSpec("i-7a900001", machine)
        self.addCleanup(self.destroyDirectly, spec["instanceId"])
        report = yield client.runInstance(spec)
        self.assertEqual(report["state"], "pending")
        node = list(root)[2]
        yield node.lifecycle.launched(spec["instanceId"])
        instances = yield client.describeInstances()
        self.assertEqual([(i["instanceId"], i["state"]) for i in instances],
                         [("i-7a900001", "running")])
        error = yield self.assertFailure(client.runInstance(
            runSpecData("i-7a900001", machine, macAddress="x")),
                                         CloudError)
        self.assertEqual(error.code, "InvalidParameterValue")
        # The long poll crosses the link: an answer at once, then a wait that
        # the terminate below ends.
        first = yield client.waitForChange(None, 5)
        self.assertEqual([i["state"] for i in first["instances"]], ["running"])
        waiting = client.waitForChange(first["generation"], 30)
        result = yield client.terminateInstance("i-7a900001")
        self.assertEqual(result["state"], "terminated")
        answer = yield waiting
        self.assertNotEqual(answer["generation"], first["generation"])
        # Woken by shutting-down; the destroy may or may not be over by then.
        self.assertIn([i["state"] for i in answer["instances"]],
                      [["shutting-down"], ["terminated"]])
        error = yield self.assertFailure(client.waitForChange(None, -1), CloudError)
        self.assertEqual(error.code, "InvalidParameterValue")
        self.assertTrue(os.path.isfile(self.options.layout.log("nc.log")))

    def destroyDirectly(self, name):
        connection = libvirt.open("test:///default")
        try:
            connection.lookupByName(name).destroy()
        except libvirt.libvirtError:
            pass
        connection.close()
