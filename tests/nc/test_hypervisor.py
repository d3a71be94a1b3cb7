"""Tests for eucad.nc.hypervisor against libvirt's test:///default driver."""

import libvirt
from twisted.internet import defer
from twisted.trial import unittest

from eucad.nc.hypervisor import (Hypervisor, HypervisorError,
                                 HypervisorUnavailable, instanceState)

TEST_URI = "test:///default"


def minimalDomain(name):
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
            "<vcpu>1</vcpu><os><type>hvm</type></os></domain>" % (name,))


class RecordingOpener:
    """Opens real connections and keeps them, so a test can break one."""

    def __init__(self, failures=0):
        self.connections = []
        self.failures = failures

    def __call__(self, uri):
        if self.failures:
            self.failures -= 1
            raise libvirt.libvirtError("libvirtd is not there (test)")
        connection = libvirt.open(uri)
        self.connections.append(connection)
        return connection


class HypervisorTests(unittest.TestCase):
    """Calls go through the pool and come back as plain data."""

    def setUp(self):
        self.opener = RecordingOpener()
        self.hypervisor = Hypervisor(TEST_URI, opener=self.opener)
        self.hypervisor.startService()
        self.addCleanup(self.hypervisor.stopService)

    def destroyLater(self, name):
        self.addCleanup(lambda: self.hypervisor.destroyDomain(name))

    @defer.inlineCallbacks
    def test_createListDestroy(self):
        """A created domain is listed running, then destroying it removes it."""
        self.destroyLater("i-hv000001")
        state = yield self.hypervisor.createDomain(minimalDomain("i-hv000001"))
        self.assertEqual(state, "running")
        domains = yield self.hypervisor.listDomains(withXml=True)
        found = [d for d in domains if d.name == "i-hv000001"]
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0].state, "running")
        self.assertIn("<name>i-hv000001</name>", found[0].xml)
        self.assertTrue((yield self.hypervisor.destroyDomain("i-hv000001")))
        self.assertIsNone((yield self.hypervisor.domainState("i-hv000001")))

    @defer.inlineCallbacks
    def test_missingDomainIsGone(self):
        """A domain libvirt does not know (error 42) is None / False, not an error."""
        self.assertIsNone((yield self.hypervisor.domainState("i-nothere")))
        self.assertFalse((yield self.hypervisor.destroyDomain("i-nothere")))

    @defer.inlineCallbacks
    def test_listWithoutXml(self):
        """Listing without XML leaves xml None."""
        domains = yield self.hypervisor.listDomains()
        self.assertTrue(domains)
        self.assertTrue(all(d.xml is None for d in domains))

    @defer.inlineCallbacks
    def test_refusedRequest(self):
        """libvirt refusing a request is a HypervisorError with libvirt's code."""
        failure = yield self.assertFailure(
            self.hypervisor.createDomain("<domain><name>x</name></domain>"),
            HypervisorError)
        self.assertIsNotNone(failure.code)

    @defer.inlineCallbacks
    def test_reconnectsAfterBreak(self):
        """When the connection dies, the next call opens a new one."""
        yield self.hypervisor.driverType()
        self.assertEqual(len(self.opener.connections), 1)
        self.opener.connections[0].close()
        driver = yield self.hypervisor.driverType()
        self.assertEqual(driver, "TEST")
        self.assertEqual(len(self.opener.connections), 2)

    @defer.inlineCallbacks
    def test_domainCapabilitiesUnsupported(self):
        """A driver without domain capabilities answers None rather than failing."""
        self.assertIsNone((yield self.hypervisor.domainCapabilities("kvm")))


class UnavailableTests(unittest.TestCase):
    """libvirt that cannot be reached."""

    @defer.inlineCallbacks
    def test_openFailureThenRecovery(self):
        """A failed open is HypervisorUnavailable; the next call connects."""
        hypervisor = Hypervisor(TEST_URI, opener=RecordingOpener(failures=1))
        hypervisor.startService()
        self.addCleanup(hypervisor.stopService)
        yield self.assertFailure(hypervisor.driverType(), HypervisorUnavailable)
        self.assertEqual((yield hypervisor.driverType()), "TEST")

    def test_notStarted(self):
        """Before startService there is no pool to run calls in."""
        return self.assertFailure(Hypervisor(TEST_URI).driverType(),
                                  HypervisorUnavailable)


class StateMappingTests(unittest.TestCase):
    """libvirt domain states as eucad instance states."""

    def test_states(self):
        """Running-ish states are running, shutoff and crashed are terminated."""
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_RUNNING), "running")
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_BLOCKED), "running")
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_SHUTDOWN), "shutting-down")
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_SHUTOFF), "terminated")
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_CRASHED), "terminated")
        self.assertEqual(instanceState(libvirt.VIR_DOMAIN_NOSTATE), "pending")


class ThreadTests(unittest.TestCase):
    """libvirt is never called from the reactor thread."""

    @defer.inlineCallbacks
    def test_callsRunInThePool(self):
        """The function given to call runs in a libvirt pool thread."""
        import threading
        hypervisor = Hypervisor(TEST_URI)
        hypervisor.startService()
        self.addCleanup(hypervisor.stopService)
        where = yield hypervisor.call(lambda connection: threading.current_thread())
        self.assertIsNot(where, threading.current_thread())
        self.assertIn("libvirt", where.name)
