"""POWERSAVE: packing, idle nodes put to sleep and woken by real commands.

Each node's "power" is a real process: the node answers the CC only while
that process lives.  The sleep and wake commands are real programs run
through the CC's ProcessRunner: the sleep command kills the node's process,
the wake command starts a new one, so what they do is seen by the CC the way
a real node's power is, through whether its polls are answered.
"""

import os
import shlex
import sys

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.cc.cluster import ClusterController
from eucad.cc.dhcpdconfig import DhcpSubnet
from eucad.cc.nodes import NodeRegistry
from eucad.cc.placement import Placement, placementFromConf
from eucad.cc.power import ASLEEP, AWAKE, NodePower, PowerSettings
from eucad.cc.state import StateFile
from eucad.cc.vnet.static import StaticNetwork, parseMacMap
from eucad.common.config import EucaConf
from eucad.common.errors import CloudError
from eucad.common.process import ProcessRunner
from eucad.lab.ownedprocess import OwnedProcess
from eucad.testing.fakenode import FakeNode
from tests.cc.helpers import runSpec
from tests.cc.test_cluster import RecordingDhcpd, synchronously

MACMAP = " ".join("d2:0d:00:00:02:%02x=10.77.0.%d" % (n, n) for n in range(10, 14))


class PoweredNode(FakeNode):
    """A FakeNode that answers only while the process in ``pidFile`` lives."""

    def __init__(self, pidFile, **kwargs):
        FakeNode.__init__(self, **kwargs)
        self.pidFile = pidFile

    def process(self):
        try:
            with open(self.pidFile) as f:
                return OwnedProcess(int(f.read().strip()), None)
        except (OSError, ValueError):
            return None

    def poweredOn(self):
        process = self.process()
        return process is not None and process.alive()

    def _unreachable(self):
        return defer.fail(CloudError("Unavailable", "no route to host", 503))

    def describeInstances(self):
        return FakeNode.describeInstances(self) if self.poweredOn() else self._unreachable()

    def describeResource(self):
        return FakeNode.describeResource(self) if self.poweredOn() else self._unreachable()

    def runInstance(self, spec):
        return FakeNode.runInstance(self, spec) if self.poweredOn() else self._unreachable()


class SettingsTests(unittest.TestCase):
    """POWER_* keys are checked at start, one line per problem."""

    def settings(self, **values):
        base = {"SCHEDPOLICY": "POWERSAVE", "POWER_SLEEP_COMMAND": "true {host}",
                "POWER_WAKE_COMMAND": "true {mac}",
                "POWER_NODE_MACS": "10.0.0.2=D2-0D-00-00-00-02 10.0.0.3:9000=d2:0d:00:00:00:03"}
        base.update(values)
        conf = EucaConf(None, [])
        for key, value in base.items():
            conf.set(key, value)
        return conf

    def test_good(self):
        """Valid settings give argv per node with the placeholders filled in."""
        settings = PowerSettings.fromConf(self.settings(POWER_IDLETHRESH="60"),
                                          [("10.0.0.2", 8775), ("10.0.0.3", 9000)], 8775)
        self.assertEqual(settings.idleThreshold, 60)
        registry = NodeRegistry([("10.0.0.3", 9000, FakeNode())], clock=task.Clock())
        self.assertEqual(settings.argv(settings.wakeCommand, registry.entries[0]),
                         ["true", "d2:0d:00:00:00:03"])

    def test_everyProblemListed(self):
        """Each bad key is named on its own line, all at once."""
        error = self.assertRaises(ValueError, PowerSettings.fromConf, self.settings(
            POWER_IDLETHRESH="soon", POWER_SLEEP_COMMAND="no-such-program-here {host}",
            POWER_WAKE_COMMAND="true {nic}", POWER_NODE_MACS="10.0.0.2=zz"),
            [("10.0.0.2", 8775)], 8775)
        lines = str(error).splitlines()
        self.assertEqual(len(lines), 4, lines)
        for key in ("POWER_IDLETHRESH", "POWER_SLEEP_COMMAND", "POWER_WAKE_COMMAND",
                    "POWER_NODE_MACS"):
            self.assertTrue(any(line.startswith(key) for line in lines), (key, lines))

    def test_missingMac(self):
        """A wake command that needs {mac} needs a MAC for every node."""
        error = self.assertRaises(ValueError, PowerSettings.fromConf, self.settings(),
                                  [("10.0.0.2", 8775), ("10.0.0.4", 8775)], 8775)
        self.assertEqual(str(error), "POWER_NODE_MACS has no MAC for 10.0.0.4:8775")

    def test_sleepCommandRequired(self):
        """POWERSAVE without a sleep command refuses to start."""
        registry = NodeRegistry([("10.0.0.2", 8775, FakeNode())], clock=task.Clock())
        error = self.assertRaises(ValueError, placementFromConf,
                                  self.settings(POWER_SLEEP_COMMAND=""), registry,
                                  ProcessRunner(), task.Clock())
        self.assertIn("POWER_SLEEP_COMMAND is required", str(error))

    def test_otherPoliciesNeedNothing(self):
        """GREEDY and ROUNDROBIN build no NodePower and read no POWER_* key."""
        registry = NodeRegistry([("10.0.0.2", 8775, FakeNode())], clock=task.Clock())
        placement = placementFromConf(self.settings(SCHEDPOLICY="greedy",
                                                    POWER_SLEEP_COMMAND=""),
                                      registry, ProcessRunner(), task.Clock())
        self.assertEqual((placement.policy, placement.power), ("GREEDY", None))


