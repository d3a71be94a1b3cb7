"""Builds the test guest: ``vmlinuz``, ``initrd.img`` and ``root.img``.

The end-to-end tests and the lab boot real VMs; this builder makes the
smallest guest that proves an instance works: it gets its address by DHCP,
learns its instance id, public key and user data from the metadata service,
runs the user data, lets root in over SSH with that key, and serves what it
learned over HTTP.  See ``eucad.lab.guest`` for what runs inside.

- The kernel is Debian's ``linux-image-*-cloud-amd64``: fetched once with
  ``apt-get download`` into a download directory and unpacked there with
  ``dpkg -x``, so later builds need no network.
- The initramfs is written here in Python (cpio "newc" + gzip) from the
  static busybox, the kernel's virtio modules, and Debian's dropbear
  (``dropbear-bin``) with the shared libraries ``ldd`` names for it.
- ``root.img`` is a small ext2 image made by ``mke2fs -d``.

A build records the digests of its inputs and outputs in ``manifest.json``
and does nothing when neither changed.  Run as ``eucad-build-test-image``.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

from eucad.common.atomicfile import writeAtomically
from eucad.lab import guest

BUILDER_VERSION = 2
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
KERNEL_DEB = re.compile(r"^linux-image-(\d[\w.+~-]*-cloud-amd64)_[^_]+_amd64\.deb$")
APT_ARCHIVES = "/var/cache/apt/archives"
BUSYBOX = "/bin/busybox"
DROPBEAR = "/usr/sbin/dropbear"
_LDD_PATH = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")

#: The guest's accounts: root only, with no password (keys only).
GUEST_ETC_FILES = (
    ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
    ("etc/group", "root:x:0:\n", 0o644),
    ("etc/shadow", "root:*:14245:0:99999:7:::\n", 0o600),
    ("etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n", 0o644),
)
ROOT_IMAGE_KIB = 8192
# Fixed so that the same inputs give the same image, byte for byte.
ROOT_IMAGE_UUID = "5eed0000-eaca-4d00-8000-000000000001"
FIXED_MTIME = 1230768000  # 2009-01-01, the era of Eucalyptus 1.4
#: The command line the tests give the guest when they boot it without a node
#: controller: ``no_timer_check`` as ``eucad.nc.domainxml.KERNEL_COMMAND_LINE``
#: passes it, for the same reason (a starved TCG vCPU fails the IO-APIC timer
#: check and panics).
DEFAULT_CMDLINE = "console=ttyS0 no_timer_check"
OUTPUT_FILES = ("vmlinuz", "initrd.img", "root.img")


class BuildError(Exception):
    """The test image could not be built (missing tool, no kernel package)."""


def repositoryRoot():
    """The source checkout this module lives in, or None when installed."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if os.path.exists(os.path.join(root, "setup.cfg")):
        return root
    return None


def defaultOutDir():
    """``build/test-image`` under the checkout (or the current directory)."""
    return os.path.join(repositoryRoot() or os.getcwd(), "build", "test-image")


def defaultDownloadDir():
    """``build/downloads`` under the checkout: kept across image rebuilds."""
    return os.path.join(repositoryRoot() or os.getcwd(), "build", "downloads")


