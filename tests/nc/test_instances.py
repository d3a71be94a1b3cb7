"""InstanceLifecycle's start-up sweep of instance directories no domain runs from,
and the change notices of an Instance's state."""

import os
import threading

from twisted.internet import defer, task
from twisted.trial import unittest

from eucad.nc.instancefiles import InstanceDisks
from eucad.nc.instances import Instance, InstanceLifecycle
from tests.nc.specs import runSpec


class ReactorOnlyTable(dict):
    """An instance table that notes every read made outside the main (reactor) thread."""

    def __init__(self, *args):
        dict.__init__(self, *args)
        self.offThread = []

    def _note(self, what):
        if threading.current_thread() is not threading.main_thread():
            self.offThread.append(what)

    def values(self):
        self._note("values")
        return dict.values(self)

    def items(self):
        self._note("items")
        return dict.items(self)

    def __iter__(self):
        self._note("iter")
        return dict.__iter__(self)


class OrphanSweepTests(unittest.TestCase):

    def setUp(self):
        self.instancePath = os.path.abspath(self.mktemp())
        self.disks = InstanceDisks(self.instancePath, runner=None)
        self.lifecycle = InstanceLifecycle(None, None, self.disks, task.Clock())

    def instance(self, instanceId, state):
        instance = Instance(runSpec(instanceId), 1700000000,
                            self.disks.filesFor("alice", instanceId), state)
        os.makedirs(instance.files.directory)
        return instance

    @defer.inlineCallbacks
    def test_instanceTableReadOnReactorOnly(self):
        """The live directories are taken on the reactor; the worker thread only lists and removes files."""
        live = self.instance("i-00000001", "running")
        ended = self.instance("i-00000002", "terminated")
        orphan = os.path.join(self.instancePath, "bob", "i-0badf00d")
        os.makedirs(orphan)
        table = ReactorOnlyTable({live.instanceId: live, ended.instanceId: ended})
        self.lifecycle.instances = table
        removed = yield self.lifecycle.removeOrphans()
        self.assertEqual(table.offThread, [])
        self.assertEqual(sorted(removed), sorted([orphan, ended.files.directory]))
        self.assertTrue(os.path.isdir(live.files.directory))
        self.assertFalse(os.path.exists(orphan))


    @defer.inlineCallbacks
    def test_unreadableDomainKeepsItsDirectory(self):
        """The directory of a running domain whose record could not be read is not swept."""
        kept = os.path.join(self.instancePath, "alice", "i-0000cafe")
        orphan = os.path.join(self.instancePath, "alice", "i-0badf00d")
        os.makedirs(kept)
        os.makedirs(orphan)
        self.lifecycle.unreadable.add("i-0000cafe")
        removed = yield self.lifecycle.removeOrphans()
        self.assertEqual(removed, [orphan])
        self.assertTrue(os.path.isdir(kept))


class StateChangeTests(unittest.TestCase):

    def test_onlyRealChangesNotify(self):
        """Setting an instance's state calls onChange when the value differs, never otherwise."""
        notices = []
        instance = Instance(runSpec("i-00000003"), 1700000000, None, "pending",
                            onChange=lambda: notices.append(1))
        instance.state = "pending"
        self.assertEqual(notices, [])
        instance.state = "running"
        instance.state = "running"
        instance.state = "terminated"
        self.assertEqual((len(notices), instance.state), (2, "terminated"))
