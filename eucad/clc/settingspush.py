"""Hands each cluster the cloud-wide settings the administrator chose.

The name servers of the configuration tab (``VNET_DNS`` in
``cloud_settings``) go to every cluster as one ``ClusterSettings`` record
through ``ICluster.applyClusterSettings``; the CC writes them into its
dhcpd's configuration.  ``SettingsPublisher`` is ``PolicyPublisher``'s loop
with another record: a push to every cluster as soon as the pages publish a
saved DNS setting (``eucad.clc.settingchanges``), and every ``interval``
seconds to a cluster whose link connected again since its last push (a CC
that restarted keeps nothing and gets them back here) or whose last push
failed.  No stored row: an empty record, each cluster's own VNET_DNS.
"""

from twisted.logger import Logger

from eucad.clc.policypush import PolicyPublisher
from eucad.common import cloudsettings
from eucad.common.clustersettings import ClusterSettings, parseDnsServers

log = Logger()

#: The ``cloud_settings`` keys the clusters take.
KEYS = ("VNET_DNS",)


def clusterSettings(session):
    """The ``ClusterSettings`` of the stored rows (in a db thread)."""
    stored = cloudsettings.storedSettings(session)
    return ClusterSettings(dnsServers=parseDnsServers(stored.get("VNET_DNS", "")))


class SettingsPublisher(PolicyPublisher):
    """
    @param cloud: the ``Cloud`` (its db, clusters and clock).
    @param changes: the ``SettingChanges`` the web pages publish saves on.
    """

    what = "cluster settings"

    def __init__(self, cloud, changes, interval=2.0):
        PolicyPublisher.__init__(self, cloud, interval)
        self.changes = changes

    def changeFeed(self):
        return self.changes

    def changed(self, values):
        if any(key in values for key in KEYS):
            PolicyPublisher.changed(self, values)

    def current(self, name):
        return self.cloud.db.run(clusterSettings)

    def deliver(self, entry, record):
        return entry.applyClusterSettings(record)

    def tookIt(self, name, record):
        log.info("cluster {name} took the cloud's name servers: {servers}", name=name,
                 servers=", ".join(record.dnsServers) or "its own VNET_DNS")
