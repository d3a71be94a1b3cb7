"""The CLC hands each cluster the administrator's DNS servers as one ClusterSettings."""

from eucad.clc.settingchanges import SettingChanges
from eucad.clc.settingspush import SettingsPublisher
from eucad.common import cloudsettings
from eucad.common.clustersettings import ClusterSettings
from eucad.common.errors import CloudError

from tests.clc.test_api import ApiTestCase


class SettingsPublisherTests(ApiTestCase):

    def setUp(self):
        ApiTestCase.setUp(self)
        self.changes = SettingChanges()
        self.publisher = SettingsPublisher(self.cloud, self.changes, interval=2.0)
        self.publisher.startService()
        self.addCleanup(self.publisher.stopService)

    def save(self, **values):
        """Store ``values`` as the configuration page does, then publish them."""
        saved = self.cloud.db.transact(lambda s: cloudsettings.saveSettings(s, values))
        self.changes.publish(saved)

    def pushes(self, cluster):
        return [call for call in cluster.calls if call[0] == "applyClusterSettings"]

    def test_emptySettingsAtStart(self):
        """At start each cluster gets the settings: none stored means no DNS override."""
        for cluster in (self.zone1, self.zone2):
            self.assertEqual(cluster.settings, ClusterSettings(dnsServers=()))

    def test_savedDnsIsPushedAtOnce(self):
        """A saved DNS setting reaches every cluster during the save, with no poll round waited for."""
        self.save(VNET_DNS="192.0.2.53,  198.51.100.7")
        for cluster in (self.zone1, self.zone2):
            self.assertEqual(cluster.settings.dnsServers, ("192.0.2.53", "198.51.100.7"))
        self.save(VNET_DNS="")
        self.assertEqual(self.zone1.settings.dnsServers, ())

    def test_otherSettingsSendNothing(self):
        """Saving a setting the clusters do not take sends nothing."""
        before = len(self.pushes(self.zone1))
        self.save(WALRUS_MAX_BUCKETS_PER_USER="3")
        self.cloud.clock.advance(2)
        self.assertEqual(len(self.pushes(self.zone1)), before)

    def test_reconnectedClusterGetsThemAgain(self):
        """A cluster whose link connected again (a restarted CC keeps nothing) gets the same settings again."""
        self.save(VNET_DNS="192.0.2.53")
        self.zone1.connectionCount = 1
        self.cloud.clock.advance(2)
        before = len(self.pushes(self.zone1))
        self.cloud.clock.advance(2)
        self.assertEqual(len(self.pushes(self.zone1)), before)
        self.zone1.connectionCount = 2
        self.cloud.clock.advance(2)
        self.assertEqual(len(self.pushes(self.zone1)), before + 1)
        self.assertEqual(self.zone1.settings.dnsServers, ("192.0.2.53",))

    def test_refusalIsRetried(self):
        """A cluster that refused the settings once (dhcpd failed) gets them at the next check."""
        self.zone1.failures["applyClusterSettings"] = CloudError("InternalError", "boom", 500)
        self.save(VNET_DNS="192.0.2.53")
        self.assertEqual(self.zone1.settings.dnsServers, ())
        self.assertEqual(self.zone2.settings.dnsServers, ("192.0.2.53",))
        self.cloud.clock.advance(2)
        self.assertEqual(self.zone1.settings.dnsServers, ("192.0.2.53",))
