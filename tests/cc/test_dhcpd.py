"""dhcpd.conf rendering and the dhcpd process, with expected argv and no real dhcpd."""

import os
import sys
import subprocess
import time

from twisted.trial import unittest

from eucad.cc.dhcpd import DhcpdError, DhcpdProcess
from eucad.cc.dhcpdconfig import DhcpdConfig, DhcpHost, DhcpSubnet, normaliseMac
from eucad.common.process import ProcessRunner
from tests.cc.processes import FakeProcessReactor
from tests.heldthreads import HeldThreads, runNow


EXPECTED_CONF = """\
# Written by the eucad cluster controller; changes here are overwritten.
ddns-update-style none;
authoritative;
default-lease-time 3600;
max-lease-time 3600;

subnet 10.77.0.0 netmask 255.255.255.0 {
  option subnet-mask 255.255.255.0;
  option broadcast-address 10.77.0.255;
  option routers 10.77.0.1;
  option domain-name-servers 10.77.0.1, 192.0.2.53;
  option interface-mtu 1450;
}

host i-0000000b {
  hardware ethernet d2:0d:00:00:00:0b;
  fixed-address 10.77.0.9;
}

host i-0000000a {
  hardware ethernet d2:0d:00:00:00:0a;
  fixed-address 10.77.0.10;
}
"""


def subnet(**kwargs):
    options = dict(router="10.77.0.1", dns="10.77.0.1 192.0.2.53",
                   broadcast="10.77.0.255", mtu=1450)
    options.update(kwargs)
    return DhcpSubnet("10.77.0.0", "255.255.255.0", **options)


