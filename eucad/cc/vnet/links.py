"""The argv of every link command the MANAGED modes run (ip, bridge).

Pure functions returning argv lists; the ``ProcessRunner`` (with the front
end's namespace, if any) runs them, and tests compare them exactly.  The
sequences (``tagNetworkUp`` and friends) are what the CC runs on the front
end when a security group's network comes and goes, and what a node runs
for the same tag; they are lists so that a failure part-way can be undone
by running ``tagNetworkDown`` for whatever exists.

A security group's network is a *tag* -- an 802.1q VLAN id on the private
interface, or a VXLAN network identifier -- plus a bridge per tag holding
the tagged link (and, on a node, the VMs' taps).  VXLAN floods broadcast by
head-end replication: the all-zero MAC in the forwarding table lists every
other endpoint (``bridge fdb append``), so no multicast is needed.
"""

import ipaddress
import re

VXLAN_PORT = 4789
#: The all-zero MAC: the forwarding entry for broadcast and unknown unicast.
FLOOD_MAC = "00:00:00:00:00:00"

_INTERFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


def checkInterface(name):
    """``name`` if the kernel would take it as an interface name, else ValueError."""
    if not isinstance(name, str) or not _INTERFACE.match(name):
        raise ValueError("bad interface name %r (1 to 15 letters, digits, '_', '.', ':', '-')"
                         % (name,))
    return name


def _address(value):
    return str(ipaddress.IPv4Address(value))


def _tag(tag, low, high, what):
    if isinstance(tag, bool) or not isinstance(tag, int) or not low <= tag <= high:
        raise ValueError("%s %r is outside %d..%d" % (what, tag, low, high))
    return str(tag)


# ---- names ----

def bridgeName(tag):
    """The bridge of a group network (same name on the front end and the nodes)."""
    return checkInterface("eucabr%d" % (tag,))


def vxlanName(vni):
    return checkInterface("vx%d" % (vni,))


def vlanName(device, vlan):
    return checkInterface("%s.%d" % (device, vlan))


# ---- single commands ----

def addVxlan(vni, local, device, port=VXLAN_PORT):
    """A VXLAN link for ``vni`` whose tunnels leave from ``local`` on ``device``."""
    return ["ip", "link", "add", vxlanName(vni), "type", "vxlan",
            "id", _tag(vni, 1, (1 << 24) - 1, "VXLAN VNI"), "dstport", str(port),
            "local", _address(local), "dev", checkInterface(device)]


def addFloodPeer(vni, peer):
    """Replicate broadcast frames of ``vni`` to the endpoint ``peer``."""
    return ["bridge", "fdb", "append", FLOOD_MAC, "dev", vxlanName(vni), "dst", _address(peer)]


def deleteFloodPeer(vni, peer):
    return ["bridge", "fdb", "del", FLOOD_MAC, "dev", vxlanName(vni), "dst", _address(peer)]


def showFloodEntries(vni):
    """The forwarding entries of ``vni``'s link (read by ``floodPeersIn``)."""
    return ["bridge", "fdb", "show", "dev", vxlanName(vni)]


def floodPeersIn(text):
    """
    The flood peers in ``bridge fdb show`` output: the ``dst`` of every
    all-zeros entry (``00:00:00:00:00:00 dst 10.77.0.1 self permanent``).
    """
    peers = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == FLOOD_MAC and words[1] == "dst":
            try:
                peers.add(_address(words[2]))
            except ValueError:
                continue
    return peers


def noRedirects(device):
    """Send no ICMP redirects from ``device`` (nor from any: the kernel ORs both)."""
    return ["sysctl", "-q", "-w", "net/ipv4/conf/all/send_redirects=0",
            "net/ipv4/conf/%s/send_redirects=0" % (checkInterface(device),)]


def addVlan(device, vlan):
    """An 802.1q link for ``vlan`` on ``device`` (named DEVICE.VLAN)."""
    return ["ip", "link", "add", "link", checkInterface(device), "name", vlanName(device, vlan),
            "type", "vlan", "id", _tag(vlan, 1, 4094, "VLAN id")]


def addBridge(name):
    return ["ip", "link", "add", checkInterface(name), "type", "bridge"]


def setMaster(device, bridge):
    return ["ip", "link", "set", "dev", checkInterface(device), "master", checkInterface(bridge)]


def setUp(device):
    return ["ip", "link", "set", "dev", checkInterface(device), "up"]


def deleteLink(device):
    return ["ip", "link", "delete", "dev", checkInterface(device)]


def addAddress(cidr, device):
    """``cidr`` like 10.100.0.1/27 or 192.0.2.10/32 on ``device``."""
    return ["ip", "addr", "add", str(ipaddress.IPv4Interface(cidr)), "dev",
            checkInterface(device)]


def deleteAddress(cidr, device):
    return ["ip", "addr", "del", str(ipaddress.IPv4Interface(cidr)), "dev",
            checkInterface(device)]


def showAddresses(device):
    """The IPv4 addresses on ``device``, one line each (read by ``addressesIn``)."""
    return ["ip", "-o", "-4", "addr", "show", "dev", checkInterface(device)]


def addressesIn(text):
    """
    The CIDRs in ``ip -o -4 addr show`` output
    (``3: priv0    inet 10.100.0.1/27 scope global priv0``...).
    """
    found = set()
    for line in text.splitlines():
        words = line.split()
        if "inet" in words[:-1]:
            found.add(words[words.index("inet") + 1])
    return found


def addPublicAddress(publicIp, device):
    """
    An elastic IP on the front end's public interface: ``ip addr replace
    PUB/32``, which succeeds when the address is there already (an earlier
    CC run may have left it for an association its state file never
    recorded), where ``add`` would fail the whole policy.
    """
    return ["ip", "addr", "replace", "%s/32" % (_address(publicIp),), "dev",
            checkInterface(device)]


def deletePublicAddress(publicIp, device):
    return deleteAddress("%s/32" % (_address(publicIp),), device)


# ---- sequences ----

def taggedLinkName(encap, tag, device):
    """The name of the tagged link of ``tag`` (``vxN`` or ``DEVICE.N``)."""
    if encap == "vxlan":
        return vxlanName(tag)
    if encap == "vlan":
        return vlanName(device, tag)
    raise ValueError("unknown encapsulation %r" % (encap,))


def tagNetworkUp(encap, tag, device, local=None, peers=(), routerCidr=None):
    """
    The commands that make the network of ``tag``: the tagged link on
    ``device``, its bridge, flood entries for ``peers`` (VXLAN), and the
    router address ``routerCidr`` on the bridge (front end only).
    """
    link = taggedLinkName(encap, tag, device)
    bridge = bridgeName(tag)
    if encap == "vxlan":
        if local is None:
            raise ValueError("a VXLAN link needs its local address")
        commands = [addVxlan(tag, local, device)]
    else:
        commands = [addVlan(device, tag)]
    commands += [addBridge(bridge), setMaster(link, bridge), setUp(link), setUp(bridge)]
    if encap == "vxlan":
        commands += [addFloodPeer(tag, peer) for peer in peers]
    if routerCidr is not None:
        commands.append(addAddress(routerCidr, bridge))
    return commands


def tagNetworkDown(encap, tag, device):
    """The commands that remove the network of ``tag`` (addresses go with it)."""
    return [deleteLink(bridgeName(tag)), deleteLink(taggedLinkName(encap, tag, device))]
