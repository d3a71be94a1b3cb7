"""What a node poll means for the CC's records (eucad.cc.reconcile), and the records on disk (eucad.cc.ledger)."""

from twisted.internet import task
from twisted.trial import unittest

from eucad.cc import ledger, reconcile
from eucad.cc.nodes import NodeRegistry
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import nodeSpec, runSpec


class ReconcileTests(unittest.TestCase):

    def setUp(self):
        self.node = FakeNode(now=lambda: 1000)
        self.registry = NodeRegistry([("10.0.0.2", 8775, self.node)], clock=task.Clock())
        self.records = {}

    def record(self, number, phase=ledger.RUNNING, **changes):
        record = ledger.newRecord(runSpec(number), "10.0.0.2:8775", 1000)
        record.update(phase=phase, **changes)
        self.records[record["instanceId"]] = record
        return record

    def decide(self, launchedPoll=None, inFlight=(), now=1000, keep=600):
        actions = reconcile.reconcile(self.records, self.registry, launchedPoll or {},
                                      lambda instanceId: instanceId in inFlight, now, keep)
        return [(action, record["instanceId"], detail) for action, record, detail in actions]

    def poll(self):
        self.successResultOf(self.registry.poll())

    def test_nothingToDo(self):
        """A running record its node reports running needs nothing but its address checked."""
        self.successResultOf(self.node.runInstance(nodeSpec(1)))
        self.record(1)
        self.poll()
        self.assertEqual(self.decide(), [(reconcile.LEARN_ADDRESS, "i-00000001", "10.0.0.3")])

    def test_vanishedOnlyAfterALaterPoll(self):
        """A record missing from its node is cleaned up only when the poll began after the launch."""
        self.record(1)
        self.poll()
        self.assertEqual(self.decide(launchedPoll={"i-00000001": 1}), [])
        self.assertEqual(self.decide(launchedPoll={"i-00000001": 0}), [
            (reconcile.CLEAN_UP, "i-00000001", "the instance vanished from 10.0.0.2:8775")])

    def test_endedOnItsNode(self):
        """A record its node reports terminated is cleaned up with the node's reason."""
        self.successResultOf(self.node.runInstance(nodeSpec(1)))
        self.node.endInstance("i-00000001", "the domain stopped")
        self.record(1)
        self.poll()
        self.assertEqual(self.decide(), [
            (reconcile.CLEAN_UP, "i-00000001", "the domain stopped")])

    def test_terminatingRetriedUnlessInFlight(self):
        """A terminating record is terminated again, unless a terminate is under way."""
        self.record(1, ledger.TERMINATING)
        self.poll()
        self.assertEqual(self.decide(), [(reconcile.TERMINATE, "i-00000001", None)])
        self.assertEqual(self.decide(inFlight={"i-00000001"}), [])

    def test_nodeDownWaits(self):
        """Records on a node that is down are left alone."""
        self.record(1)
        self.record(2, ledger.TERMINATING)
        self.node.failWith(ValueError("down"))
        self.poll()
        self.assertEqual(self.decide(), [])

    def test_terminatedExpire(self):
        """Terminated records go once they are older than the time they are kept."""
        self.record(1, ledger.TERMINATED, terminatedAt=500)
        self.assertEqual(self.decide(now=1000, keep=600), [])
        self.assertEqual(self.decide(now=1101, keep=600),
                         [(reconcile.EXPIRE, "i-00000001", None)])


class LedgerTests(unittest.TestCase):

    def test_diskRoundTrip(self):
        """Records written for the state file read back with their RunSpec."""
        record = ledger.newRecord(runSpec(1), "10.0.0.2:8775", 1000)
        onDisk = ledger.forDisk({"i-00000001": record})
        self.assertIsInstance(onDisk["i-00000001"]["spec"], dict)
        self.assertEqual(ledger.fromDisk({"instances": onDisk}), {"i-00000001": record})

    def test_recordWithoutSpecIsForgotten(self):
        """A record of an older CC without a usable run spec is left out, not a crash."""
        old = {"instanceId": "i-00000001", "phase": "running", "node": "10.0.0.2:8775"}
        broken = dict(ledger.forDisk({"x": ledger.newRecord(runSpec(2), "n", 1)})["x"])
        broken["spec"] = dict(broken["spec"], owner="../x")
        self.assertEqual(ledger.fromDisk({"instances": {"i-00000001": old,
                                                        "i-00000002": broken}}), {})

    def test_viewTakesAnAddressTheNodeLearnt(self):
        """Without an address of its own the view shows the one the node reports."""
        record = ledger.newRecord(runSpec(1), "10.0.0.2:8775", 1000)
        record["phase"] = ledger.RUNNING
        record["network"] = {"macAddress": "d2:0d:00:00:00:01", "privateIp": "0.0.0.0",
                             "publicIp": "0.0.0.0"}
        node = FakeNode(now=lambda: 1234)
        report = self.successResultOf(node.runInstance(nodeSpec(1)))
        view = ledger.view(record, report)
        self.assertEqual((view.state, view.privateIp, view.publicIp, view.launchTime,
                          view.node), ("pending", "10.0.0.3", "10.0.0.3", 1234,
                                       "10.0.0.2:8775"))
