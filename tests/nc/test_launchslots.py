"""CONCURRENT_LAUNCHES: how many launches one node works on at once.

The node controller runs on test:///default (see ``tests.nc.test_node``);
its image cache is wrapped so that each launch's image fetch waits until
the test lets it go, which shows how many launches are under way.
"""

import os

from twisted.internet import defer
from twisted.python import usage
from twisted.trial import unittest

from eucad.common.config import EucaConf
from eucad.common.euca_conf import BadArgument, parse
from eucad.nc import tap
from eucad.nc.instances import InstanceLifecycle
from tests.nc.test_node import NodeTestCase, eventually


class HeldFetches:
    """An image cache whose fetches wait for the test, then go to the real cache."""

    def __init__(self, cache):
        self.cache = cache
        self.waiting = []

    def fetch(self, image):
        d = defer.Deferred()
        self.waiting.append((image, d))
        return d

    def releaseOne(self):
        image, d = self.waiting.pop(0)
        self.cache.fetch(image).chainDeferred(d)


class LaunchSlotTests(NodeTestCase):

    def makeBoundNode(self, slots):
        node = self.makeNode(limits=(16, 16384, 100))
        node.lifecycle.launchSlots = defer.DeferredSemaphore(slots)
        held = HeldFetches(node.lifecycle.imageCache)
        node.lifecycle.imageCache = held
        return node, held

    @defer.inlineCallbacks
    def test_launchesBoundedBySetting(self):
        """With two slots, five runs answer pending at once but only two launches start; each end lets the next one in."""
        node, held = self.makeBoundNode(2)
        specs = [self.spec() for _ in range(5)]
        reports = yield defer.gatherResults([node.runInstance(s) for s in specs])
        self.assertEqual({r["state"] for r in reports}, {"pending"})
        self.assertEqual(len(held.waiting), 2)
        held.releaseOne()
        yield node.lifecycle.launched(specs[0]["instanceId"])
        self.assertEqual((yield self.described(node, specs[0]["instanceId"]))["state"],
                         "running")
        # The first launch's slot went to the third run, in arrival order.
        self.assertEqual(len(held.waiting), 2)
        for spec in specs[1:]:
            self.assertLessEqual(len(held.waiting), 2)
            yield eventually(lambda: held.waiting)
            held.releaseOne()
            yield node.lifecycle.launched(spec["instanceId"])
        states = yield node.describeInstances()
        self.assertEqual({i["state"] for i in states
                          if i["instanceId"] in {s["instanceId"] for s in specs}},
                         {"running"})
        self.assertTrue({s["instanceId"] for s in specs} <= self.domainNames())

    @defer.inlineCallbacks
    def test_terminateWhileWaitingForASlot(self):
        """A run terminated while it waits for a slot never fetches, makes no files and no domain."""
        node, held = self.makeBoundNode(1)
        first, second = self.spec(), self.spec()
        yield node.runInstance(first)
        yield node.runInstance(second)
        self.assertEqual(len(held.waiting), 1)
        result = yield node.terminateInstance(second["instanceId"])
        self.assertEqual(result["previousState"], "pending")
        held.releaseOne()
        yield node.lifecycle.launched(first["instanceId"])
        yield node.lifecycle.launched(second["instanceId"])
        self.assertEqual(held.waiting, [])
        self.assertNotIn(second["instanceId"], self.domainNames())
        self.assertFalse(os.path.exists(os.path.join(self.instancePath, "alice",
                                                     second["instanceId"])))
        self.assertEqual((yield self.described(node, second["instanceId"]))["state"],
                         "terminated")


class SettingTests(unittest.TestCase):

    def conf(self, value=None):
        conf = EucaConf(self.mktemp())
        if value is not None:
            conf.set("CONCURRENT_LAUNCHES", value)
        return conf

    def test_defaultIsFour(self):
        """Without CONCURRENT_LAUNCHES in the conf a node runs four launches at once."""
        self.assertEqual(tap.concurrentLaunches(self.conf()), 4)

    def test_badValuesRefusedByTheDaemon(self):
        """The NC refuses 0, negative, fractional, huge and non-numeric values, naming the key."""
        for bad in ("0", "-1", "2.5", "65", "many", ""):
            error = self.assertRaises(usage.UsageError, tap.concurrentLaunches,
                                      self.conf(bad))
            self.assertIn("CONCURRENT_LAUNCHES", str(error))
        self.assertEqual(tap.concurrentLaunches(self.conf("64")), 64)

    def test_badValuesRefusedByEucaConf(self):
        """euca_conf CONCURRENT_LAUNCHES=N accepts 1..64 only, with a one-line reason."""
        request = parse(["CONCURRENT_LAUNCHES=8", "/x/eucalyptus.conf"])
        self.assertIn(("CONCURRENT_LAUNCHES", "8"), request.settings)
        for bad in ("0", "65", "x"):
            error = self.assertRaises(BadArgument, parse,
                                      ["CONCURRENT_LAUNCHES=" + bad, "/x/eucalyptus.conf"])
            self.assertIn("CONCURRENT_LAUNCHES", str(error))

    def test_lifecycleRefusesNoSlots(self):
        """An InstanceLifecycle with fewer than one launch slot cannot be made."""
        self.assertRaises(ValueError, InstanceLifecycle, None, None, None, None,
                          concurrentLaunches=0)
