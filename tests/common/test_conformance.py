"""The fakes cannot drift: fake, real implementation and PB facade of each link
expose the same operations with the same signatures as the link's interface,
and the PB root publishes exactly those operations."""

import inspect

from twisted.trial import unittest
from zope.interface.verify import verifyClass

from eucad.common import pblink
from eucad.common.interfaces import ICluster, INode
from eucad.common.links import ClusterLink, ClusterRoot, NodeLink, NodeRoot


def operations(interface):
    return pblink.interfaceMethods(interface)


def parameters(function):
    """Positional parameter names after self, and whether *args is taken."""
    signature = inspect.signature(function)
    names = [p.name for p in signature.parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    return names


class ConformanceMixin:
    interface = None
    root = None

    def implementations(self):
        """(label, class) for the fake, the real implementation and the facade."""
        raise NotImplementedError()

    def test_implementationsProvideTheInterface(self):
        """Fake and real classes declare and fully implement the interface."""
        for label, cls in self.implementations():
            self.assertTrue(verifyClass(self.interface, cls), label)

    def test_signaturesMatchTheInterface(self):
        """Every operation takes the interface's arguments, by the same names."""
        for name in operations(self.interface):
            expected = list(self.interface[name].positional)
            for label, cls in self.implementations():
                self.assertEqual(parameters(getattr(cls, name)), expected,
                                 "%s.%s" % (label, name))

    def test_longPollIsPartOfTheLink(self):
        """Both links carry waitForChange(generation, timeout), so fakes and facades have it too."""
        self.assertIn("waitForChange", operations(self.interface))
        self.assertEqual(self.interface["waitForChange"].positional, ("generation", "timeout"))

    def test_facadeExposesExactlyTheOperations(self):
        """The PB client facade provides the interface's operations and the root publishes those and no other."""
        facade = dict(self.implementations())["facade"]
        client = facade("127.0.0.1", 1, tlsOptions=None, endpoint=object())
        self.assertTrue(self.interface.providedBy(client))
        for name in operations(self.interface):
            self.assertTrue(callable(getattr(client, name)), name)
        published = sorted(name[len("remote_"):] for name in dir(self.root)
                           if name.startswith("remote_"))
        self.assertEqual(published, operations(self.interface))
        for name in published:
            self.assertEqual(parameters(getattr(self.root, "remote_" + name)),
                             list(self.interface[name].positional), "remote_" + name)


class NodeLinkTests(ConformanceMixin, unittest.TestCase):
    interface = INode
    root = NodeRoot

    def implementations(self):
        from eucad.nc.node import NodeController
        from eucad.testing.fakenode import FakeNode
        return [("FakeNode", FakeNode), ("NodeController", NodeController),
                ("facade", NodeLink)]


class ClusterLinkTests(ConformanceMixin, unittest.TestCase):
    interface = ICluster
    root = ClusterRoot

    def implementations(self):
        from eucad.cc.cluster import ClusterController
        from eucad.testing.fakecluster import FakeCluster
        return [("FakeCluster", FakeCluster), ("ClusterController", ClusterController),
                ("facade", ClusterLink)]
