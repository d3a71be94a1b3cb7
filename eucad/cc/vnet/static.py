"""STATIC mode: MAC/IP pairs from VNET_MACMAP, served by the CC's dhcpd.

As in the guide: the admin lists pairs (``VNET_MACMAP="MAC=IP MAC=IP"``), each
instance takes the first free pair in that order, and the CC's dhcpd answers
that MAC with that IP (one ``host`` entry per instance) on VNET_INTERFACE,
with the subnet, router, DNS and broadcast the admin configured.  Public and
private address are the same.
"""

import ipaddress

from twisted.logger import Logger

from eucad.cc.dhcpdconfig import DhcpdConfig, DhcpHost, normaliseMac
from eucad.cc.vnet.base import VirtualNetwork
from eucad.common.errors import CloudError

log = Logger()


def parseMacMap(text):
    """
    The ``(mac, ip)`` pairs of a VNET_MACMAP value, in order.

    @raise ValueError: for an entry without ``=``, a bad MAC or address, or a
        MAC or address listed twice.
    """
    pairs, macs, ips = [], set(), set()
    for entry in text.replace(",", " ").split():
        mac, sep, ip = entry.partition("=")
        if not sep:
            raise ValueError("VNET_MACMAP entry %r is not MAC=IP" % (entry,))
        mac = normaliseMac(mac)
        try:
            ip = str(ipaddress.IPv4Address(ip))
        except ValueError:
            raise ValueError("VNET_MACMAP entry %r has a bad address" % (entry,)) from None
        if mac in macs or ip in ips:
            raise ValueError("VNET_MACMAP lists %s twice" % (mac if mac in macs else ip,))
        macs.add(mac)
        ips.add(ip)
        pairs.append((mac, ip))
    return pairs


class StaticNetwork(VirtualNetwork):
    """
    First free pair of the MAC map per instance, and a dhcpd host entry for it.

    @param subnet: the DhcpSubnet from VNET_SUBNET, VNET_NETMASK, VNET_ROUTER,
        VNET_DNS and VNET_BROADCAST; every mapped address must lie in it.
    @param interface: VNET_INTERFACE, where dhcpd listens.
    """

    mode = "STATIC"
    usesDhcp = True

    def __init__(self, bridge, subnet, macmap, interface):
        VirtualNetwork.__init__(self, bridge, subnet.mtu)
        self.subnet = subnet
        self.interface = interface
        self.pairs = list(macmap)
        if not self.pairs:
            raise ValueError("STATIC mode needs VNET_MACMAP")
        for mac, ip in self.pairs:
            if ip not in subnet:
                raise ValueError("VNET_MACMAP address %s is outside %s" % (ip, subnet.network))
            if subnet.router is not None and ip == str(subnet.router):
                raise ValueError("VNET_MACMAP address %s is the router's" % (ip,))

    def _used(self):
        return {a["macAddress"] for a in self.allocations.values()}, \
            {a["privateIp"] for a in self.allocations.values()}

    def allocate(self, instanceId, owner, group, node=None):
        existing = self.allocations.get(instanceId)
        if existing is not None:
            return dict(existing)
        usedMacs, usedIps = self._used()
        for mac, ip in self.pairs:
            if mac not in usedMacs and ip not in usedIps:
                allocation = {"macAddress": mac, "privateIp": ip, "publicIp": ip}
                self.allocations[instanceId] = allocation
                return dict(allocation)
        # The CLC treats this like a lack of node room: the request cannot run.
        raise CloudError("InsufficientInstanceCapacity",
                         "No free MAC/IP pair left in VNET_MACMAP (%d in use)" % (
                             len(self.allocations),), 500)

    def adopt(self, instanceId, allocation):
        if (allocation.get("macAddress"), allocation.get("privateIp")) not in self.pairs:
            # The admin changed the map under a running instance: keep serving
            # it so the instance keeps its address; the pair is not reused.
            log.warn("{id} holds {mac}={ip}, which VNET_MACMAP no longer lists",
                     id=instanceId, mac=allocation.get("macAddress"),
                     ip=allocation.get("privateIp"))
        VirtualNetwork.adopt(self, instanceId, allocation)

    def dhcpConfig(self):
        hosts = [DhcpHost(instanceId, a["macAddress"], a["privateIp"])
                 for instanceId, a in self.allocations.items()
                 if a["privateIp"] in self.subnet]
        return DhcpdConfig([self.subnet], hosts)

    def dhcpInterfaces(self):
        return [self.interface]
