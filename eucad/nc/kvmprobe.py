"""Decide between ``<domain type='kvm'>`` and ``'qemu'`` (TCG) by trying.

``/dev/kvm`` existing, libvirt's domain capabilities listing kvm, and even
KVM running real-mode code all prove nothing: on hosts whose kernel offers
only a paravirtual KVM flavour (PVM), a guest hangs the moment it turns on
paging for 64-bit long mode, so every Linux guest would sit in ``running``
and never boot.  The probe therefore boots a firmware of our own (140
bytes of code) under ``-accel kvm`` that walks exactly that path (real mode
-> protected mode -> long mode) and then writes to QEMU's ``isa-debug-exit``
port; QEMU exits with ``(0x2a << 1) | 1`` = 85 only if the guest got that
far.  It takes some 60 ms where KVM works (30 ms under TCG) and the timeout,
3 s, where it does not.  Set HYPERVISOR=qemu or kvm to skip it.

Called once, at node controller start, by ``chooseDomainType``.
"""

import os
import tempfile

from lxml import etree
from twisted.internet import defer, threads
from twisted.logger import Logger

from eucad.common.process import ProcessFailed

log = Logger()

#: QEMU's exit status when the probe firmware reached long mode.
PROBE_SUCCESS = (0x2A << 1) | 1

#: Where QEMU maps a 64 KiB ``-bios`` image (its last 64 KiB below 1 MiB).
_BIOS_BASE = 0xF0000
_GDT_OFFSET = 0x90
_GDTR_OFFSET = 0xB0
_RESET_VECTOR_OFFSET = 0xFFF0

#: The probe firmware's code, hand-assembled; offsets are within the image.
_CODE = [
    # 16-bit real mode, entered from the reset vector at CS base 0xF0000.
    ("fa", "cli"),
    ("31c0", "xor ax, ax"),
    ("8ed8", "mov ds, ax"),
    ("2e660f0116b000", "lgdt dword cs:[0xb0]"),
    ("0f20c0", "mov eax, cr0"),
    ("6683c801", "or eax, 1  (PE)"),
    ("0f22c0", "mov cr0, eax"),
    ("66ea1e000f000800", "jmp dword 0x08:0xf001e  (32-bit code segment)"),
    # 32-bit protected mode: identity-map the first 2 MiB at 0x1000.
    ("66b81000", "mov ax, 0x10  (data segment)"),
    ("8ed8", "mov ds, ax"),
    ("8ec0", "mov es, ax"),
    ("8ed0", "mov ss, ax"),
    ("bf00100000", "mov edi, 0x1000"),
    ("31c0", "xor eax, eax"),
    ("b9000c0000", "mov ecx, 3072  (three zeroed 4 KiB tables)"),
    ("f3ab", "rep stosd"),
    ("c7050010000003200000", "mov dword [0x1000], 0x2003  (PML4 -> PDPT)"),
    ("c7050020000003300000", "mov dword [0x2000], 0x3003  (PDPT -> PD)"),
    ("c7050030000083000000", "mov dword [0x3000], 0x83  (2 MiB page at 0)"),
    ("b800100000", "mov eax, 0x1000"),
    ("0f22d8", "mov cr3, eax"),
    ("0f20e0", "mov eax, cr4"),
    ("83c820", "or eax, 0x20  (PAE)"),
    ("0f22e0", "mov cr4, eax"),
    ("b9800000c0", "mov ecx, 0xc0000080  (EFER)"),
    ("0f32", "rdmsr"),
    ("0d00010000", "or eax, 0x100  (LME)"),
    ("0f30", "wrmsr"),
    ("0f20c0", "mov eax, cr0"),
    ("0d00000080", "or eax, 0x80000000  (PG: long mode is now active)"),
    ("0f22c0", "mov cr0, eax"),
    ("ea85000f001800", "jmp 0x18:0xf0085  (64-bit code segment)"),
    # 64-bit long mode: tell QEMU we made it.
    ("b02a", "mov al, 0x2a"),
    ("e6f4", "out 0xf4, al  (isa-debug-exit)"),
    ("f4", "hlt"),
    ("ebfd", "jmp back to hlt"),
]

#: Null, 32-bit code, 32-bit data, 64-bit code descriptors.
_GDT = ["0000000000000000", "ffff0000009acf00", "ffff00000092cf00",
        "ffff0000009aaf00"]

#: ``jmp 0xf000:0x0000`` placed at the reset vector.
_RESET_JUMP = "ea0000" + "00f0"


