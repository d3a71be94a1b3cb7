"""The CC's long polls on its nodes (NodeWatcher), on a task.Clock with FakeNodes."""

from twisted.trial import unittest

from eucad.cc.watch import NodeWatcher
from eucad.common.errors import CloudError
from tests.cc.helpers import runSpec
from tests.cc.test_cluster import ClusterTestsMixin


class NodeWithoutWatch:
    """The facade of an NC from before waitForChange: every other call works."""

    def __init__(self, node):
        self.node = node

    def __getattr__(self, name):
        if name == "waitForChange":
            raise AttributeError(name)
        return getattr(self.node, name)


class NodeWatcherTests(ClusterTestsMixin, unittest.TestCase):

    def setUp(self):
        ClusterTestsMixin.setUp(self)
        self.watcher = NodeWatcher(self.registry, clock=self.clock)
        self.addCleanup(self.stopWatcher)

    def stopWatcher(self):
        if self.watcher.running:
            self.watcher.stopService()

    def waits(self, node):
        return [call for call in node.calls if call[0] == "waitForChange"]

    def pollsStarted(self):
        return [entry.pollsStarted for entry in self.registry.entries]

    def test_startWatchesEveryNode(self):
        """Each node gets a first call (generation None); its answer brings one prompt poll."""
        before = self.pollsStarted()
        self.watcher.startService()
        self.assertEqual((self.waits(self.a), self.waits(self.b)),
                         ([("waitForChange", None)], [("waitForChange", None)]))
        self.assertEqual(self.pollsStarted(), [n + 2 for n in before])
        self.clock.advance(0.1)
        generation = self.a.changes.generation
        self.assertEqual(self.waits(self.a)[-1], ("waitForChange", generation))
        self.assertEqual(self.a.changes.waiting, 1)

    def test_nodeChangeBringsPromptPollAndClusterChange(self):
        """A node's change is polled at once and wakes the CLC's wait, long before the next round."""
        self.watcher.startService()
        self.clock.advance(0.1)
        polls = self.pollsStarted()
        clc = self.cluster.waitForChange(self.cluster.changes.generation, 25)
        [instance] = self.launch(runSpec(1))
        self.assertEqual(instance["state"], "pending")
        self.clock.advance(0)
        # In that turn the CLC's wait answered (the run is a change too) and
        # the node's answer (it booted the instance) brought a poll.
        first = self.successResultOf(clc)
        self.assertEqual(first["instances"][0]["state"], "pending")
        self.assertEqual(self.pollsStarted()[0], polls[0] + 1)
        # So the CLC's next wait answers at once with the running instance.
        second = self.successResultOf(self.cluster.waitForChange(first["generation"], 25))
        self.assertEqual(second["instances"][0]["state"], "running")
        self.assertLess(self.clock.seconds(), self.registry.interval)

    def test_noChangeNoPoll(self):
        """A wait that times out unchanged is renewed without polling."""
        self.watcher.startService()
        self.clock.advance(0.1)
        self.registry.stopService()
        polls = self.pollsStarted()
        self.clock.advance(25)
        self.assertEqual(self.pollsStarted(), polls)
        self.assertEqual(len(self.waits(self.a)), 3)

    def test_errorsBackOff(self):
        """A node that fails the call is watched again every NODE_POLL_SECONDS, not in a loop."""
        self.b.failWith(CloudError("Unavailable", "10.0.0.3:8775 is not connected", 503),
                        "waitForChange")
        self.watcher.startService()
        self.assertEqual(len(self.waits(self.b)), 1)
        self.clock.advance(1.9)
        self.assertEqual(len(self.waits(self.b)), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(self.waits(self.b)), 2)
        self.b.recover()
        self.clock.advance(2)
        self.assertEqual(len(self.waits(self.b)), 3)
        self.assertFalse(self.watcher.watches["10.0.0.3:8775"].failing)

    def test_nodeWithoutTheMethodIsRetried(self):
        """A node facade without waitForChange does not stop the CC: it is only polled."""
        self.makeCluster(nodes=[("10.0.0.4", 8775, NodeWithoutWatch(self.a))])
        watcher = NodeWatcher(self.registry, clock=self.clock)
        watcher.startService()
        watch = watcher.watches["10.0.0.4:8775"]
        self.assertTrue(watch.failing)
        self.assertTrue(watch._timer.active())
        watcher.stopService()
        self.assertIsNone(watch._timer)

    def test_stopCancelsEverything(self):
        """stopService cancels every outstanding call: the nodes hold no wait and no timer is left."""
        self.watcher.startService()
        self.clock.advance(0.1)
        self.assertEqual((self.a.changes.waiting, self.b.changes.waiting), (1, 1))
        self.watcher.stopService()
        self.assertEqual((self.a.changes.waiting, self.b.changes.waiting), (0, 0))
        self.registry.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        calls = len(self.a.calls)
        self.clock.advance(60)
        self.assertEqual(len(self.a.calls), calls)
