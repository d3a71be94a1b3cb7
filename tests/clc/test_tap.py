"""The CLC's twistd tap: the service tree, no I/O before start, and a start/stop."""

import os

from twisted.application import internet
from twisted.internet import defer, reactor
from twisted.trial import unittest

from eucad.clc import tap
from eucad.clc.poller import ClusterPoller, ClusterWatcher
from eucad.clc.policypush import PolicyPublisher
from eucad.clc.settingspush import SettingsPublisher
from eucad.clc.startup import CloudStartup
from eucad.clc.web.server import WebServer
from eucad.common.config import EucaConf
from eucad.common.daemon import LoggingService
from eucad.common.db import Database
from eucad.common.interfaces import ICluster
from eucad.common.links import ClusterLink
from eucad.common.listening import ListeningService


class TapTests(unittest.TestCase):

    def makeOptions(self, **conf):
        prefix = os.path.abspath(self.mktemp())
        eucaConf = EucaConf.load(os.path.join(prefix, "etc", "eucalyptus",
                                              "eucalyptus.conf"))
        conf.setdefault("WEB_PORT", "0")
        for key, value in conf.items():
            eucaConf.set(key, value)
        eucaConf.save()
        options = tap.Options()
        options.parseOptions(["--prefix", prefix])
        return options

    def files(self, prefix):
        return sorted(os.path.relpath(os.path.join(d, f), prefix)
                      for d, _, names in os.walk(prefix) for f in names)

    def test_tree(self):
        """makeService builds log, DB, one link per cluster, recovery, poller, watcher, policy publisher, metadata, settings publisher, web."""
        options = self.makeOptions(CLUSTERS="z1@127.0.0.1:8774 z2@cc2:9000",
                                   CLOUD_PORT="0", CLOUD_LISTEN="127.0.0.1",
                                   METADATA_PORT="0", METADATA_LISTEN="127.0.0.1",
                                   WEB_PORT="8443")
        root = tap.makeService(options)
        children = list(root)
        kinds = [type(child) for child in children]
        self.assertEqual(kinds, [LoggingService, Database, ClusterLink, ClusterLink,
                                 CloudStartup, ClusterPoller, ClusterWatcher,
                                 PolicyPublisher, internet.TCPServer, SettingsPublisher,
                                 WebServer, ListeningService])
        self.assertEqual(children[-4].name, "metadata")
        self.assertIs(children[-4].args[1].resource.db, children[1])
        self.assertEqual(children[-3].interval, 2.0)
        self.assertIs(children[-2].site.resource.settingChanges,
                      children[-3].changes)
        self.assertTrue(ICluster.providedBy(children[2]))
        self.assertEqual((children[3].host, children[3].port), ("cc2", 9000))
        self.assertEqual(children[5].interval, 2.0)
        self.assertIs(children[6].poller, children[5])
        self.assertEqual(children[7].interval, 2.0)
        self.assertEqual(children[6].retryDelay, 2.0)

    def test_apiWaitsForStartup(self):
        """The EC2 resource the web server serves asks the start-up service whether it is ready."""
        options = self.makeOptions(CLOUD_PORT="0", CLOUD_LISTEN="127.0.0.1")
        children = list(tap.makeService(options))
        startup = [c for c in children if isinstance(c, CloudStartup)][0]
        web = [c for c in children if isinstance(c, ListeningService)][0]
        site = web.factory
        ec2 = site.resource.children[b"services"].children[b"Eucalyptus"]
        self.assertFalse(ec2.isReady())
        startup.recovered = True
        self.assertTrue(ec2.isReady())

    def test_noIoBeforeStart(self):
        """Building the tree creates no file: no DB, no log, no keys read."""
        options = self.makeOptions(CLUSTERS="z1@127.0.0.1:8774", CLOUD_PORT="0")
        before = self.files(options["prefix"])
        tap.makeService(options)
        self.assertEqual(self.files(options["prefix"]), before)

    @defer.inlineCallbacks
    def test_startAndStop(self):
        """Started, the CLC opens its DB, writes VM types, listens, and stops cleanly."""
        options = self.makeOptions(CLOUD_PORT="0", CLOUD_LISTEN="127.0.0.1",
                                   METADATA_PORT="0", METADATA_LISTEN="127.0.0.1",
                                   CLUSTERS="z1@127.0.0.1:1")
        root = tap.makeService(options, reactor=reactor)
        root.startService()
        try:
            startup = [c for c in root if isinstance(c, CloudStartup)][0]
            yield startup.ready
            web = [c for c in root if isinstance(c, ListeningService)][0]
            self.assertGreater(web.port.getHost().port, 0)
            from eucad.clc.vmtypes import listVmTypes
            db = [c for c in root if isinstance(c, Database)][0]
            types = yield db.run(listVmTypes)
            self.assertEqual(len(types), 5)
        finally:
            yield root.stopService()
        files = self.files(options["prefix"])
        self.assertIn("var/lib/eucalyptus/db/eucalyptus.db", files)
        self.assertIn("var/log/eucalyptus/cloud-output.log", files)