def probeFirmware():
    """The 64 KiB firmware image described above."""
    image = bytearray(0x10000)
    code = bytes.fromhex("".join(hexBytes for hexBytes, _ in _CODE))
    assert len(code) <= _GDT_OFFSET
    image[0:len(code)] = code
    gdt = bytes.fromhex("".join(_GDT))
    image[_GDT_OFFSET:_GDT_OFFSET + len(gdt)] = gdt
    gdtr = (len(gdt) - 1).to_bytes(2, "little") + (
        _BIOS_BASE + _GDT_OFFSET).to_bytes(4, "little")
    image[_GDTR_OFFSET:_GDTR_OFFSET + len(gdtr)] = gdtr
    reset = bytes.fromhex(_RESET_JUMP)
    image[_RESET_VECTOR_OFFSET:_RESET_VECTOR_OFFSET + len(reset)] = reset
    return bytes(image)


def probeArgv(emulator, firmwarePath, accel="kvm"):
    """The QEMU command line that boots the probe firmware and nothing else."""
    return [emulator, "-accel", accel, "-machine", "pc", "-nodefaults",
            "-display", "none", "-m", "16", "-no-reboot",
            "-bios", firmwarePath,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-serial", "none", "-monitor", "none"]


class AcceleratorProbe:
    """
    Runs the probe firmware under one QEMU accelerator.

    @param runner: an ``eucad.common.process.ProcessRunner``.
    @param timeout: seconds after which a silent guest counts as a failure.
    """

    def __init__(self, runner, timeout=3):
        self.runner = runner
        self.timeout = timeout

    def works(self, emulator, accel="kvm"):
        """Deferred firing True if a guest reached long mode under ``accel``."""
        d = threads.deferToThread(self._writeFirmware)

        def run(firmwarePath):
            argv = probeArgv(emulator, firmwarePath, accel)
            ran = self.runner.run(argv, timeout=self.timeout, check=False)
            ran.addCallback(lambda result: result.code == PROBE_SUCCESS)
            ran.addErrback(self._failed, accel)
            ran.addBoth(self._removeFirmware, firmwarePath)
            return ran
        return d.addCallback(run)

    def _writeFirmware(self):
        fd, path = tempfile.mkstemp(prefix="eucad-kvmprobe-", suffix=".bin")
        with os.fdopen(fd, "wb") as f:
            f.write(probeFirmware())
        return path

    def _removeFirmware(self, result, path):
        try:
            os.unlink(path)
        except OSError:
            pass
        return result

    def _failed(self, failure, accel):
        failure.trap(ProcessFailed)
        log.info("accelerator probe ({accel}) failed: {reason}",
                 accel=accel, reason=failure.value.reason)
        return False


def _capabilitiesOffer(capabilitiesXml, virtType):
    """(offered, emulator path) from a domainCapabilities document."""
    if not capabilitiesXml:
        return False, None
    root = etree.fromstring(capabilitiesXml.encode("utf-8"))
    return (root.findtext("domain") == virtType,
            root.findtext("path") or None)


@defer.inlineCallbacks
def chooseDomainType(setting, hypervisor, probe):
    """
    The libvirt domain type to use: ``kvm`` or ``qemu``.

    @param setting: HYPERVISOR from the conf: ``auto``, ``kvm`` or ``qemu``;
        an explicit choice is obeyed without probing.
    @param hypervisor: an ``eucad.nc.hypervisor.Hypervisor``.
    @param probe: an AcceleratorProbe (or anything with ``works``).
    """
    setting = (setting or "auto").strip().lower()
    if setting in ("kvm", "qemu"):
        defer.returnValue(setting)
    if setting != "auto":
        log.warn("HYPERVISOR={setting} is not auto|kvm|qemu; using auto",
                 setting=setting)
    driver = yield hypervisor.driverType()
    if driver.upper() != "QEMU":
        log.info("libvirt driver {driver} has no KVM; domains are type qemu",
                 driver=driver)
        defer.returnValue("qemu")
    offered, emulator = _capabilitiesOffer(
        (yield hypervisor.domainCapabilities("kvm")), "kvm")
    if not offered:
        log.info("libvirt does not offer kvm domains; using qemu (TCG)")
        defer.returnValue("qemu")
    works = yield probe.works(emulator or "qemu-system-x86_64", "kvm")
    if not works:
        log.info("KVM is offered but a probe guest could not reach long mode"
                 " under it; using qemu (TCG)")
        defer.returnValue("qemu")
    log.info("KVM works; domains are type kvm")
    defer.returnValue("kvm")
