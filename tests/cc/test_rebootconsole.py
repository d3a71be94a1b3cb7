"""ClusterController's rebootInstances and getConsoleOutput over FakeNodes."""

import base64

from twisted.trial import unittest

from eucad.common.errors import CloudError
from tests.cc.helpers import runSpec
from tests.cc.test_cluster import ClusterTestsMixin


class RebootAndConsoleTests(ClusterTestsMixin, unittest.TestCase):

    def setUp(self):
        ClusterTestsMixin.setUp(self)
        self.reports = self.launch(runSpec(1), runSpec(2))
        self.poll()
        self.nodeOf = {report.instanceId: {"10.0.0.2:8775": self.a,
                                           "10.0.0.3:8775": self.b}[report.node]
                       for report in self.reports}

    def test_rebootAsksEachInstancesNode(self):
        """Each instance is rebooted by the node that runs it, and reported running."""
        answer = self.successResultOf(self.cluster.rebootInstances(
            ["i-00000001", "i-00000002"]))
        self.assertEqual([(r.instanceId, r.state) for r in answer],
                         [("i-00000001", "running"), ("i-00000002", "running")])
        for instanceId, node in self.nodeOf.items():
            self.assertEqual(node.reboots.get(instanceId), 1)

    def test_unknownIdRebootsNothing(self):
        """An id the cluster does not hold fails the whole call before any node is asked."""
        error = self.failureResultOf(self.cluster.rebootInstances(
            ["i-00000001", "i-0000ffff"]), CloudError).value
        self.assertEqual(error.code, "InvalidInstanceID.NotFound")
        self.assertEqual((self.a.reboots, self.b.reboots), ({}, {}))

    def test_terminatedIsNotFound(self):
        """A terminated instance can be neither rebooted nor asked for its console."""
        self.successResultOf(self.cluster.terminateInstances(["i-00000001"]))
        for call in (self.cluster.rebootInstances(["i-00000001"]),
                     self.cluster.getConsoleOutput("i-00000001")):
            self.assertEqual(self.failureResultOf(call, CloudError).value.code,
                             "InvalidInstanceID.NotFound")

    def test_nodeDownIsUnavailable(self):
        """When the instance's node does not answer, the call fails as Unavailable."""
        node = self.nodeOf["i-00000001"]
        node.failWith(CloudError("Unavailable", "node gone", 503))
        self.registry.poll()
        error = self.failureResultOf(self.cluster.getConsoleOutput("i-00000001"),
                                     CloudError).value
        self.assertEqual(error.code, "Unavailable")

    def test_consoleFromTheNode(self):
        """The console output is the node's, passed on unchanged."""
        self.nodeOf["i-00000002"].writeConsole("i-00000002", b"hello from the guest\n")
        console = self.successResultOf(self.cluster.getConsoleOutput("i-00000002"))
        self.assertEqual(base64.b64decode(console.output), b"hello from the guest\n")
        self.assertEqual(console.timestamp, self.now())