class PackingTests(unittest.TestCase):
    """POWERSAVE packs instances on the fewest nodes."""

    def test_busyNodesFirst(self):
        """A new instance goes to a node that already holds one, not to an idle node."""
        a, b = FakeNode(cpu=4), FakeNode(cpu=4)
        registry = NodeRegistry([("a", 1, a), ("b", 1, b)], clock=task.Clock())
        self.successResultOf(registry.poll())
        placement = Placement(registry, "POWERSAVE")
        names = [e.name for e in placement.place([runSpec(1), runSpec(2)])]
        self.assertEqual(names, ["a:1", "a:1"])
        # Even after a's room is gone for a large one, small ones still pack onto a.
        placement.release("i-00000001")
        placement.release("i-00000002")
        placement.reserve("i-00000009", "b:1", runSpec(9).vmType)
        self.assertEqual([e.name for e in placement.place([runSpec(3)])], ["b:1"])


class PowerTests(unittest.TestCase):
    """Sleep and wake with real commands, through the cluster controller."""

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.clock = task.Clock()
        self.clock.advance(1000)
        self.nodes = []
        for name in ("a", "b"):
            node = PoweredNode(os.path.join(self.dir, name + ".pid"), cpu=2, ram=4096,
                               disk=100, now=self.clock.seconds)
            self.nodes.append((name, 1, node))
        self.a, self.b = self.nodes[0][2], self.nodes[1][2]
        self.addCleanup(self.powerOffAll)

    def powerOffAll(self):
        """End the power processes this test started (by their PIDs)."""
        for _, _, node in self.nodes:
            process = node.process()
            if process is not None:
                process.terminate(5.0)

    def startCommand(self):
        # The node's power: a process that lives until the sleep command ends it.
        return ("%s -c 'import os,sys,subprocess; p = subprocess.Popen([\"sleep\", \"600\"], "
                "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL, start_new_session=True); "
                "open(sys.argv[1], \"w\").write(str(p.pid))' %s/{host}.pid" % (
                    sys.executable, self.dir))

    def settings(self, wake=None, wakeThreshold=0, wakeTimeout=30):
        sleep = "%s -c 'import os,signal,sys; os.kill(int(open(sys.argv[1]).read()), " \
            "signal.SIGTERM)' %s/{host}.pid" % (sys.executable, self.dir)
        return PowerSettings(idleThreshold=60, wakeThreshold=wakeThreshold,
                             wakeTimeout=wakeTimeout,
                             sleepCommand=shlex.split(sleep),
                             wakeCommand=shlex.split(wake or self.startCommand()),
                             macs={})

    @defer.inlineCallbacks
    def makeCluster(self, settings):
        runner = ProcessRunner()
        # Both nodes are powered on to begin with.
        for name, _, _ in self.nodes:
            yield runner.run(settings.argv(shlex.split(self.startCommand()),
                                           _Named(name)))
        self.registry = NodeRegistry(self.nodes, interval=2, clock=self.clock,
                                     now=self.clock.seconds)
        self.power = NodePower(self.registry, settings, runner, self.clock,
                               stateFile=self.powerState())
        self.placement = Placement(self.registry, "POWERSAVE", self.power)
        subnet = DhcpSubnet("10.77.0.0", "255.255.255.0", router="10.77.0.1")
        self.cluster = ClusterController(
            self.registry, StaticNetwork("br0", subnet, parseMacMap(MACMAP), "priv0"),
            self.placement,
            StateFile(os.path.join(self.dir, "state.json"), runInThread=synchronously),
            dhcpd=RecordingDhcpd(), clock=self.clock, now=self.clock.seconds)
        self.power.startService()
        self.cluster.startService()
        self.addCleanup(self.cluster.stopService)
        self.addCleanup(self.power.stopService)
        yield self.registry.poll()

    def powerState(self):
        return StateFile(os.path.join(self.dir, "power.json"), runInThread=synchronously)

    @defer.inlineCallbacks
    def sleepBoth(self):
        """Both nodes idle past POWER_IDLETHRESH: both are put to sleep, for real."""
        yield self.registry.poll()  # idle from now
        self.clock.advance(61)
        yield self.registry.poll()
        yield self.waitFor(lambda: all(self.power.stateOf(e) == ASLEEP
                                       for e in self.registry.entries))
        self.assertFalse(self.a.poweredOn() or self.b.poweredOn())

    @defer.inlineCallbacks
    def waitFor(self, check, attempts=200):
        """Wait (real time, bounded) for ``check()``: the commands are real processes."""
        for _ in range(attempts):
            if check():
                return
            yield task.deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("condition not met")

    @defer.inlineCallbacks
    def test_idleNodesSleepAndOneWakesForAnInstance(self):
        """
        Idle nodes are put to sleep by the sleep command (their processes
        end); their room still counts; RunInstances wakes one node with the
        wake command, waits for it to answer, and runs there; the other
        node sleeps on.
        """
        yield self.makeCluster(self.settings())
        yield self.sleepBoth()
        yield self.registry.poll()
        self.assertEqual([e.state for e in self.registry.entries], ["down", "down"])
        resources = yield self.cluster.describeResources()
        # Down to the registry, but the cluster lists them asleep.
        self.assertEqual([n.state for n in resources.nodes], ["asleep", "asleep"])
        small = [room for room in resources.vmTypes if room.vmType.name == "m1.small"][0]
        self.assertEqual((small.max, small.free), (4, 4))

        running = self.cluster.runInstances([runSpec(1)])
        yield self.waitFor(lambda: self.a.poweredOn())
        # The NC answers the poll the wake asked for: the instance runs there.
        [report] = yield running
        self.assertEqual(report.node, "a:1")
        self.assertEqual(self.power.stateOf(self.registry.entries[0]), AWAKE)
        self.assertEqual(self.power.stateOf(self.registry.entries[1]), ASLEEP)
        self.assertFalse(self.b.poweredOn())
        self.assertEqual(list(self.a.instances), ["i-00000001"])
        resources = yield self.cluster.describeResources()
        self.assertEqual([n.state for n in resources.nodes], ["up", "asleep"])

    @defer.inlineCallbacks
    def test_restartedClusterKnowsWhoSleeps(self):
        """
        A restarted CC reads which nodes sleep from its state file: their room
        still counts and it wakes them, rather than taking them for dead.
        """
        yield self.makeCluster(self.settings())
        yield self.sleepBoth()
        yield self.power.stopService()
        registry = NodeRegistry(self.nodes, interval=2, clock=self.clock,
                                now=self.clock.seconds)
        yield registry.poll()
        self.assertEqual([e.state for e in registry.entries], ["down", "down"])
        power = NodePower(registry, self.settings(), ProcessRunner(), self.clock,
                          stateFile=self.powerState())
        power.startService()
        self.addCleanup(power.stopService)
        placement = Placement(registry, "POWERSAVE", power)
        self.assertEqual([power.stateOf(e) for e in registry.entries], [ASLEEP, ASLEEP])
        self.assertEqual(len(placement.available()), 2)
        [entry] = placement.place([runSpec(1)])
        yield placement.whenReady([entry])
        self.assertTrue(self.a.poweredOn())
        self.assertEqual(power.stateOf(entry), AWAKE)

    @defer.inlineCallbacks
    def test_lateAnswerIsNoWakeUp(self):
        """
        A poll begun before the sleep command ended may still succeed after
        it: that answer does not make the node awake again (it would then be
        neither counted nor woken once it really sleeps); a later one does.
        """
        yield self.makeCluster(self.settings())
        yield self.sleepBoth()
        entry = self.registry.entries[0]
        # What the registry records when a poll that began before the sleep
        # ended answers (NodeEntry's documented state).
        entry.state, entry.lastPollStarted = "up", entry.pollsStarted
        self.power.afterPoll(self.registry.entries)
        self.assertEqual(self.power.stateOf(entry), ASLEEP)
        entry.pollsStarted += 1
        entry.lastPollStarted = entry.pollsStarted
        self.power.afterPoll(self.registry.entries)
        self.assertEqual(self.power.stateOf(entry), AWAKE)

    @defer.inlineCallbacks
    def test_busyNodeStaysAwake(self):
        """A node that runs an instance is never put to sleep; the idle one is."""
        yield self.makeCluster(self.settings())
        yield self.cluster.runInstances([runSpec(1)])
        yield self.registry.poll()
        self.clock.advance(61)
        yield self.registry.poll()
        yield self.waitFor(lambda: self.power.stateOf(self.registry.entries[1]) == ASLEEP)
        self.assertFalse(self.b.poweredOn())
        self.assertTrue(self.a.poweredOn())
        self.assertEqual(self.power.stateOf(self.registry.entries[0]), AWAKE)

    @defer.inlineCallbacks
    def test_failedWakeIsClearAndLeavesNothing(self):
        """
        A wake command that fails gives RunInstances an error naming the
        node, and nothing of the request is left: no record, no reservation,
        no MAC/IP pair, no call to a node.
        """
        yield self.makeCluster(self.settings(wake="false {host}"))
        yield self.sleepBoth()
        yield self.registry.poll()
        error = yield self.assertFailure(self.cluster.runInstances([runSpec(1)]), CloudError)
        self.assertEqual(error.code, "InsufficientInstanceCapacity")
        self.assertIn("node a:1 is asleep and did not wake: false failed", error.message)
        self.assertEqual((self.cluster.records, self.placement.reservations,
                          self.cluster.network.allocations), ({}, {}, {}))
        self.assertNotIn("runInstance", [call for call, _ in self.a.calls])

    @defer.inlineCallbacks
    def test_silentNodeTimesOut(self):
        """A node that does not answer within POWER_WAKE_TIMEOUT fails the request cleanly."""
        yield self.makeCluster(self.settings(wake="true {host}", wakeTimeout=120))
        yield self.sleepBoth()
        yield self.registry.poll()
        entry = self.registry.entries[0]
        polls = entry.pollsStarted
        running = self.cluster.runInstances([runSpec(1)])
        self.assertEqual(self.power.stateOf(entry), "waking")
        # The wake command ran (and asked for a poll, which the node did not answer).
        yield self.waitFor(lambda: entry.pollsStarted > polls)
        self.clock.advance(121)
        error = yield self.assertFailure(running, CloudError)
        self.assertIn("no answer within POWER_WAKE_TIMEOUT", error.message)
        self.assertEqual((self.cluster.records, self.placement.reservations), ({}, {}))

    @defer.inlineCallbacks
    def test_justAsleepIsLeftToSettle(self):
        """A node asleep for less than POWER_WAKETHRESH is not woken: its room does not count."""
        yield self.makeCluster(self.settings(wakeThreshold=300))
        yield self.sleepBoth()
        yield self.registry.poll()
        error = yield self.assertFailure(self.cluster.runInstances([runSpec(1)]), CloudError)
        self.assertEqual(error.message, "Not enough resources available")
        self.clock.advance(301)
        self.assertEqual(len(self.placement.available()), 2)
        self.assertFalse(self.a.poweredOn())


class _Named:
    """Just enough of a NodeEntry for PowerSettings.argv."""

    def __init__(self, host):
        self.host, self.port, self.name = host, 1, "%s:1" % (host,)
