"""Registering clusters: checks, keys naming the host, CLUSTERS written, the set changed."""

import os

from twisted.application.service import MultiService, Service
from twisted.trial import unittest
from zope.interface import implementer

from eucad.clc.clusterregistry import ClusterError, ClusterRegistry, checkCluster
from eucad.clc.clusters import ClusterSet
from eucad.common import trust
from eucad.common.config import EucaConf, Layout
from eucad.common.interfaces import ICluster


@implementer(ICluster)
class IdleLink(Service):
    """A link that is never called here: registering only starts and stops it."""

    def __init__(self, host, port):
        self.host, self.port = host, port


class ClusterRegistryTests(unittest.TestCase):
    def setUp(self):
        prefix = os.path.abspath(self.mktemp())
        self.layout = Layout(prefix)
        os.makedirs(os.path.dirname(self.layout.conf))
        trust.setup(self.layout.keys)
        self.conf = EucaConf.load(self.layout.conf)
        self.conf.set("CLUSTERS", "zone1@127.0.0.1:8774")
        self.conf.save()
        self.parent = MultiService()
        self.parent.startService()
        self.addCleanup(self.parent.stopService)
        self.clusters = ClusterSet([], clock=None)
        self.registry = ClusterRegistry(self.conf, self.layout, self.clusters, self.parent,
                                        lambda layout, host, port: IdleLink(host, port))
        self.registry.connectConfigured()

    def test_checks(self):
        """Each bad field is named once; the port defaults to 8774."""
        self.assertEqual(checkCluster("z", "cc.example.com", ""), ("z", "cc.example.com", 8774))
        with self.assertRaises(ClusterError) as caught:
            checkCluster("", "bad host", "70000")
        self.assertEqual(len(str(caught.exception).splitlines()), 3)

    def test_registerAndDeregister(self):
        """A new cluster is written to CLUSTERS, linked (started) and scheduled on; deregistering undoes it."""
        self.registry.register("zone2", "cc2.example.com", "8800")
        self.registry.connect("zone2", "cc2.example.com", 8800)
        self.assertEqual(self.clusters.names(), ["zone1", "zone2"])
        self.assertTrue(self.clusters["zone2"].link.running)
        self.assertEqual(EucaConf.load(self.layout.conf).get("CLUSTERS"),
                         "zone1@127.0.0.1:8774 zone2@cc2.example.com:8800")
        cert = trust.loadCert(trust.certPath(self.layout.keys, "cluster"))
        self.assertTrue(trust.certificateNames(cert, "cc2.example.com"))
        self.assertTrue(trust.certificateNames(cert, "127.0.0.1"))
        link = self.clusters["zone2"].link
        self.registry.deregister("zone2")
        self.assertFalse(link.running)
        self.assertEqual(self.clusters.names(), ["zone1"])
        self.assertEqual(EucaConf.load(self.layout.conf).get("CLUSTERS"),
                         "zone1@127.0.0.1:8774")

    def test_duplicateRefused(self):
        """A name already registered is refused and nothing is written."""
        with self.assertRaises(ClusterError):
            self.registry.register("zone1", "other", "8774")
        self.assertEqual(EucaConf.load(self.layout.conf).get("CLUSTERS"),
                         "zone1@127.0.0.1:8774")

    def test_keysKeptWhenTheyNameTheHost(self):
        """A cluster on a host the certificate names already keeps the existing keys."""
        path = trust.certPath(self.layout.keys, "cluster")
        before = open(path, "rb").read()
        self.registry.register("zone3", "127.0.0.1", "8900")
        self.assertEqual(open(path, "rb").read(), before)
