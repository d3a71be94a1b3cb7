"""The cloud-wide settings the CLC hands each cluster, as one typed record.

The administrator sets them on the web pages' configuration tab (rows of
``cloud_settings``); the CLC sends every cluster one ``ClusterSettings``
through ``ICluster.applyClusterSettings`` when they change and again when a
link connects (``eucad.clc.settingspush``), and the CC puts them in force
(``ClusterController.applyClusterSettings``).  The record checks its fields
when it is made and again when PB unpacks it, so a CC never writes a
malformed address into dhcpd.conf.

- ``dnsServers``: the name servers the cloud's VMs get from the CC's dhcpd
  (``option domain-name-servers``), at most ``MAX_DNS_SERVERS`` IPv4
  addresses; empty: each cluster's own VNET_DNS.
"""

import ipaddress
from typing import Tuple

from eucad.common.records import Record, invalid, linkRecord

#: A resolver reads at most three ``nameserver`` lines (resolv.conf(5)).
MAX_DNS_SERVERS = 3


def parseDnsServers(text):
    """
    ``"a, b c"`` as a tuple of IPv4 address strings; ValueError naming the
    first word that is not one, or when there are more than MAX_DNS_SERVERS.
    """
    words = (text or "").replace(",", " ").split()
    servers = []
    for word in words:
        try:
            address = ipaddress.IPv4Address(word)
        except ValueError:
            raise ValueError("%r is not an IPv4 address" % (word,)) from None
        if address.is_unspecified or address.is_multicast:
            raise ValueError("%s cannot be a name server" % (word,))
        if str(address) not in servers:
            servers.append(str(address))
    if len(servers) > MAX_DNS_SERVERS:
        raise ValueError("at most %d name servers" % (MAX_DNS_SERVERS,))
    return tuple(servers)


@linkRecord
class ClusterSettings(Record):
    """What every cluster of the cloud takes from the CLC's settings."""

    dnsServers: Tuple[str, ...] = ()

    def check(self, where):
        value = self.dnsServers
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise invalid(where + "dnsServers", "must be a list of IPv4 addresses")
        try:
            servers = parseDnsServers(" ".join(value))
        except ValueError as e:
            raise invalid(where + "dnsServers", str(e)) from None
        if len(servers) != len(value):
            raise invalid(where + "dnsServers", "names a server twice")
        self._set("dnsServers", servers)
