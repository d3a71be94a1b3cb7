"""Learning a SYSTEM-mode instance's address from what passes on the node.

In SYSTEM mode the CC makes up a MAC and the site's own DHCP server gives
the instance its address, so nobody in the cloud knows it (the guide shows
0.0.0.0).  The node sees every frame of its instances, though: the site
server's DHCPACK to the instance's MAC (``yiaddr``) says the address it
leased, and an ARP frame the instance sends says the address it uses.

``AddressWatch`` is a service holding one packet socket on the node (inside
``VNET_NETNS`` when the node's bridge lives in a namespace), with a kernel
filter that passes only ARP and DHCP server replies, so busy VMs cost the
node nothing here.  It keeps an address only for the MACs the node
controller says it wants (its live instances whose address is unknown), and
``fillIn`` puts the learnt addresses into the node's InstanceReports, which
carry them to the CC (``eucad.cc.reconcile`` learns them there, and the CLC
shows them).  A DHCPACK wins over an ARP guess; a DHCPACK is only believed
when someone else than the instance sent it.
"""

import ctypes
import errno
import ipaddress
import socket
import struct

import dpkt
from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import implementer
from twisted.internet.interfaces import IReadDescriptor

from eucad.common.netnssocket import makeSocketIn

log = Logger()

UNKNOWN_ADDRESSES = (None, "", "0.0.0.0")

ETH_P_ALL = 0x0003
ARPHRD_ETHER = 1
SO_ATTACH_FILTER = 26
#: Frames read per wake-up at most, so a storm cannot hold the reactor.
FRAMES_PER_READ = 64
FRAME_BYTES = 2048

# Classic BPF: accept ARP, and IPv4 UDP from port 67 (a DHCP server) that is
# not a later fragment; drop the rest in the kernel.
# (code, jump if true, jump if false, k)
_FILTER = (
    (0x28, 0, 0, 12),       # 0: A = ethertype
    (0x15, 8, 0, 0x0806),   # 1: ARP -> accept
    (0x15, 0, 8, 0x0800),   # 2: not IPv4 -> drop
    (0x30, 0, 0, 23),       # 3: A = IP protocol
    (0x15, 0, 6, 17),       # 4: not UDP -> drop
    (0x28, 0, 0, 20),       # 5: A = flags and fragment offset
    (0x45, 4, 0, 0x1fff),   # 6: a later fragment -> drop
    (0xb1, 0, 0, 14),       # 7: X = IP header length
    (0x48, 0, 0, 14),       # 8: A = UDP source port
    (0x15, 0, 1, 67),       # 9: not 67 -> drop
    (0x06, 0, 0, 0x40000),  # 10: accept the whole frame
    (0x06, 0, 0, 0),        # 11: drop
)


def attachFilter(sock, program=_FILTER):
    """Attach the classic BPF ``program`` to ``sock`` (SO_ATTACH_FILTER)."""
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    # The kernel copies the program during the call; ``buffer`` lives until then.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _mac(raw):
    return ":".join("%02x" % b for b in raw[:6])


def _ip(value):
    if isinstance(value, int):
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv4Address(bytes(value)))


def evidence(frame):
    """
    What one Ethernet frame says about an address, or None.

    @return: ``("dhcp", mac, ip)`` for a DHCPACK sent to ``mac`` by someone
        else, ``("arp", mac, ip)`` for an ARP frame whose sender ``mac``
        claims ``ip``.
    """
    try:
        eth = dpkt.ethernet.Ethernet(frame)
        payload = eth.data
        if isinstance(payload, dpkt.arp.ARP):
            if payload.op not in (dpkt.arp.ARP_OP_REQUEST, dpkt.arp.ARP_OP_REPLY) or \
                    payload.pro != dpkt.ethernet.ETH_TYPE_IP or payload.pln != 4:
                return None
            sender = _ip(payload.spa)
            if sender == "0.0.0.0" or _mac(payload.sha) != _mac(eth.src):
                return None
            return ("arp", _mac(payload.sha), sender)
        if not isinstance(payload, dpkt.ip.IP) or not isinstance(payload.data, dpkt.udp.UDP):
            return None
        udp = payload.data
        if udp.sport != 67 or udp.dport not in (67, 68):
            return None
        dhcp = dpkt.dhcp.DHCP(udp.data)
        if dhcp.op != dpkt.dhcp.DHCP_OP_REPLY or dhcp.hln != 6:
            return None
        kind = dict(dhcp.opts).get(dpkt.dhcp.DHCP_OPT_MSGTYPE)
        if kind != bytes([dpkt.dhcp.DHCPACK]):
            return None
        client, leased = _mac(dhcp.chaddr), _ip(dhcp.yiaddr)
        if leased == "0.0.0.0" or _mac(eth.src) == client:
            # An INFORM's answer, or an instance answering itself.
            return None
        return ("dhcp", client, leased)
    except (dpkt.UnpackError, ValueError, struct.error, IndexError):
        return None


