"""The text of the CC's ``dhcpd.conf``: subnets and one ``host`` entry per instance.

``DhcpdConfig`` renders the file from ``DhcpSubnet``s and ``DhcpHost``s,
always in the same order, so that an unchanged allocation gives an unchanged
file (and no restart of the daemon).  The network modes build it
(``eucad.cc.vnet``); ``eucad.cc.dhcpd.DhcpdProcess`` serves it.  Every value
is checked when its object is made, so nothing a request carries can break
out of its statement.
"""

import ipaddress
import re

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _address(value, what):
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("%s is not an IPv4 address: %r" % (what, value)) from None


def normaliseMac(mac):
    """``mac`` in lower case with colons; ValueError if it is not a MAC."""
    mac = str(mac).strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise ValueError("not a MAC address: %r" % (mac,))
    return mac


class DhcpSubnet:
    """
    One ``subnet`` declaration and the options its clients get.

    Empty router/broadcast/dns leave the option out; ``mtu`` adds
    ``option interface-mtu`` (VXLAN networks need 1450).
    """

    def __init__(self, subnet, netmask, router=None, dns=(), broadcast=None,
                 mtu=None, domainName=None):
        self.network = ipaddress.IPv4Network("%s/%s" % (
            _address(subnet, "VNET_SUBNET"), _address(netmask, "VNET_NETMASK")))
        self.router = _address(router, "VNET_ROUTER") if router else None
        if isinstance(dns, str):
            dns = dns.replace(",", " ").split()
        self.dns = [_address(d, "VNET_DNS") for d in dns]
        self.broadcast = _address(broadcast, "VNET_BROADCAST") if broadcast else None
        if mtu is not None and not (isinstance(mtu, int) and 576 <= mtu <= 65535):
            raise ValueError("interface-mtu must be an integer in 576..65535: %r" % (mtu,))
        self.mtu = mtu
        if domainName is not None and not re.match(r"^[A-Za-z0-9.-]+$", domainName):
            raise ValueError("bad domain name %r" % (domainName,))
        self.domainName = domainName
        for address, what in ((self.router, "VNET_ROUTER"),
                              (self.broadcast, "VNET_BROADCAST")):
            if address is not None and address not in self.network:
                raise ValueError("%s %s is outside %s" % (what, address, self.network))

    def __contains__(self, address):
        return ipaddress.IPv4Address(address) in self.network

    def render(self):
        lines = ["subnet %s netmask %s {" % (self.network.network_address,
                                               self.network.netmask),
                 "  option subnet-mask %s;" % (self.network.netmask,)]
        if self.broadcast:
            lines.append("  option broadcast-address %s;" % (self.broadcast,))
        if self.router:
            lines.append("  option routers %s;" % (self.router,))
        if self.dns:
            lines.append("  option domain-name-servers %s;" % (
                ", ".join(str(d) for d in self.dns),))
        if self.domainName:
            lines.append('  option domain-name "%s";' % (self.domainName,))
        if self.mtu:
            lines.append("  option interface-mtu %d;" % (self.mtu,))
        lines.append("}")
        return "\n".join(lines)


class DhcpHost:
    """One ``host`` entry: an instance's MAC and its fixed address."""

    def __init__(self, name, mac, ip):
        if not _HOSTNAME.match(name):
            raise ValueError("bad dhcpd host name %r" % (name,))
        self.name = name
        self.mac = normaliseMac(mac)
        self.ip = _address(ip, "fixed-address")

    def render(self):
        return "host %s {\n  hardware ethernet %s;\n  fixed-address %s;\n}" % (
            self.name, self.mac, self.ip)


class DhcpdConfig:
    """
    The whole ``dhcpd.conf``: global settings, subnets (in one
    ``shared-network`` if named), then hosts.

    Subnets are sorted by network and hosts by address then name, so the text
    depends only on what is allocated, not on the order it was allocated in.

    @raise ValueError: for a host outside every subnet, or a MAC or address
        used twice (dhcpd would answer one of them wrongly).
    """

    def __init__(self, subnets, hosts=(), leaseSeconds=3600, sharedNetwork=None):
        if sharedNetwork is not None and not _HOSTNAME.match(sharedNetwork):
            raise ValueError("bad shared-network name %r" % (sharedNetwork,))
        self.sharedNetwork = sharedNetwork
        self.subnets = sorted(subnets, key=lambda s: (int(s.network.network_address),
                                                      s.network.prefixlen))
        self.hosts = sorted(hosts, key=lambda h: (int(h.ip), h.name))
        self.leaseSeconds = int(leaseSeconds)
        seenMacs, seenIps, seenNames = set(), set(), set()
        for host in self.hosts:
            if not any(host.ip in subnet.network for subnet in self.subnets):
                raise ValueError("%s (%s) is outside every subnet" % (host.ip, host.name))
            for value, seen, what in ((host.mac, seenMacs, "MAC"), (host.ip, seenIps, "address"),
                                      (host.name, seenNames, "host name")):
                if value in seen:
                    raise ValueError("%s %s is used twice" % (what, value))
                seen.add(value)

    def render(self):
        """The text of dhcpd.conf."""
        parts = [
            "# Written by the eucad cluster controller; changes here are overwritten.",
            "ddns-update-style none;",
            "authoritative;",
            "default-lease-time %d;" % (self.leaseSeconds,),
            "max-lease-time %d;" % (self.leaseSeconds,),
            "",
        ]
        parts.extend(self.renderSubnets())
        for host in self.hosts:
            parts.extend([host.render(), ""])
        return "\n".join(parts)

    def renderSubnets(self):
        """
        The subnet declarations, each followed by an empty line; inside one
        ``shared-network`` when ``sharedNetwork`` names it: several subnets
        served on one interface (MANAGED-NOVLAN's slices) must be declared
        as one physical network, or dhcpd refuses to start ("Interface ...
        matches multiple shared networks").
        """
        parts = []
        for subnet in self.subnets:
            parts.extend([subnet.render(), ""])
        if self.sharedNetwork is None or not self.subnets:
            return parts
        return ["shared-network %s {" % (self.sharedNetwork,)] + parts + ["}", ""]
