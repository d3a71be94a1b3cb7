"""The NC learning SYSTEM-mode addresses from DHCPACKs and ARP on the node."""

import os
import shutil
import socket
import subprocess

import dpkt
from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.records import InstanceReport
from eucad.nc.addresswatch import AddressBook, AddressWatch, evidence, packetSocket
from tests.nc.specs import runSpec
from tests.nc.test_node import NodeTestCase, eventually

VM = "d2:0d:00:00:00:01"
SERVER = "aa:bb:cc:00:00:fe"


def _macBytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


def dhcpFrame(kind=dpkt.dhcp.DHCPACK, client=VM, leased="10.78.0.150", sender=SERVER,
              op=dpkt.dhcp.DHCP_OP_REPLY, sport=67):
    """An Ethernet frame carrying a DHCP message from ``sender``."""
    message = dpkt.dhcp.DHCP(op=op, chaddr=_macBytes(client) + b"\0" * 10,
                             yiaddr=int.from_bytes(socket.inet_aton(leased), "big"),
                             opts=[(dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([kind]))])
    udp = dpkt.udp.UDP(sport=sport, dport=68, data=bytes(message))
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=socket.inet_aton("10.78.0.250"), dst=socket.inet_aton(leased),
                    p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=_macBytes(sender), dst=_macBytes(client),
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def arpFrame(sender=VM, claims="10.78.0.151", asks="10.78.0.1"):
    """A broadcast ARP request from ``sender`` saying it is ``claims``."""
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REQUEST, sha=_macBytes(sender),
                       spa=socket.inet_aton(claims), tha=b"\0" * 6, tpa=socket.inet_aton(asks))
    return bytes(dpkt.ethernet.Ethernet(src=_macBytes(sender), dst=b"\xff" * 6,
                                        type=dpkt.ethernet.ETH_TYPE_ARP, data=arp))