class DhcpdConfigTests(unittest.TestCase):

    def test_render(self):
        """The file has the subnet with its options and one host block per instance, by address."""
        config = DhcpdConfig([subnet()], [
            DhcpHost("i-0000000a", "D2:0D:00:00:00:0A", "10.77.0.10"),
            DhcpHost("i-0000000b", "d2-0d-00-00-00-0b", "10.77.0.9"),
        ])
        self.assertEqual(config.render(), EXPECTED_CONF)

    def test_orderDoesNotMatter(self):
        """The same hosts given in another order render the same text."""
        hosts = [DhcpHost("i-%08x" % n, "d2:0d:00:00:00:%02x" % n, "10.77.0.%d" % (n + 2))
                 for n in range(1, 6)]
        self.assertEqual(DhcpdConfig([subnet()], hosts).render(),
                         DhcpdConfig([subnet()], list(reversed(hosts))).render())

    def test_sharedNetworkHoldsEverySubnet(self):
        """Named, the shared-network wraps the subnets (one wire, several slices); hosts stay outside it."""
        slices = [DhcpSubnet("172.30.0.%d" % base, "255.255.255.224",
                             router="172.30.0.%d" % (base + 1)) for base in (32, 0)]
        text = DhcpdConfig(slices, [DhcpHost("i-00000001", "d2:0d:ac:1e:00:22", "172.30.0.34")],
                           sharedNetwork="eucad-novlan").render()
        self.assertIn("shared-network eucad-novlan {\n"
                      "subnet 172.30.0.0 netmask 255.255.255.224 {\n"
                      "  option subnet-mask 255.255.255.224;\n"
                      "  option routers 172.30.0.1;\n"
                      "}\n\n"
                      "subnet 172.30.0.32 netmask 255.255.255.224 {\n"
                      "  option subnet-mask 255.255.255.224;\n"
                      "  option routers 172.30.0.33;\n"
                      "}\n\n"
                      "}\n\n"
                      "host i-00000001 {", text)
        # Without subnets there is nothing to share: no empty declaration.
        self.assertNotIn("shared-network", DhcpdConfig([], sharedNetwork="x").render())
        with self.assertRaises(ValueError):
            DhcpdConfig(slices, sharedNetwork="a b; }")

    def test_emptyOptionsLeftOut(self):
        """No router, DNS, broadcast or MTU means no such option lines."""
        text = DhcpdConfig([subnet(router=None, dns="", broadcast=None, mtu=None)]).render()
        self.assertIn("subnet 10.77.0.0 netmask 255.255.255.0 {\n"
                      "  option subnet-mask 255.255.255.0;\n}\n", text)
        self.assertNotIn("routers", text)
        self.assertNotIn("host ", text)

    def test_hostOutsideSubnet(self):
        """A host whose address lies in no subnet is refused."""
        self.assertRaises(ValueError, DhcpdConfig, [subnet()],
                          [DhcpHost("i-00000001", "d2:0d:00:00:00:01", "10.78.0.5")])

    def test_duplicates(self):
        """A MAC or address used by two hosts is refused."""
        self.assertRaises(ValueError, DhcpdConfig, [subnet()], [
            DhcpHost("i-00000001", "d2:0d:00:00:00:01", "10.77.0.5"),
            DhcpHost("i-00000002", "d2:0d:00:00:00:01", "10.77.0.6")])
        self.assertRaises(ValueError, DhcpdConfig, [subnet()], [
            DhcpHost("i-00000001", "d2:0d:00:00:00:01", "10.77.0.5"),
            DhcpHost("i-00000002", "d2:0d:00:00:00:02", "10.77.0.5")])

    def test_noInjection(self):
        """Names, MACs and addresses that could smuggle configuration text are refused."""
        self.assertRaises(ValueError, DhcpHost, "i-1 { }", "d2:0d:00:00:00:01", "10.77.0.5")
        self.assertRaises(ValueError, DhcpHost, "i-1", "d2:0d:00:00:00:01; x", "10.77.0.5")
        self.assertRaises(ValueError, DhcpHost, "i-1", "d2:0d:00:00:00:01", "10.77.0.5;")
        self.assertRaises(ValueError, DhcpSubnet, "10.77.0.0", "255.255.255.0",
                          router="10.77.0.1; option x")

    def test_subnetChecks(self):
        """A router or broadcast outside the subnet, a bad netmask or MTU is refused."""
        self.assertRaises(ValueError, subnet, router="10.78.0.1")
        self.assertRaises(ValueError, subnet, broadcast="10.78.0.255")
        self.assertRaises(ValueError, DhcpSubnet, "10.77.0.0", "255.0.255.0")
        self.assertRaises(ValueError, subnet, mtu=100)

    def test_normaliseMac(self):
        """MACs come out lower case with colons."""
        self.assertEqual(normaliseMac("AA-BB-CC-DD-EE-FF"), "aa:bb:cc:dd:ee:ff")
        self.assertRaises(ValueError, normaliseMac, "AA:DD:CE:FF:EE")


def config(*numbers):
    return DhcpdConfig([subnet()], [
        DhcpHost("i-%08x" % n, "d2:0d:00:00:00:%02x" % n, "10.77.0.%d" % (n + 10))
        for n in numbers])


