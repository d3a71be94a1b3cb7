"""The in-process observers of committed network policy changes."""

from twisted.trial import unittest

from eucad.clc.netchanges import AddressAssociated, GroupRulesChanged, NetworkChanges


class NetworkChangesTests(unittest.TestCase):

    def test_everyObserverInOrder(self):
        """Each observer hears each change, in the order published."""
        changes, heard = NetworkChanges(), []
        changes.subscribe(lambda c: heard.append(("first", c.kind)))
        changes.subscribe(lambda c: heard.append(("second", c.kind)))
        changes.publish([GroupRulesChanged("alice", "web", "sg-00000001", []),
                         AddressAssociated("192.0.2.1", "i-00000001", "10.0.0.2", "zone1")])
        self.assertEqual(heard, [("first", "group"), ("second", "group"),
                                 ("first", "associate"), ("second", "associate")])

    def test_failingObserverIsolated(self):
        """An observer that raises is logged; the others still hear the change."""
        changes, heard = NetworkChanges(), []

        def broken(change):
            raise RuntimeError("boom")
        changes.subscribe(broken)
        changes.subscribe(heard.append)
        change = GroupRulesChanged("alice", "web", "sg-00000001", [], deleted=True)
        changes.publish([change])
        self.assertEqual(heard, [change])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_unsubscribe(self):
        """An unsubscribed observer hears nothing more."""
        changes, heard = NetworkChanges(), []
        changes.subscribe(heard.append)
        changes.unsubscribe(heard.append)
        changes.publish([GroupRulesChanged("alice", "web", "sg-00000001", [])])
        self.assertEqual(heard, [])