def tcpFrame(sender=VM):
    """A TCP segment from ``sender``: nothing the watch learns from."""
    tcp = dpkt.tcp.TCP(sport=80, dport=40000, data=b"hello")
    ip = dpkt.ip.IP(src=socket.inet_aton("10.78.0.150"), dst=socket.inet_aton("10.78.0.1"),
                    p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=_macBytes(sender), dst=_macBytes(SERVER),
                                        type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


class EvidenceTests(unittest.TestCase):
    """What one frame says."""

    def test_dhcpAck(self):
        """A server's DHCPACK names the client's MAC and the leased address."""
        self.assertEqual(evidence(dhcpFrame()), ("dhcp", VM, "10.78.0.150"))

    def test_otherDhcpMessages(self):
        """An OFFER, a NAK or a client's own request teaches nothing."""
        self.assertIsNone(evidence(dhcpFrame(kind=dpkt.dhcp.DHCPOFFER)))
        self.assertIsNone(evidence(dhcpFrame(kind=dpkt.dhcp.DHCPNAK)))
        self.assertIsNone(evidence(dhcpFrame(op=dpkt.dhcp.DHCP_OP_REQUEST)))

    def test_ackFromTheClientItself(self):
        """A DHCPACK the instance sends about itself is not believed."""
        self.assertIsNone(evidence(dhcpFrame(sender=VM)))

    def test_arp(self):
        """An ARP frame says which address its sender uses; a probe (0.0.0.0) says nothing."""
        self.assertEqual(evidence(arpFrame()), ("arp", VM, "10.78.0.151"))
        self.assertIsNone(evidence(arpFrame(claims="0.0.0.0")))

    def test_noise(self):
        """Garbage, truncated frames and other traffic are ignored, not raised."""
        self.assertIsNone(evidence(b""))
        self.assertIsNone(evidence(b"\xff" * 13))
        self.assertIsNone(evidence(dhcpFrame()[:60]))
        self.assertIsNone(evidence(tcpFrame()))


def report(mac=VM, privateIp="0.0.0.0", instanceId="i-00000001"):
    spec = runSpec(instanceId, macAddress=mac, privateIp=privateIp)
    return InstanceReport.ofSpec(spec, "running", 1700000000)


class AddressBookTests(unittest.TestCase):
    """Which addresses are kept and how reports get them."""

    def setUp(self):
        self.wanted = {VM}
        self.heard = []
        self.book = AddressBook(lambda: self.wanted, lambda mac, ip: self.heard.append((mac, ip)))

    def test_learnsWantedOnly(self):
        """Addresses of MACs nobody wants are not kept (the table stays bounded)."""
        self.book.note(evidence(dhcpFrame(client="d2:0d:00:00:00:99")))
        self.book.note(evidence(dhcpFrame()))
        self.assertEqual(self.book.addresses, {VM: "10.78.0.150"})
        self.assertEqual(self.heard, [(VM, "10.78.0.150")])

    def test_dhcpWinsOverArp(self):
        """ARP names an address until a DHCPACK is seen; after it, ARP cannot change it."""
        self.book.note(evidence(arpFrame(claims="10.78.0.151")))
        self.assertEqual(self.book.addressOf(VM), "10.78.0.151")
        self.book.note(evidence(dhcpFrame(leased="10.78.0.150")))
        self.book.note(evidence(arpFrame(claims="10.78.0.151")))
        self.assertEqual(self.book.addressOf(VM), "10.78.0.150")
        self.assertEqual(self.heard, [(VM, "10.78.0.151"), (VM, "10.78.0.150")])

    def test_repeatIsNoNews(self):
        """The same ACK seen twice (on the uplink and on the tap) is heard of once."""
        self.book.note(evidence(dhcpFrame()))
        self.book.note(evidence(dhcpFrame()))
        self.assertEqual(len(self.heard), 1)

    def test_fillIn(self):
        """Reports with an unknown address get the learnt one; known addresses stay."""
        self.book.note(evidence(dhcpFrame()))
        filled = self.book.fillIn([report(), report(privateIp="10.78.0.7", instanceId="i-00000002")])
        self.assertEqual((filled[0].privateIp, filled[0].publicIp), ("10.78.0.150", "10.78.0.150"))
        self.assertEqual(filled[1].privateIp, "10.78.0.7")

    def test_forgetsUnwanted(self):
        """Once its instance is gone, a MAC's address is dropped at the next fill-in."""
        self.book.note(evidence(dhcpFrame()))
        self.wanted = set()
        self.assertEqual(self.book.fillIn([report()])[0].privateIp, "0.0.0.0")
        self.assertEqual(self.book.addresses, {})


class AddressWatchSocketTests(unittest.TestCase):
    """The service reading frames from its socket on the reactor."""

    @defer.inlineCallbacks
    def test_readsFramesFromItsSocket(self):
        """Frames arriving on the socket are read on the reactor and learnt; stop closes it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        heard = []
        watch = AddressWatch(openSocket=lambda: ours, wanted=lambda: {VM},
                             learned=lambda mac, ip: heard.append(ip))
        watch.startService()
        self.addCleanup(watch.stopService)
        theirs.send(tcpFrame())
        theirs.send(dhcpFrame())
        yield eventually(lambda: heard == ["10.78.0.150"])
        watch.stopService()
        self.assertIsNone(watch.sock)

    def test_noSocketNoWatch(self):
        """A socket that cannot be made (not root, no namespace) is logged; the node goes on."""
        watch = AddressWatch(namespace="eucad-no-such-namespace")
        watch.startService()
        self.addCleanup(watch.stopService)
        self.assertIsNone(watch.sock)
        self.assertEqual(len(self.flushLoggedErrors()), 0)


def _canUseNamespaces():
    return os.geteuid() == 0 and shutil.which("ip") is not None


class PacketSocketInNamespaceTests(unittest.TestCase):
    """The real packet socket and kernel filter, in a namespace this test makes."""

    def setUp(self):
        if not _canUseNamespaces():
            raise unittest.SkipTest("needs root and ip for a network namespace")
        self.ns = "eucad-aw%d" % (os.getpid() % 100000,)
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "delete", self.ns])
        for argv in (["ip", "link", "add", "a0", "type", "veth", "peer", "name", "b0"],
                     ["ip", "link", "set", "a0", "up"], ["ip", "link", "set", "b0", "up"]):
            subprocess.run(["ip", "netns", "exec", self.ns] + argv, check=True)

    @defer.inlineCallbacks
    def test_filterPassesDhcpAndArpOnly(self):
        """
        Frames sent on a veth inside the namespace reach the watch through
        the kernel filter: the DHCPACK and the ARP frame are learnt, and TCP
        frames never reach Python.
        """
        from eucad.common.netnssocket import makeSocketIn
        seen = []
        watch = AddressWatch(namespace=self.ns, wanted=lambda: {VM, "d2:0d:00:00:00:02"},
                             learned=lambda mac, ip: None)
        original = watch.note
        watch.note = lambda found: (seen.append(found), original(found))
        watch.startService()
        self.addCleanup(watch.stopService)
        self.assertIsNotNone(watch.sock)

        def sender():
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind(("a0", 0))
            return sock
        out = makeSocketIn(self.ns, sender)
        self.addCleanup(out.close)
        for _ in range(20):
            out.send(tcpFrame())
        out.send(dhcpFrame())
        out.send(arpFrame(sender="d2:0d:00:00:00:02", claims="10.78.0.160"))
        yield eventually(lambda: len(watch.addresses) == 2)
        self.assertEqual(watch.addresses, {VM: "10.78.0.150",
                                           "d2:0d:00:00:00:02": "10.78.0.160"})
        # Every frame that passed the filter was DHCP or ARP (each seen on
        # both veth ends): not one of the TCP segments.
        self.assertTrue(seen)
        self.assertTrue(all(found is not None for found in seen), seen)


class NodeReportsLearntAddressTests(NodeTestCase):
    """The node controller puts learnt addresses in its reports."""

    @defer.inlineCallbacks
    def test_describeCarriesLearntAddress(self):
        """
        An instance run without an address (SYSTEM) is reported with the
        address its DHCPACK named, and the learning bumps the change feed the
        CC's long poll waits on.
        """
        book = AddressBook()
        node = self.makeNode()
        node.watchAddresses(book)
        spec = self.spec(macAddress=VM, privateIp="0.0.0.0")
        yield self.runToEnd(node, spec)
        before = yield self.described(node, spec.instanceId)
        self.assertEqual(before["privateIp"], "0.0.0.0")
        generation = node.lifecycle.changes.generation
        book.note(evidence(dhcpFrame()))
        self.assertGreater(node.lifecycle.changes.generation, generation)
        after = yield self.described(node, spec.instanceId)
        self.assertEqual((after["privateIp"], after["publicIp"]), ("10.78.0.150", "10.78.0.150"))
        yield node.terminateInstance(spec.instanceId)
        self.assertEqual(node._macsWithoutAddress(), set())