class DhcpdProcessTests(unittest.TestCase):

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        self.directory = os.path.join(self.base, "cc", "dhcp")
        self.errorLog = os.path.join(self.base, "log", "httpd-cc_error_log")
        self.reactor = FakeProcessReactor()
        self.alive = set()
        self.dhcpd = self.makeDhcpd()

    def makeDhcpd(self, netns="fe", **kwargs):
        runner = ProcessRunner(reactor=self.reactor, errorLog=self.errorLog, netns=netns)
        options = dict(daemon="/usr/sbin/dhcpd", reactor=self.reactor, runInThread=runNow,
                       errorLog=self.errorLog, pidAlive=lambda pid: pid in self.alive)
        options.update(kwargs)
        return DhcpdProcess(self.directory, ["priv0"], runner, **options)

    def path(self, name):
        return os.path.join(self.directory, name)

    def expectCheck(self, code=0, err=b"", prefix=("ip", "netns", "exec", "fe")):
        return self.reactor.expect(list(prefix) + [
            "/usr/sbin/dhcpd", "-t", "-cf", self.path("dhcpd.conf.new")], code=code, err=err)

    def expectDaemon(self, interfaces=("priv0",), prefix=("ip", "netns", "exec", "fe"),
                     extra=(), **kwargs):
        return self.reactor.expect(list(prefix) + [
            "/usr/sbin/dhcpd", "-4", "-d", "-cf", self.path("dhcpd.conf"),
            "-lf", self.path("dhcpd.leases"), "-pf", self.path("dhcpd.pid")]
            + list(extra) + list(interfaces), longRunning=True, **kwargs)

    def serve(self, expectation):
        self.reactor.settle()
        expectation.process.feed(err=b"Listening on LPF/priv0/...\nServer starting service.\n")
        self.reactor.settle()

    def started(self, conf):
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon()
        d = self.dhcpd.apply(conf)
        self.serve(daemon)
        self.successResultOf(d)
        return daemon.process

    def test_startInNamespace(self):
        """The first apply checks the file with dhcpd -t, then runs dhcpd -4 -d in the namespace."""
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon()
        d = self.dhcpd.apply(config(1))
        self.reactor.settle()
        self.assertNoResult(d)
        self.serve(daemon)
        self.successResultOf(d)
        self.reactor.assertAllUsed(self)
        with open(self.path("dhcpd.conf")) as f:
            self.assertEqual(f.read(), config(1).render())
        self.assertTrue(os.path.exists(self.path("dhcpd.leases")))
        self.assertFalse(os.path.exists(self.path("dhcpd.conf.new")))
        self.assertTrue(self.dhcpd.serving)
        with open(self.errorLog, "rb") as f:
            self.assertIn(b"Server starting service.", f.read())

    def test_fileWorkRunsInThread(self):
        """Writing, checking and installing dhcpd.conf waits for the thread; the reactor thread touches no file."""
        held = HeldThreads()
        self.dhcpd = self.makeDhcpd(runInThread=held)
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon()
        d = self.dhcpd.apply(config(1))
        self.reactor.settle()
        self.assertEqual(os.listdir(self.directory), [])
        self.assertEqual(self.reactor.spawned, [])
        for _ in range(10):
            held.releaseAll()
            self.reactor.settle()
        self.serve(daemon)
        self.successResultOf(d)
        self.assertEqual(sorted(os.listdir(self.directory)), ["dhcpd.conf", "dhcpd.leases"])
        self.reactor.assertAllUsed(self)

    def test_checkRejectsUnlinkInThread(self):
        """The rejected candidate file is removed in the thread, not on the reactor."""
        held = HeldThreads()
        self.dhcpd = self.makeDhcpd(runInThread=held)
        self.dhcpd.startService()
        self.expectCheck(code=1, err=b"line 3: expecting numeric value.\n")
        d = self.dhcpd.apply(config(1))
        held.releaseAll()
        self.reactor.settle()
        self.assertNoResult(d)
        self.assertEqual(os.listdir(self.directory), ["dhcpd.conf.new"])
        held.releaseAll()
        self.failureResultOf(d, DhcpdError)
        self.assertEqual(os.listdir(self.directory), [])

    def test_errorLogKeptOpen(self):
        """dhcpd's output goes to the error log opened at start, not to a file reopened per chunk."""
        process = self.started(config(1))
        moved = self.errorLog + ".1"
        os.rename(self.errorLog, moved)
        process.feed(err=b"DHCPACK on 10.77.0.11 to d2:0d:00:00:00:01 via priv0\n")
        self.assertFalse(os.path.exists(self.errorLog))
        with open(moved, "rb") as f:
            self.assertIn(b"dhcpd] DHCPACK on 10.77.0.11", f.read())
        d = self.dhcpd.stopService()
        self.reactor.settle()
        self.successResultOf(d)
        self.assertIsNone(self.dhcpd._errorFile)

    def test_withoutNamespace(self):
        """Without VNET_NETNS the argv has no ip netns prefix."""
        self.dhcpd = self.makeDhcpd(netns=None)
        self.dhcpd.startService()
        self.expectCheck(prefix=())
        daemon = self.expectDaemon(prefix=())
        d = self.dhcpd.apply(config(1))
        self.serve(daemon)
        self.successResultOf(d)
        self.reactor.assertAllUsed(self)

    def test_dhcpUserDropsPrivileges(self):
        """A non-root VNET_DHCPUSER adds -user and -group when the CC runs as root."""
        owner = (os.getuid(), os.getgid())
        self.dhcpd = self.makeDhcpd(user="dhcpd", groupOf=lambda user: "dhcpgroup",
                                    uidOf=lambda user: owner, geteuid=lambda: 0)
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon(extra=["-user", "dhcpd", "-group", "dhcpgroup"])
        d = self.dhcpd.apply(config(1))
        self.serve(daemon)
        self.successResultOf(d)
        self.reactor.assertAllUsed(self)

    def test_sameConfigNoRestart(self):
        """Applying the text that is already served runs nothing."""
        process = self.started(config(1, 2))
        self.successResultOf(self.dhcpd.apply(config(2, 1)))
        self.assertEqual(process.signals, [])
        self.assertEqual(len(self.reactor.spawned), 2)

    def test_changedConfigRestarts(self):
        """New host entries stop the old dhcpd, wait for its pid to go, drop the pid file, start anew."""
        old = self.started(config(1))
        oldPid = old.pid
        with open(self.path("dhcpd.pid"), "w") as f:
            f.write("%d\n" % (oldPid,))
        self.alive.add(oldPid)
        self.expectCheck()
        new = self.expectDaemon()
        d = self.dhcpd.apply(config(1, 2))
        self.reactor.settle()
        self.assertEqual(old.signals, ["TERM"])
        self.assertTrue(old.ended)
        # The pid lingers (PID 1 reaps late): no new dhcpd yet.
        self.reactor.advance(0.5)
        self.assertIsNone(new.process)
        self.assertTrue(os.path.exists(self.path("dhcpd.pid")))
        self.alive.discard(oldPid)
        self.reactor.advance(0.1)
        self.assertIsNotNone(new.process)
        self.assertFalse(os.path.exists(self.path("dhcpd.pid")))
        self.serve(new)
        self.successResultOf(d)
        with open(self.path("dhcpd.conf")) as f:
            self.assertIn("host i-00000002", f.read())
        self.reactor.assertAllUsed(self)

    def test_interfacesChange(self):
        """Applying with new interfaces restarts dhcpd listening on them."""
        old = self.started(config(1))
        self.expectCheck()
        new = self.expectDaemon(interfaces=["priv0", "vx10"])
        d = self.dhcpd.apply(config(1), ["priv0", "vx10"])
        self.reactor.settle()
        self.assertEqual(old.signals, ["TERM"])
        self.serve(new)
        self.successResultOf(d)
        self.reactor.assertAllUsed(self)

    def test_checkRejects(self):
        """A file dhcpd -t rejects is not installed and the running dhcpd is left alone."""
        process = self.started(config(1))
        self.expectCheck(code=1, err=b"dhcpd.conf.new line 3: expecting numeric value.\n")
        d = self.dhcpd.apply(config(1, 2))
        self.reactor.settle()
        failure = self.failureResultOf(d, DhcpdError)
        self.assertIn("expecting numeric value", str(failure.value))
        self.assertEqual(process.signals, [])
        self.assertFalse(os.path.exists(self.path("dhcpd.conf.new")))
        with open(self.path("dhcpd.conf")) as f:
            self.assertEqual(f.read(), config(1).render())
        with open(self.errorLog, "rb") as f:
            self.assertIn(b"expecting numeric value", f.read())

    def test_exitBeforeServing(self):
        """dhcpd exiting before it serves fails the apply with its last words."""
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon()
        d = self.dhcpd.apply(config(1))
        self.reactor.settle()
        daemon.process.feed(err=b"Not configured to listen on any interfaces!\n")
        daemon.process.end(1)
        self.reactor.settle()
        failure = self.failureResultOf(d, DhcpdError)
        self.assertIn("Not configured to listen", str(failure.value))
        self.assertFalse(self.dhcpd.serving)

    def test_readyTimeout(self):
        """dhcpd that never says it serves is stopped and the apply fails."""
        self.dhcpd = self.makeDhcpd(readyTimeout=5)
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon()
        d = self.dhcpd.apply(config(1))
        self.reactor.settle()
        self.reactor.advance(5)
        self.reactor.settle()
        self.failureResultOf(d, DhcpdError)
        self.assertEqual(daemon.process.signals, ["TERM"])

    def test_stopService(self):
        """Stopping the service stops dhcpd and removes the pid file."""
        process = self.started(config(1))
        with open(self.path("dhcpd.pid"), "w") as f:
            f.write("%d\n" % (process.pid,))
        d = self.dhcpd.stopService()
        self.reactor.settle()
        self.successResultOf(d)
        self.assertEqual(process.signals, ["TERM"])
        self.assertFalse(os.path.exists(self.path("dhcpd.pid")))
        self.assertFalse(self.dhcpd.serving)
        self.failureResultOf(self.dhcpd.apply(config(1)), DhcpdError)

    def test_termIgnoredThenKill(self):
        """A dhcpd that ignores TERM is killed after the stop timeout."""
        self.dhcpd = self.makeDhcpd(stopTimeout=3)
        self.dhcpd.startService()
        self.expectCheck()
        daemon = self.expectDaemon(exitOnTerm=False)
        self.dhcpd.apply(config(1))
        self.serve(daemon)
        d = self.dhcpd.stopService()
        self.reactor.settle()
        self.assertEqual(daemon.process.signals, ["TERM"])
        self.reactor.advance(3)
        self.reactor.settle()
        self.assertEqual(daemon.process.signals, ["TERM", "KILL"])
        self.successResultOf(d)

    def test_crashRestarts(self):
        """A dhcpd that dies on its own is started again after a delay."""
        process = self.started(config(1))
        self.expectCheck()
        again = self.expectDaemon()
        process.feed(err=b"receive_packet failed on priv0: Network is down\n")
        process.end(1)
        self.reactor.settle()
        self.assertFalse(self.dhcpd.serving)
        self.assertIsNone(again.process)
        self.reactor.advance(1)
        self.serve(again)
        self.assertTrue(self.dhcpd.serving)
        self.reactor.assertAllUsed(self)


