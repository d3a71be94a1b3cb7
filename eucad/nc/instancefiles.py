"""An instance's directory: ``INSTANCE_PATH/<owner>/<instance-id>/``.

It holds everything the domain uses, so removing the directory removes the
instance from the disk:

- ``root.qcow2``: a copy-on-write overlay on the cached machine image
  (``qemu-img create -f qcow2 -F raw -b``), so starting costs no copy;
- ``ephemeral.img`` (vdb, ext4) and ``swap.img`` (vdc, swap): sparse files
  that fill up the VM type's disk size, as Eucalyptus 1.4 laid them out
  (its sda2 and sda3); the journal and inode tables are left for the guest's
  kernel to initialise lazily, so a fresh ephemeral disk costs a few MiB of
  real disk, not its journal's 64 MiB;
- ``kernel`` and ``ramdisk``: hard links to the cached images (a copy when
  the cache is on another file system), so pruning the cache never pulls a
  kernel from under a running instance;
- ``console.log`` (the serial console) and ``libvirt.xml`` (for the admin).

Filesystem work runs in a thread, commands through the ProcessRunner.
Called by ``eucad.nc.instances``.
"""

import os
import shutil

from twisted.internet import defer, threads

MIB = 1024 * 1024
GIB = 1024 * MIB

#: Swap given to every instance whose VM type's disk leaves room for it.
SWAP_BYTES = 512 * MIB


#: How the ephemeral disk is formatted (the path follows).
EPHEMERAL_MKFS = ["mkfs.ext4", "-F", "-q", "-L", "ephemeral", "-E",
                  "lazy_itable_init=1,lazy_journal_init=1,nodiscard"]


class DiskTooSmall(Exception):
    """The machine image does not fit in the VM type's disk."""


class InstanceFiles:
    """The paths of one instance's files (nothing is touched on creation)."""

    def __init__(self, instancePath, owner, instanceId):
        self.directory = os.path.join(instancePath, owner, instanceId)
        self.root = os.path.join(self.directory, "root.qcow2")
        self.console = os.path.join(self.directory, "console.log")
        self.domainXml = os.path.join(self.directory, "libvirt.xml")
        # Set by InstanceDisks.prepare when the instance has them.
        self.kernel = None
        self.ramdisk = None
        self.ephemeral = None
        self.swap = None

    def __repr__(self):
        return "<InstanceFiles %s>" % (self.directory,)


def diskSizes(vmTypeDiskGiB, rootBytes):
    """
    (ephemeral bytes, swap bytes) that fill a VM type's disk around a root
    image of ``rootBytes``; either may be 0.

    @raise DiskTooSmall: when the root image alone is larger than the disk.
    """
    total = vmTypeDiskGiB * GIB
    if rootBytes > total:
        raise DiskTooSmall("the image (%d MiB) is larger than the VM type's"
                           " %d GiB disk" % (rootBytes // MIB, vmTypeDiskGiB))
    left = total - rootBytes
    swap = SWAP_BYTES if left >= 2 * SWAP_BYTES else 0
    ephemeral = left - swap
    # Less than a MiB of ephemeral space is not worth a disk.
    return (ephemeral if ephemeral >= MIB else 0), swap


def _linkOrCopy(source, destination):
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


class InstanceDisks:
    """
    Makes and removes instance directories.

    @param runner: an ``eucad.common.process.ProcessRunner`` (qemu-img,
        mkfs, mkswap).
    @param runInThread: ``f(callable, *args) -> Deferred``; the reactor's
        thread pool by default.
    """

    def __init__(self, instancePath, runner, runInThread=None):
        self.instancePath = instancePath
        self.runner = runner
        self.runInThread = runInThread or threads.deferToThread

    def filesFor(self, owner, instanceId):
        return InstanceFiles(self.instancePath, owner, instanceId)

    @defer.inlineCallbacks
    def prepare(self, files, vmType, machineImage, kernel=None, ramdisk=None):
        """
        Make the directory and every disk of an instance.

        @param machineImage: path of the cached (raw) machine image.
        @param kernel: path of the cached kernel, or None.
        @param ramdisk: path of the cached ramdisk, or None.
        @return: Deferred firing with ``files`` once all exist.
        """
        yield self.runInThread(
            self._layOut, files, vmType["disk"], machineImage, kernel, ramdisk)
        yield self.runner.run(["qemu-img", "create", "-q", "-f", "qcow2",
                               "-F", "raw", "-b", machineImage, files.root])
        if files.ephemeral is not None:
            yield self.runner.run(EPHEMERAL_MKFS + [files.ephemeral])
        if files.swap is not None:
            yield self.runner.run(["mkswap", "-L", "swap", files.swap])
        defer.returnValue(files)

    def _layOut(self, files, diskGiB, machineImage, kernel, ramdisk):
        ephemeralBytes, swapBytes = diskSizes(diskGiB, os.path.getsize(machineImage))
        os.makedirs(files.directory, mode=0o750, exist_ok=True)
        if kernel is not None:
            files.kernel = os.path.join(files.directory, "kernel")
            _linkOrCopy(kernel, files.kernel)
        if ramdisk is not None:
            files.ramdisk = os.path.join(files.directory, "ramdisk")
            _linkOrCopy(ramdisk, files.ramdisk)
        if ephemeralBytes:
            files.ephemeral = os.path.join(files.directory, "ephemeral.img")
            self._sparse(files.ephemeral, ephemeralBytes)
        if swapBytes:
            files.swap = os.path.join(files.directory, "swap.img")
            self._sparse(files.swap, swapBytes)
        return ephemeralBytes, swapBytes

    def _sparse(self, path, size):
        with open(path, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.truncate(size)

    def writeDomainXml(self, files, xml):
        """
        Keep the domain XML next to the disks, for the admin to read; it
        carries the user data, so it is root's alone from its first byte.
        """
        def write():
            descriptor = os.open(files.domainXml, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                 0o600)
            with open(descriptor, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(xml)
        return self.runInThread(write)

    def consoleTail(self, files, size):
        """
        The last ``size`` bytes of the instance's serial console and when it
        was last written: ``(bytes, mtime)``; ``(b"", None)`` before qemu
        made the file.
        """
        def read():
            try:
                with open(files.console, "rb") as f:
                    stat = os.fstat(f.fileno())
                    f.seek(max(0, stat.st_size - size))
                    return f.read(size), stat.st_mtime
            except FileNotFoundError:
                return b"", None
        return self.runInThread(read)

    def remove(self, files):
        """
        Delete the instance directory.  The owner's directory stays: removing
        it could race with the owner's next instance being laid out.
        """
        return self.runInThread(shutil.rmtree, files.directory, True)
