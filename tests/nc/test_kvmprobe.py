"""Tests for eucad.nc.kvmprobe: choosing kvm or qemu (TCG) by trying."""

import shutil

from twisted.internet import defer
from twisted.trial import unittest

from eucad.common.process import ProcessRunner
from eucad.nc.kvmprobe import (PROBE_SUCCESS, AcceleratorProbe,
                               chooseDomainType, probeArgv, probeFirmware)
from tests.nc.commands import ExpectedRunner

QEMU = shutil.which("qemu-system-x86_64")

CAPABILITIES = """<domainCapabilities>
  <path>/usr/bin/qemu-system-x86_64</path>
  <domain>kvm</domain>
  <machine>pc-i440fx-7.2</machine>
</domainCapabilities>"""


class HypervisorAnswers:
    """Answers the two questions chooseDomainType asks of a Hypervisor."""

    def __init__(self, driver, capabilities):
        self.driver = driver
        self.capabilities = capabilities
        self.asked = []

    def driverType(self):
        self.asked.append("driverType")
        return defer.succeed(self.driver)

    def domainCapabilities(self, virtType):
        self.asked.append(("domainCapabilities", virtType))
        return defer.succeed(self.capabilities)


class ProbeAnswers:
    """A probe whose verdict the test sets, recording what it was asked."""

    def __init__(self, verdict):
        self.verdict = verdict
        self.asked = []

    def works(self, emulator, accel="kvm"):
        self.asked.append((emulator, accel))
        return defer.succeed(self.verdict)


class FirmwareTests(unittest.TestCase):
    """The probe firmware image."""

    def test_layout(self):
        """64 KiB, a far jump at the reset vector, a GDTR pointing at the GDT."""
        image = probeFirmware()
        self.assertEqual(len(image), 0x10000)
        self.assertEqual(image[0xFFF0:0xFFF5], bytes.fromhex("ea000000f0"))
        self.assertEqual(image[0xB0:0xB2], (31).to_bytes(2, "little"))
        self.assertEqual(int.from_bytes(image[0xB2:0xB6], "little"), 0xF0090)
        # The 64-bit code descriptor has the L bit (0x20 in the flags nibble).
        self.assertEqual(image[0xA8 + 6], 0xAF)
        # The long-mode code writes 0x2a to port 0xf4.
        self.assertIn(bytes.fromhex("b02ae6f4"), image[:0x90])


class AcceleratorProbeTests(unittest.TestCase):
    """Running the firmware under one accelerator."""

    def argv(self, accel):
        return probeArgv("qemu-system-x86_64", Ellipsis, accel)

    @defer.inlineCallbacks
    def test_exitCodeMeansLongMode(self):
        """QEMU exiting with the debug-exit code means the accelerator works."""
        runner = ExpectedRunner([(self.argv("kvm"), PROBE_SUCCESS)])
        self.assertTrue((yield AcceleratorProbe(runner).works("qemu-system-x86_64")))
        self.assertEqual(runner.expected, [])

    @defer.inlineCallbacks
    def test_timeoutMeansBroken(self):
        """A guest that never reaches the exit port (timeout) means no."""
        runner = ExpectedRunner([(self.argv("kvm"), "timeout")])
        self.assertFalse((yield AcceleratorProbe(runner).works("qemu-system-x86_64")))

    @defer.inlineCallbacks
    def test_otherExitMeansBroken(self):
        """QEMU failing to start the accelerator means no."""
        runner = ExpectedRunner([(self.argv("kvm"), 1)])
        self.assertFalse((yield AcceleratorProbe(runner).works("qemu-system-x86_64")))

    @defer.inlineCallbacks
    def test_realTcgReachesLongMode(self):
        """Under real QEMU with TCG the firmware reaches long mode and exits 85."""
        if QEMU is None:
            raise unittest.SkipTest("qemu-system-x86_64 is not installed")
        works = yield AcceleratorProbe(ProcessRunner(), timeout=20).works(QEMU, "tcg")
        self.assertTrue(works)


class ChooseDomainTypeTests(unittest.TestCase):
    """HYPERVISOR=auto|kvm|qemu."""

    @defer.inlineCallbacks
    def test_explicitSettingIsObeyed(self):
        """kvm or qemu in the conf is used without asking anything."""
        hypervisor = HypervisorAnswers("QEMU", CAPABILITIES)
        probe = ProbeAnswers(False)
        self.assertEqual((yield chooseDomainType("kvm", hypervisor, probe)), "kvm")
        self.assertEqual((yield chooseDomainType(" QEMU ", hypervisor, probe)), "qemu")
        self.assertEqual((hypervisor.asked, probe.asked), ([], []))

    @defer.inlineCallbacks
    def test_nonQemuDriver(self):
        """A driver other than QEMU (the test driver) gets qemu domains."""
        hypervisor = HypervisorAnswers("TEST", None)
        probe = ProbeAnswers(True)
        self.assertEqual((yield chooseDomainType("auto", hypervisor, probe)), "qemu")
        self.assertEqual(probe.asked, [])

    @defer.inlineCallbacks
    def test_kvmNotOffered(self):
        """When libvirt offers no kvm domains the probe is not even run."""
        hypervisor = HypervisorAnswers("QEMU", None)
        probe = ProbeAnswers(True)
        self.assertEqual((yield chooseDomainType("auto", hypervisor, probe)), "qemu")
        self.assertEqual(probe.asked, [])

    @defer.inlineCallbacks
    def test_offeredButProbeFails(self):
        """KVM offered by libvirt but failing the probe falls back to qemu."""
        hypervisor = HypervisorAnswers("QEMU", CAPABILITIES)
        probe = ProbeAnswers(False)
        self.assertEqual((yield chooseDomainType("auto", hypervisor, probe)), "qemu")
        self.assertEqual(probe.asked, [("/usr/bin/qemu-system-x86_64", "kvm")])

    @defer.inlineCallbacks
    def test_offeredAndProbeWorks(self):
        """KVM offered and passing the probe is used."""
        hypervisor = HypervisorAnswers("QEMU", CAPABILITIES)
        self.assertEqual((yield chooseDomainType("auto", hypervisor, ProbeAnswers(True))),
                         "kvm")

    @defer.inlineCallbacks
    def test_unknownSettingMeansAuto(self):
        """A misspelt HYPERVISOR is treated as auto."""
        hypervisor = HypervisorAnswers("TEST", None)
        self.assertEqual((yield chooseDomainType("xen", hypervisor, ProbeAnswers(True))),
                         "qemu")
        self.assertEqual(hypervisor.asked, ["driverType"])