class AddressBook:
    """
    Addresses learnt per MAC, kept only for the MACs someone wants.

    @param wanted: returns the MACs (lower case, colons) to learn addresses
        for; asked on every piece of evidence.
    @param learned: called with ``(mac, ip)`` when an address is new or changed.
    """

    def __init__(self, wanted=lambda: (), learned=lambda mac, ip: None):
        self.wanted = wanted
        self.learned = learned
        self.addresses = {}
        self._fromDhcp = set()

    def note(self, found):
        """Take one ``evidence`` tuple (or None)."""
        if found is None:
            return
        source, mac, ip = found
        if mac not in self.wanted():
            return
        if source == "arp" and mac in self._fromDhcp:
            return
        if source == "dhcp":
            self._fromDhcp.add(mac)
        if self.addresses.get(mac) != ip:
            self.addresses[mac] = ip
            log.info("{mac} is at {ip} (from {source})", mac=mac, ip=ip, source=source)
            self.learned(mac, ip)

    def addressOf(self, mac):
        return self.addresses.get((mac or "").lower())

    def fillIn(self, reports):
        """
        ``reports`` (InstanceReports) with the learnt address of each one
        whose address is unknown; entries nobody wants any more are dropped.
        """
        wanted = set(self.wanted())
        for mac in [m for m in self.addresses if m not in wanted]:
            del self.addresses[mac]
            self._fromDhcp.discard(mac)
        answer = []
        for report in reports:
            ip = self.addressOf(report.macAddress)
            if ip and report.privateIp in UNKNOWN_ADDRESSES:
                report = report.replace(privateIp=ip, publicIp=ip)
            answer.append(report)
        return answer


def packetSocket():
    """A non-blocking packet socket for every interface, filtered (needs root)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        attachFilter(sock)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@implementer(IReadDescriptor)
class AddressWatch(Service, AddressBook):
    """
    The AddressBook fed from a packet socket while the service runs.

    @param namespace: the network namespace the node's bridge is in, or
        empty for the daemon's own.
    @param openSocket: makes the socket (a socketpair in tests).
    """

    def __init__(self, namespace=None, reactor=None, openSocket=packetSocket,
                 wanted=lambda: (), learned=lambda mac, ip: None):
        AddressBook.__init__(self, wanted, learned)
        self.namespace = namespace or None
        self.reactor = reactor
        self.openSocket = openSocket
        self.sock = None

    def startService(self):
        Service.startService(self)
        if self.reactor is None:
            from twisted.internet import reactor
            self.reactor = reactor
        try:
            self.sock = makeSocketIn(self.namespace, self.openSocket)
        except Exception as e:
            # The node still runs instances; their addresses stay unknown.
            log.error("cannot watch for instance addresses{where}: {e}",
                      where=" in %s" % self.namespace if self.namespace else "", e=e)
            return
        self.reactor.addReader(self)
        log.info("watching ARP and DHCP for instance addresses{where}",
                 where=" in %s" % self.namespace if self.namespace else "")

    def stopService(self):
        Service.stopService(self)
        if self.sock is not None:
            self.reactor.removeReader(self)
            self.sock.close()
            self.sock = None

    # IReadDescriptor -----------------------------------------------------------

    def fileno(self):
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self):
        return "AddressWatch"

    def doRead(self):
        for _ in range(FRAMES_PER_READ):
            try:
                frame, where = self.sock.recvfrom(FRAME_BYTES)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    return None
                log.warn("address watch read failed: {e}", e=e)
                return None
            # A packet socket says the link type; a socketpair in tests says nothing.
            if isinstance(where, tuple) and len(where) > 3 and where[3] != ARPHRD_ETHER:
                continue
            self.note(evidence(frame))
        return None

    def connectionLost(self, reason):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
