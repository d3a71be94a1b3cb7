"""The node controller's reboot and console tail, against libvirt's test:///default driver."""

import base64
import os

from twisted.internet import defer

from eucad.common.errors import CloudError
from tests.nc.test_node import NodeTestCase, eventually


class RebootTests(NodeTestCase):

    @defer.inlineCallbacks
    def test_rebootKeepsDomainAndDisks(self):
        """A reboot resets the same domain (same libvirt id) and leaves every disk file in place."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        domainId = self.direct.lookupByName(spec.instanceId).ID()
        files = node.lifecycle.instances[spec.instanceId].files
        before = sorted(os.listdir(files.directory))
        report = yield node.rebootInstance(spec.instanceId)
        self.assertEqual((report.instanceId, report.state), (spec.instanceId, "running"))
        self.assertEqual(self.direct.lookupByName(spec.instanceId).ID(), domainId)
        self.assertEqual(sorted(os.listdir(files.directory)), before)
        self.assertIn("root.qcow2", before)
        described = yield self.described(node, spec.instanceId)
        self.assertEqual(described.state, "running")

    @defer.inlineCallbacks
    def test_rebootUnknownOrTerminated(self):
        """An id the node does not hold, or holds terminated, is InvalidInstanceID.NotFound."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        yield node.terminateInstance(spec.instanceId)
        for instanceId in (spec.instanceId, "i-0000dead"):
            error = yield self.assertFailure(node.rebootInstance(instanceId), CloudError)
            self.assertEqual(error.code, "InvalidInstanceID.NotFound")
        error = yield self.assertFailure(node.rebootInstance("bad"), CloudError)
        self.assertEqual(error.code, "InvalidInstanceID.Malformed")

    @defer.inlineCallbacks
    def test_rebootVanishedDomain(self):
        """Rebooting an instance whose domain is gone reports it terminated, its files removed."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        files = node.lifecycle.instances[spec.instanceId].files
        self.destroyDirectly(spec.instanceId)
        error = yield self.assertFailure(node.rebootInstance(spec.instanceId), CloudError)
        self.assertEqual(error.code, "InvalidInstanceID.NotFound")
        described = yield self.described(node, spec.instanceId)
        self.assertEqual(described.state, "terminated")
        yield eventually(lambda: not os.path.exists(files.directory))


class ConsoleTests(NodeTestCase):

    @defer.inlineCallbacks
    def test_consoleTail(self):
        """The answer is the base64 of the console file's last 64 KiB, stamped with its mtime."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        files = node.lifecycle.instances[spec.instanceId].files
        with open(files.console, "wb") as f:
            f.write(b"x" * 70000 + b"eucad guest booted\n")
        os.utime(files.console, (1700000123.5, 1700000123.5))
        console = yield node.getConsoleOutput(spec.instanceId)
        output = base64.b64decode(console.output)
        self.assertEqual(len(output), 64 * 1024)
        self.assertTrue(output.endswith(b"xeucad guest booted\n"))
        self.assertEqual((console.instanceId, console.timestamp),
                         (spec.instanceId, 1700000123.5))

    @defer.inlineCallbacks
    def test_emptyConsole(self):
        """Before the guest wrote anything the output is empty and stamped now."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        console = yield node.getConsoleOutput(spec.instanceId)
        self.assertEqual((console.output, console.timestamp), ("", self.clock.seconds()))

    @defer.inlineCallbacks
    def test_consoleOfUnknown(self):
        """An instance the node does not hold has no console: InvalidInstanceID.NotFound."""
        node = self.makeNode()
        error = yield self.assertFailure(node.getConsoleOutput("i-0000beef"), CloudError)
        self.assertEqual(error.code, "InvalidInstanceID.NotFound")