def sha256File(path):
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CpioArchive:
    """
    An in-memory cpio archive in the "newc" format the kernel unpacks.

    Entries are added parents first; every entry gets a fixed owner (root)
    and a fixed mtime so that the archive only depends on its contents.
    """

    def __init__(self, mtime=FIXED_MTIME):
        self.mtime = mtime
        self._parts = []
        self._inode = 300000

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self._inode += 1
        name = name.lstrip("/")
        nameBytes = name.encode() + b"\0"
        fields = (self._inode, mode, 0, 0, 1, self.mtime, len(data), 0, 0,
                  rdev[0], rdev[1], len(nameBytes), 0)
        header = b"070701" + b"".join(b"%08X" % (v,) for v in fields)
        self._parts.append(header + nameBytes)
        self._pad()
        self._parts.append(data)
        self._pad()

    def _pad(self):
        size = sum(len(p) for p in self._parts)
        if size % 4:
            self._parts.append(b"\0" * (4 - size % 4))

    def addDirectory(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm)

    def addFile(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def addSymlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def addCharDevice(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def bytes(self):
        """The archive with its trailer."""
        self._entry("TRAILER!!!", 0)
        data = b"".join(self._parts)
        self._parts = [data]
        return data


class KernelFiles:
    """A cached, unpacked kernel: its version, vmlinuz and module files."""

    def __init__(self, version, deb, directory):
        self.version = version
        self.deb = deb
        self.directory = directory
        self.vmlinuz = os.path.join(directory, "vmlinuz")

    def module(self, name):
        return os.path.join(self.directory, "modules", name + ".ko")


def _kernelSortKey(debName):
    return tuple(int(n) for n in re.findall(r"\d+", debName))


class KernelCache:
    """
    Finds the cloud kernel package, downloads it at most once, unpacks it.

    Looks in the download directory first, then in apt's own archive cache,
    and only then asks apt (``apt-cache depends`` on the meta-package names
    the current ABI, ``apt-get download`` fetches it).
    """

    def __init__(self, downloadDir, aptArchives=APT_ARCHIVES, log=print):
        self.downloadDir = downloadDir
        self.aptArchives = aptArchives
        self.log = log
        self._updated = False

    def _debsIn(self, directory):
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        return sorted((n for n in names if KERNEL_DEB.match(n)), key=_kernelSortKey)

    def findDeb(self):
        """Path of a kernel .deb in the download dir, fetching one if none."""
        os.makedirs(self.downloadDir, exist_ok=True)
        local = self._debsIn(self.downloadDir)
        if local:
            return os.path.join(self.downloadDir, local[-1])
        archived = self._debsIn(self.aptArchives)
        if archived:
            source = os.path.join(self.aptArchives, archived[-1])
            self.log("copying %s from apt's cache" % (archived[-1],))
            shutil.copy(source, self.downloadDir)
            return os.path.join(self.downloadDir, archived[-1])
        return self._download()

    def _download(self):
        package = self._currentPackage()
        self.log("downloading %s with apt-get" % (package,))
        result = self._aptDownload(package)
        if result.returncode != 0 and self._updateLists():
            # Stale lists name a version the mirror no longer has.
            package = self._currentPackage()
            result = self._aptDownload(package)
        if result.returncode != 0:
            raise BuildError("apt-get download %s failed: %s" % (package, result.stderr.strip()))
        local = self._debsIn(self.downloadDir)
        if not local:
            raise BuildError("apt-get download %s left no .deb in %s" % (package, self.downloadDir))
        return os.path.join(self.downloadDir, local[-1])

    def _aptDownload(self, package):
        return subprocess.run(["apt-get", "download", package], cwd=self.downloadDir,
                              capture_output=True, text=True, timeout=600)

    def _updateLists(self):
        """apt-get update (once, as root only); True if it ran and succeeded."""
        if self._updated or os.geteuid() != 0:
            return False
        self._updated = True
        self.log("apt-get update")
        return subprocess.run(["apt-get", "update", "-qq"], capture_output=True,
                              timeout=600).returncode == 0

    def _currentPackage(self):
        """The package the meta-package depends on now (the current kernel ABI)."""
        for attempt in range(2):
            result = subprocess.run(["apt-cache", "depends", KERNEL_META_PACKAGE],
                                    capture_output=True, text=True, timeout=60)
            for line in result.stdout.splitlines():
                match = re.match(r"\s*Depends:\s*(linux-image-\S+-cloud-amd64)\s*$", line)
                if match:
                    return match.group(1)
            if attempt == 0 and not self._updateLists():
                break
        raise BuildError("apt does not know %s; run apt-get update first" % (KERNEL_META_PACKAGE,))

    def kernel(self):
        """The unpacked kernel, unpacking the .deb on first use."""
        deb = self.findDeb()
        version = KERNEL_DEB.match(os.path.basename(deb)).group(1)
        directory = os.path.join(self.downloadDir, "kernel-" + version)
        done = os.path.join(directory, "unpacked-from")
        if os.path.exists(done):
            with open(done) as f:
                if f.read().strip() == os.path.basename(deb):
                    return KernelFiles(version, deb, directory)
        self._unpack(deb, version, directory)
        with open(done, "w") as f:
            f.write(os.path.basename(deb) + "\n")
        return KernelFiles(version, deb, directory)

    def _unpack(self, deb, version, directory):
        self.log("unpacking %s" % (os.path.basename(deb),))
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(os.path.join(directory, "modules"))
        with tempfile.TemporaryDirectory(dir=self.downloadDir, prefix=".unpack-") as tmp:
            subprocess.run(["dpkg", "-x", deb, tmp], check=True, timeout=300)
            shutil.copy(os.path.join(tmp, "boot", "vmlinuz-" + version),
                        os.path.join(directory, "vmlinuz"))
            found = {}
            for dirpath, _, filenames in os.walk(os.path.join(tmp, "lib", "modules", version)):
                for filename in filenames:
                    name = filename.split(".ko")[0]
                    if name in guest.VIRTIO_MODULES and filename.endswith(".ko"):
                        found[name] = os.path.join(dirpath, filename)
            missing = [m for m in guest.VIRTIO_MODULES if m not in found]
            if missing:
                raise BuildError("kernel %s lacks modules %s" % (version, ", ".join(missing)))
            for name, path in found.items():
                shutil.copy(path, os.path.join(directory, "modules", name + ".ko"))


def sharedLibraries(binary):
    """
    The host paths of the shared libraries ``binary`` loads (its dynamic
    loader included), as ``ldd`` resolves them.
    """
    result = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BuildError("ldd %s failed: %s" % (binary, result.stderr.strip()))
    paths = []
    for line in result.stdout.splitlines():
        match = _LDD_PATH.match(line)
        if match:
            paths.append(match.group(1))
    if not paths:
        raise BuildError("ldd %s named no libraries" % (binary,))
    return paths


def addWithParents(archive, path, data, perm, made):
    """Add a file at ``path``, first adding any parent directory not yet in ``made``."""
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if parent not in made:
            archive.addDirectory(parent)
            made.add(parent)
    archive.addFile(path, data, perm)


def buildInitramfs(kernel, busybox=BUSYBOX, dropbear=DROPBEAR):
    """The gzipped initramfs: busybox, dropbear, the virtio modules and the guest scripts."""
    archive = CpioArchive()
    directories = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys",
                   "run", "tmp", "etc", "lib", "lib/modules", "mnt", "www")
    for d in directories:
        archive.addDirectory(d)
    archive.addDirectory("root", 0o700)
    archive.addDirectory("var")
    archive.addSymlink("var/run", "../run")
    made = set(directories) | {"root", "var"}
    for name, text, perm in GUEST_ETC_FILES:
        archive.addFile(name, text.encode(), perm)
    with open(dropbear, "rb") as f:
        archive.addFile("sbin/dropbear", f.read(), 0o755)
    for library in sharedLibraries(dropbear):
        # Copied under the name the loader asks for, whatever links lead there.
        with open(os.path.realpath(library), "rb") as f:
            addWithParents(archive, library, f.read(), 0o755, made)
    archive.addCharDevice("dev/console", 5, 1)
    with open(busybox, "rb") as f:
        archive.addFile("bin/busybox", f.read(), 0o755)
    archive.addSymlink("bin/sh", "busybox")
    archive.addFile("init", guest.initScript().encode(), 0o755)
    archive.addFile("etc/udhcpc.sh", guest.UDHCPC_SCRIPT.encode(), 0o755)
    archive.addFile("etc/md-request.sh", guest.metadataRequestScript().encode(), 0o755)
    archive.addFile("etc/md-walk.sh", guest.metadataWalkScript().encode(), 0o755)
    for name in guest.VIRTIO_MODULES:
        with open(kernel.module(name), "rb") as f:
            archive.addFile("lib/modules/%s.ko" % (name,), f.read())
    return gzip.compress(archive.bytes(), compresslevel=6, mtime=0)


def buildRootImage(path):
    """An ext2 image holding the file that says it is the eucad test root."""
    with tempfile.TemporaryDirectory() as staging:
        marker = os.path.join(staging, guest.ROOT_MARKER_FILE)
        with open(marker, "w") as f:
            f.write(guest.ROOT_MARKER_TEXT)
        os.utime(marker, (FIXED_MTIME, FIXED_MTIME))
        os.utime(staging, (FIXED_MTIME, FIXED_MTIME))
        env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(FIXED_MTIME))
        result = subprocess.run(
            ["mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-L", "eucad-root",
             "-U", ROOT_IMAGE_UUID, "-E", "hash_seed=" + ROOT_IMAGE_UUID,
             "-d", staging, path, str(ROOT_IMAGE_KIB)],
            capture_output=True, text=True, env=env, timeout=120)
        if result.returncode != 0:
            raise BuildError("mke2fs failed: " + result.stderr.strip())
    # mke2fs -d copies the staged file's ctime, which cannot be set on the
    # host; pin it so that the image depends only on its contents.
    result = subprocess.run(
        ["debugfs", "-w", "-R", "set_inode_field /%s ctime @%d" % (guest.ROOT_MARKER_FILE, FIXED_MTIME),
         path], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BuildError("debugfs failed: " + result.stderr.strip())


def inputsDigest(kernel, busybox=BUSYBOX, dropbear=DROPBEAR):
    """One digest over everything that goes into the three files."""
    parts = {
        "builder": BUILDER_VERSION,
        "kernelDeb": os.path.basename(kernel.deb),
        "vmlinuz": sha256File(kernel.vmlinuz),
        "modules": [sha256File(kernel.module(m)) for m in guest.VIRTIO_MODULES],
        "busybox": sha256File(busybox),
        "dropbear": [sha256File(dropbear)] + [
            [path, sha256File(os.path.realpath(path))] for path in sharedLibraries(dropbear)],
        "etc": GUEST_ETC_FILES,
        "cmdline": DEFAULT_CMDLINE,
        "init": guest.initScript(),
        "udhcpc": guest.UDHCPC_SCRIPT,
        "mdRequest": guest.metadataRequestScript(),
        "mdWalk": guest.metadataWalkScript(),
        "root": [guest.ROOT_MARKER_FILE, guest.ROOT_MARKER_TEXT, ROOT_IMAGE_KIB,
                 ROOT_IMAGE_UUID],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class TestImage:
    """The built files of the test guest and what the manifest says of them."""

    def __init__(self, directory, manifest):
        self.directory = directory
        self.manifest = manifest
        self.vmlinuz = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")
        self.root = os.path.join(directory, "root.img")
        self.cmdline = manifest.get("cmdline", DEFAULT_CMDLINE)

    @property
    def outDir(self):
        return self.directory

    def path(self, name):
        """Path of one of OUTPUT_FILES ("vmlinuz", "initrd.img", "root.img")."""
        if name not in OUTPUT_FILES:
            raise KeyError(name)
        return os.path.join(self.directory, name)


def _readManifest(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _upToDate(outDir, manifest, digest):
    if not manifest or manifest.get("inputs") != digest:
        return False
    for name in OUTPUT_FILES:
        path = os.path.join(outDir, name)
        entry = manifest.get("files", {}).get(name)
        if not entry or not os.path.exists(path) or os.path.getsize(path) != entry["size"]:
            return False
        if sha256File(path) != entry["sha256"]:
            return False
    return True


def build(outDir=None, downloadDir=None, force=False, log=print):
    """
    Build (or confirm up to date) the test image in ``outDir``.

    @return: a L{TestImage}; its manifest has ``rebuilt`` True when files
        were written by this call.
    """
    outDir = os.path.abspath(outDir or defaultOutDir())
    downloadDir = os.path.abspath(downloadDir or defaultDownloadDir())
    for tool in ("mke2fs", "dpkg"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            raise BuildError("%s is not installed" % (tool,))
    if not os.path.exists(BUSYBOX):
        raise BuildError("%s is missing: apt-get install busybox-static" % (BUSYBOX,))
    if not os.path.exists(DROPBEAR):
        raise BuildError("%s is missing: apt-get install dropbear-bin" % (DROPBEAR,))
    kernel = KernelCache(downloadDir, log=log).kernel()
    digest = inputsDigest(kernel)
    manifestPath = os.path.join(outDir, "manifest.json")
    manifest = _readManifest(manifestPath)
    if not force and _upToDate(outDir, manifest, digest):
        manifest["rebuilt"] = False
        return TestImage(outDir, manifest)

    os.makedirs(outDir, exist_ok=True)
    log("building the test image in %s (kernel %s)" % (outDir, kernel.version))
    with open(kernel.vmlinuz, "rb") as f:
        writeAtomically(os.path.join(outDir, "vmlinuz"), f.read())
    writeAtomically(os.path.join(outDir, "initrd.img"), buildInitramfs(kernel))
    rootTmp = os.path.join(outDir, "root.img.tmp")
    buildRootImage(rootTmp)
    os.replace(rootTmp, os.path.join(outDir, "root.img"))

    manifest = {
        "builder": BUILDER_VERSION,
        "inputs": digest,
        "kernelVersion": kernel.version,
        "kernelPackage": os.path.basename(kernel.deb),
        "modules": list(guest.VIRTIO_MODULES),
        "cmdline": DEFAULT_CMDLINE,
        "marker": guest.MARKER,
        "files": {},
    }
    for name in OUTPUT_FILES:
        path = os.path.join(outDir, name)
        manifest["files"][name] = {"sha256": sha256File(path), "size": os.path.getsize(path)}
    writeAtomically(manifestPath, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    manifest["rebuilt"] = True
    return TestImage(outDir, manifest)


def main(argv=None):
    """``eucad-build-test-image [--out DIR] [--download-dir DIR] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="eucad-build-test-image",
        description="Build the eucad test guest (vmlinuz, initrd.img, root.img).")
    parser.add_argument("--out", default=None, help="output directory (default %(default)s: build/test-image)")
    parser.add_argument("--download-dir", default=None,
                        help="where the kernel .deb is kept (default build/downloads)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    options = parser.parse_args(argv)

    def log(message):
        if not options.quiet:
            print(message, flush=True)
    started = time.monotonic()
    try:
        image = build(options.out, options.download_dir, options.force, log)
    except (BuildError, subprocess.SubprocessError, OSError) as e:
        print("eucad-build-test-image: %s" % (e,), file=sys.stderr)
        return 1
    state = "built" if image.manifest["rebuilt"] else "up to date"
    log("%s: %s in %.2fs (kernel %s)" % (image.directory, state, time.monotonic() - started,
                                         image.manifest["kernelVersion"]))
    for name in OUTPUT_FILES:
        log("  %-10s %s" % (name, image.manifest["files"][name]["sha256"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
