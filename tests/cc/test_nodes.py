"""The node registry: NODES parsing, polling, up and down."""

from twisted.internet import defer, task
from twisted.trial import unittest

from eucad.cc.nodes import DOWN, UNKNOWN, UP, NodeRegistry, nodeName, parseNodes
from eucad.common.errors import CloudError
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import nodeSpec


class ParseNodesTests(unittest.TestCase):

    def test_defaultPort(self):
        """Entries without a port get NC_PORT."""
        self.assertEqual(parseNodes("10.0.0.2 node3", 8775),
                         [("10.0.0.2", 8775), ("node3", 8775)])

    def test_explicitPortsAndIPv6(self):
        """host:port and [v6]:port entries keep their port; duplicates collapse."""
        self.assertEqual(parseNodes("a:9000 [fd00::2]:9001 [fd00::3] a:9000", 8775),
                         [("a", 9000), ("fd00::2", 9001), ("fd00::3", 8775)])

    def test_badPort(self):
        """A port that is not a number in range is refused."""
        self.assertRaises(ValueError, parseNodes, "a:http", 8775)
        self.assertRaises(ValueError, parseNodes, "a:70000", 8775)

    def test_empty(self):
        """An empty NODES means no nodes."""
        self.assertEqual(parseNodes("", 8775), [])

    def test_nodeName(self):
        """A node is named host:port, with brackets for IPv6."""
        self.assertEqual(nodeName("10.0.0.2", 8775), "10.0.0.2:8775")
        self.assertEqual(nodeName("fd00::2", 8775), "[fd00::2]:8775")


class HangingNode(FakeNode):
    """A node whose describeInstances never answers (a hung link)."""

    def describeInstances(self):
        self.calls.append(("describeInstances", None))
        return defer.Deferred()


class RegistryTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.a = FakeNode(cpu=4, ram=2048, disk=100)
        self.b = FakeNode(cpu=2, ram=1024, disk=50)
        self.registry = NodeRegistry([("10.0.0.2", 8775, self.a), ("10.0.0.3", 8775, self.b)],
                                     interval=2, clock=self.clock, now=lambda: 77.0)

    def test_unknownBeforeStart(self):
        """Nodes are unknown (and not up) before the first poll."""
        self.assertEqual([e.state for e in self.registry.entries], [UNKNOWN, UNKNOWN])
        self.assertEqual(self.registry.upEntries(), [])

    def test_firstPollAtStart(self):
        """Starting polls at once; answering nodes are up with their report kept."""
        self.a.runInstance(nodeSpec(1))
        self.registry.startService()
        self.addCleanup(self.registry.stopService)
        a, b = self.registry.entries
        self.assertEqual((a.state, b.state), (UP, UP))
        self.assertEqual(a.reportedFree(), (3, 1920, 90))
        self.assertEqual(a.total(), (4, 2048, 100))
        self.assertEqual(list(a.instances), ["i-00000001"])
        self.assertEqual(a.lastSeen, 77.0)
        self.assertEqual(a.lastPollStarted, 1)

    def test_instancesAskedBeforeResources(self):
        """Each poll asks for instances first, then resources."""
        self.successResultOf(self.registry.poll())
        self.assertEqual([c[0] for c in self.a.calls],
                         ["describeInstances", "describeResource"])

    def test_pollsEveryInterval(self):
        """The loop polls again every NODE_POLL_SECONDS on the injected clock."""
        self.registry.startService()
        self.addCleanup(self.registry.stopService)
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(self.registry.entries[0].pollsStarted, 3)
        self.registry.stopService()
        self.clock.advance(10)
        self.assertEqual(self.registry.entries[0].pollsStarted, 3)

    def test_failingNodeIsDown(self):
        """A node whose facade fails is down and out of upEntries; it comes back when it answers."""
        self.b.failWith(CloudError("Unavailable", "10.0.0.3:8775 is not connected", 503))
        self.successResultOf(self.registry.poll())
        a, b = self.registry.entries
        self.assertEqual((a.state, b.state), (UP, DOWN))
        self.assertEqual(self.registry.upEntries(), [a])
        self.assertIn("not connected", b.lastError)
        self.b.recover()
        self.successResultOf(self.registry.poll())
        self.assertEqual(b.state, UP)
        self.assertIsNone(b.lastError)

    def test_downKeepsLastReport(self):
        """A node that goes down keeps its last instance report."""
        self.b.runInstance(nodeSpec(5))
        self.successResultOf(self.registry.poll())
        self.b.failWith(CloudError("Unavailable", "gone", 503), "describeResource")
        self.successResultOf(self.registry.poll())
        b = self.registry.entries[1]
        self.assertEqual(b.state, DOWN)
        self.assertEqual(list(b.instances), ["i-00000005"])

    def test_hungNodeTimesOut(self):
        """A node that never answers is down after the poll timeout; the others are not held back."""
        hung = HangingNode()
        registry = NodeRegistry([("a", 1, self.a), ("h", 1, hung)], interval=2,
                                clock=self.clock, pollTimeout=5)
        d = registry.poll()
        self.assertNoResult(d)
        self.assertEqual(registry.entries[0].state, UP)
        self.clock.advance(5)
        self.successResultOf(d)
        self.assertEqual(registry.entries[1].state, DOWN)

    def test_overlappingPollJoins(self):
        """A poll asked for while one is under way joins it instead of calling nodes again."""
        hung = HangingNode()
        registry = NodeRegistry([("h", 1, hung)], clock=self.clock, pollTimeout=5)
        first = registry.poll()
        second = registry.poll()
        self.assertEqual(len(hung.calls), 1)
        self.clock.advance(5)
        self.assertEqual(self.successResultOf(second), registry.entries)
        self.successResultOf(first)

    def test_pollSoonWhenIdlePollsAtOnce(self):
        """pollSoon with no poll under way polls every node at once."""
        self.successResultOf(self.registry.pollSoon())
        self.assertEqual([e.pollsStarted for e in self.registry.entries], [1, 1])

    def test_pollSoonDuringAPollRunsExactlyOneMore(self):
        """pollSoon calls during a poll add one poll right after it, never a parallel one."""
        hung = HangingNode()
        registry = NodeRegistry([("h", 1, hung)], clock=self.clock, pollTimeout=5)
        first = registry.poll()
        laters = [registry.pollSoon() for _ in range(3)]
        self.assertEqual(len(hung.calls), 1)
        self.clock.advance(5)
        self.successResultOf(first)
        self.assertEqual(len(hung.calls), 2)
        for later in laters:
            self.assertNoResult(later)
        self.clock.advance(5)
        self.assertEqual([self.successResultOf(d) for d in laters], [registry.entries] * 3)
        self.assertEqual(len(hung.calls), 2)

    def test_stopWaitsForThePollAndDropsTheFollowUp(self):
        """stopService waits for the running poll and starts no follow-up after it."""
        hung = HangingNode()
        registry = NodeRegistry([("h", 1, hung)], clock=self.clock, pollTimeout=5)
        registry.startService()
        registry.pollSoon()
        stopped = registry.stopService()
        self.assertNoResult(stopped)
        self.clock.advance(5)
        self.successResultOf(stopped)
        self.assertEqual(len(hung.calls), 1)

    def test_observersHearEachPoll(self):
        """Observers get the entries after every finished poll."""
        seen = []
        self.registry.addObserver(lambda entries: seen.append([e.state for e in entries]))
        self.successResultOf(self.registry.poll())
        self.b.failWith(CloudError("Unavailable"))
        self.successResultOf(self.registry.poll())
        self.assertEqual(seen, [[UP, UP], [UP, DOWN]])

    def test_brokenObserverDoesNotStopPolling(self):
        """An observer that raises is logged and the poll still completes."""
        def broken(entries):
            raise RuntimeError("observer bug")
        self.registry.addObserver(broken)
        self.successResultOf(self.registry.poll())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_describeUsesGivenFree(self):
        """describe reports the node with totals and the given free room."""
        self.successResultOf(self.registry.poll())
        a = self.registry.entries[0]
        self.assertEqual(a.describe((1, 2, 3)).toDict(), {
            "host": "10.0.0.2", "port": 8775, "state": "up", "cpu": 4, "ram": 2048,
            "disk": 100, "freeCpu": 1, "freeRam": 2, "freeDisk": 3,
            "ccCertOk": True, "ncCertOk": True, "lastSeen": 77.0})