class LeftoverDhcpdTests(unittest.TestCase):
    """A dhcpd left by an earlier CC run is stopped only if it is provably ours."""

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.reactor = FakeProcessReactor()
        self.dhcpd = DhcpdProcess(self.directory, ["priv0"], ProcessRunner(reactor=self.reactor),
                                  reactor=self.reactor, runInThread=runNow)

    def wait(self, d):
        for _ in range(100):
            if d.called:
                break
            time.sleep(0.02)
            self.reactor.advance(0.1)
        return self.successResultOf(d)

    def test_ourLeftoverIsStopped(self):
        """A live process whose command line names our dhcpd.conf is terminated and its pid file removed."""
        leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                     "-cf", self.dhcpd.confPath])
        self.addCleanup(lambda: leftover.poll() is None and leftover.kill())
        with open(self.dhcpd.pidPath, "w") as f:
            f.write("%d\n" % (leftover.pid,))
        self.wait(self.dhcpd._clearPidFile())
        self.assertEqual(leftover.wait(timeout=5), -15)
        self.assertFalse(os.path.exists(self.dhcpd.pidPath))

    def test_foreignProcessLeftAlone(self):
        """A live pid that is not our dhcpd is not signalled; only the stale pid file goes."""
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(lambda: (other.kill(), other.wait()))
        with open(self.dhcpd.pidPath, "w") as f:
            f.write("%d\n" % (other.pid,))
        self.wait(self.dhcpd._clearPidFile())
        self.assertIsNone(other.poll())
        self.assertFalse(os.path.exists(self.dhcpd.pidPath))
