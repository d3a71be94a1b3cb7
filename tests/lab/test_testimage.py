"""The test guest: its initramfs format, its scripts, and real boots under qemu."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import time

from twisted.internet import defer, reactor, threads, utils
from twisted.python import log
from twisted.trial import unittest

from eucad.clc.metadata.service import makeMetadataSite
from eucad.common.db import Database
from eucad.lab import guest, testimage
from eucad.lab.testimage import CpioArchive
from tests.clc.metadata.fixtures import KEY, addImage, addInstance
from tests.lab import realenv
from tests.listening import listenClosingConnections

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parseNewc(data):
    """(name, mode, rdevmajor, rdevminor, body) for each entry of a newc archive."""
    entries = []
    offset = 0
    while True:
        header = data[offset:offset + 110]
        assert header[:6] == b"070701", (offset, header[:6])
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        nameSize, fileSize = fields[11], fields[6]
        nameStart = offset + 110
        name = data[nameStart:nameStart + nameSize - 1].decode()
        bodyStart = (nameStart + nameSize + 3) & ~3
        body = data[bodyStart:bodyStart + fileSize]
        offset = (bodyStart + fileSize + 3) & ~3
        if name == "TRAILER!!!":
            return entries, offset
        entries.append((name, fields[1], fields[9], fields[10], body))


class CpioArchiveTests(unittest.TestCase):
    """The initramfs writer."""

    def makeArchive(self):
        archive = CpioArchive()
        archive.addDirectory("bin")
        archive.addFile("bin/busybox", b"\x7fELF pretend", 0o755)
        archive.addSymlink("bin/sh", "busybox")
        archive.addFile("init", b"#!/bin/sh\necho hi\n", 0o755)
        archive.addCharDevice("dev/console", 5, 1)
        return archive.bytes()

    def test_newcLayout(self):
        """Every entry is 4-byte aligned with its mode, body and device numbers, then a trailer."""
        data = self.makeArchive()
        entries, end = parseNewc(data)
        self.assertEqual(end, len(data))
        self.assertEqual([(e[0], oct(e[1]), e[2], e[3], e[4]) for e in entries], [
            ("bin", "0o40755", 0, 0, b""),
            ("bin/busybox", "0o100755", 0, 0, b"\x7fELF pretend"),
            ("bin/sh", "0o120777", 0, 0, b"busybox"),
            ("init", "0o100755", 0, 0, b"#!/bin/sh\necho hi\n"),
            ("dev/console", "0o20600", 5, 1, b""),
        ])

    def test_cpioToolReadsIt(self):
        """GNU cpio lists and extracts what we wrote (files and symlinks)."""
        if shutil.which("cpio") is None:
            raise unittest.SkipTest("cpio is not installed")
        archive = CpioArchive()
        archive.addDirectory("etc")
        archive.addFile("etc/hello", b"hello\n", 0o640)
        archive.addSymlink("etc/link", "hello")
        target = os.path.abspath(self.mktemp())
        os.makedirs(target)
        result = subprocess.run(["cpio", "-idm", "--quiet"], input=archive.bytes(), cwd=target,
                                capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(target, "etc", "hello"), "rb") as f:
            self.assertEqual(f.read(), b"hello\n")
        self.assertEqual(os.readlink(os.path.join(target, "etc", "link")), "hello")
        self.assertEqual(os.stat(os.path.join(target, "etc", "hello")).st_mode & 0o777, 0o640)

    def test_sameContentsSameBytes(self):
        """Two archives of the same entries are identical (fixed mtime and owners)."""
        self.assertEqual(self.makeArchive(), self.makeArchive())


class KernelCacheTests(unittest.TestCase):
    """Where the kernel package comes from, without the network."""

    def touch(self, directory, name):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(name.encode())

    def test_newestLocalDebWins(self):
        """A .deb already in the download dir is used; ABI 10 is newer than ABI 9."""
        downloads = os.path.abspath(self.mktemp())
        for abi in (9, 10):
            self.touch(downloads, "linux-image-6.1.0-%d-cloud-amd64_6.1.1-%d_amd64.deb" % (abi, abi))
        cache = testimage.KernelCache(downloads, aptArchives=self.mktemp(), log=lambda m: None)
        self.assertEqual(os.path.basename(cache.findDeb()),
                         "linux-image-6.1.0-10-cloud-amd64_6.1.1-10_amd64.deb")

    def test_aptCacheIsCopied(self):
        """Without a local .deb, one in apt's archive cache is copied into the download dir."""
        downloads, archives = os.path.abspath(self.mktemp()), os.path.abspath(self.mktemp())
        name = "linux-image-6.1.0-53-cloud-amd64_6.1.187-1_amd64.deb"
        self.touch(archives, name)
        self.touch(archives, "linux-image-6.1.0-53-rt-amd64_6.1.187-1_amd64.deb")
        cache = testimage.KernelCache(downloads, aptArchives=archives, log=lambda m: None)
        self.assertEqual(cache.findDeb(), os.path.join(downloads, name))
        self.assertEqual(os.listdir(downloads), [name])


class GuestScriptTests(unittest.TestCase):
    """What the guest's /init is made of."""

    def test_modulesInLoadOrder(self):
        """/init inserts the virtio modules in the order LAB.md gives."""
        script = guest.initScript()
        self.assertIn("for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev "
                      "virtio_pci failover net_failover virtio_net virtio_blk; do", script)
        self.assertNotIn("@", script.replace("$@", ""))

    def test_markerGoesToTheSerialConsole(self):
        """The marker line is written to ttyS0 with the id and the address."""
        self.assertIn('echo "EUCAD-GUEST-UP $id $ip" > /dev/ttyS0', guest.initScript())

    def test_metadataRequest(self):
        """The guest asks 169.254.169.254 with nc (not wget), bounded by eucad.metadata_wait."""
        script = guest.initScript()
        self.assertIn("nc -w 2 169.254.169.254 80 -e /etc/md-request.sh", script)
        self.assertIn("Host: 169.254.169.254", guest.metadataRequestScript())
        self.assertIn("md_get /latest/meta-data/instance-id /tmp/md.id", script)
        self.assertIn("nc -w 2 169.254.169.254 80 -e /etc/md-walk.sh", script)
        self.assertIn("Host: 169.254.169.254", guest.metadataWalkScript())
        self.assertNotIn("@", guest.metadataWalkScript())
        self.assertIn("md_wait=%d" % (guest.METADATA_WAIT_SECONDS,), script)
        self.assertIn("eucad.metadata_wait=*", script)
        self.assertNotIn("wget", script)

    def test_parseMarker(self):
        """The first marker line of a console log gives (instance id, ip)."""
        text = "[ 1.2] boot\r\nEUCAD-GUEST-UP i-0123abcd 10.77.0.10\r\nEUCAD-GUEST-UP x y\n"
        self.assertEqual(guest.parseMarker(text), ("i-0123abcd", "10.77.0.10"))
        self.assertIsNone(guest.parseMarker("no marker here\nEUCAD-GUEST-UP\n"))


class MetadataWalkTests(unittest.TestCase):
    """
    The guest's md-walk.sh, run by the host's busybox (the guest's own) under
    ``nc -e`` against the CLC's real metadata site on loopback: the
    instance's address is 127.0.0.1, where the requests come from.
    """

    def setUp(self):
        realenv.skipUnlessReal("busybox")
        self.dir = os.path.abspath(self.mktemp())
        self.md = os.path.join(self.dir, "md")
        os.makedirs(self.md)
        self.script = os.path.join(self.dir, "md-walk.sh")
        with open(self.script, "w") as f:
            f.write(guest.metadataWalkScript())
        # nc -e runs one program with no arguments; the host's /bin/sh is
        # not busybox's, as the guest's is.
        self.runner = os.path.join(self.dir, "run-walk")
        with open(self.runner, "w") as f:
            f.write("#!/bin/sh\nexec /bin/busybox sh %s\n" % (self.script,))
        os.chmod(self.runner, 0o755)
        self.db = Database("sqlite:///" + os.path.join(self.dir, "clc.db"), reactor=reactor)
        self.db.startService()
        self.addCleanup(self.db.stopService)
        addImage(self.db)
        site = makeMetadataSite(self.db)
        self.connections = []
        buildProtocol = site.buildProtocol

        def counted(addr):
            self.connections.append(addr)
            return buildProtocol(addr)
        site.buildProtocol = counted
        self.port = listenClosingConnections(self, site).getHost().port

    def walk(self):
        """Run the script once (what it leaves tells how it went)."""
        env = {"PATH": "/usr/bin:/bin", "MD_DIR": self.md, "MD_TMP": self.dir,
               "MD_USER_DATA": os.path.join(self.dir, "user-data")}
        return utils.getProcessValue(
            "/bin/busybox", ["nc", "-w", "2", "127.0.0.1", str(self.port), "-e", self.runner],
            env=env)

    def read(self, *path):
        with open(os.path.join(self.dir, *path), "rb") as f:
            return f.read()

    @defer.inlineCallbacks
    def test_wholeTreeAndUserDataOverOneConnection(self):
        """Every key, nested ones included, and the user data byte for byte, over one connection."""
        userData = b"#!/bin/sh\necho 'two  spaces'\tand a tab\n\nlast line without newline"
        instanceId = addInstance(self.db, "127.0.0.1", userData=userData, vmType="c1.medium")
        code = yield self.walk()
        self.assertEqual(code, 0)
        self.assertEqual(len(self.connections), 1)
        self.assertEqual(self.read("user-data"), userData)
        self.assertEqual(self.read("md", "instance-id"), instanceId.encode())
        self.assertEqual(self.read("md", "instance-type"), b"c1.medium")
        self.assertEqual(self.read("md", "security-groups"), b"default\nweb")
        self.assertEqual(self.read("md", "placement", "availability-zone"), b"zone-a")
        self.assertEqual(self.read("md", "block-device-mapping", "swap"), b"sda3")
        self.assertEqual(self.read("md", "public-keys", "0", "openssh-key"),
                         (KEY + "\n").encode())
        written = sorted(os.path.relpath(os.path.join(top, name), self.md)
                         for top, _, names in os.walk(self.md) for name in names)
        self.assertIn("ami-launch-index", written)
        self.assertIn("local-ipv4", written)
        self.assertGreaterEqual(len(written), 15)

    @defer.inlineCallbacks
    def test_noUserData(self):
        """A 404 for the user data leaves no file, and the keys read before it stay."""
        addInstance(self.db, "127.0.0.1")
        with open(os.path.join(self.dir, "user-data"), "w") as f:
            f.write("left from before")
        yield self.walk()
        self.assertFalse(os.path.exists(os.path.join(self.dir, "user-data")))
        self.assertEqual(self.read("md", "local-ipv4"), b"127.0.0.1")
        self.assertEqual(len(self.connections), 1)

    @defer.inlineCallbacks
    def test_strangerGetsNothing(self):
        """From an address that is no instance's, every answer is 404: nothing is written."""
        yield self.walk()
        self.assertEqual(os.listdir(self.md), [])


class DhcpScriptTests(unittest.TestCase):
    """The guest's udhcpc script, run by busybox in a namespace of its own."""

    def setUp(self):
        realenv.skipUnlessReal("busybox", "ip")
        self.ns = realenv.uniqueName("dh")
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "delete", self.ns])
        subprocess.run(["ip", "-n", self.ns, "link", "add", "eth0", "type", "veth",
                        "peer", "name", "eth1"], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "eth1", "up"], check=True)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.dir, "bin"))
        for applet in ("ip", "cat", "rm", "sh"):
            os.symlink("/bin/busybox", os.path.join(self.dir, "bin", applet))
        self.script = os.path.join(self.dir, "udhcpc.sh")
        with open(self.script, "w") as f:
            f.write(guest.UDHCPC_SCRIPT)

    def event(self, name, **lease):
        env = {"PATH": os.path.join(self.dir, "bin"), "interface": "eth0",
               "EUCAD_IP_FILE": os.path.join(self.dir, "ip")}
        env.update(lease)
        # The host's ip, by full path: PATH below names busybox's applets.
        hostIp = shutil.which("ip", path=realenv.SBIN_PATH)
        result = subprocess.run([hostIp, "netns", "exec", self.ns, "/bin/busybox", "sh",
                                 self.script, name], env=env, capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)

    def show(self, *what):
        return subprocess.run(["ip", "-n", self.ns] + list(what), capture_output=True,
                              text=True, check=True).stdout

    def test_boundConfiguresTheLease(self):
        """bound sets the address with its prefix, the default route and the MTU."""
        self.event("deconfig")
        self.event("bound", ip="10.9.8.7", mask="24", broadcast="10.9.8.255",
                   router="10.9.8.1 10.9.8.2", mtu="1450")
        self.assertIn("inet 10.9.8.7/24 brd 10.9.8.255", self.show("addr", "show", "eth0"))
        self.assertIn("mtu 1450", self.show("link", "show", "eth0"))
        self.assertEqual(self.show("route", "show", "default").split()[:3],
                         ["default", "via", "10.9.8.1"])
        self.assertEqual(realenv.readText(os.path.join(self.dir, "ip")), "10.9.8.7\n")

    def test_renewWithNewAddress(self):
        """A renew with another address replaces the old one."""
        self.event("deconfig")
        self.event("bound", ip="10.9.8.7", mask="24", router="10.9.8.1")
        self.event("renew", ip="10.9.8.9", mask="24", router="10.9.8.1")
        shown = self.show("addr", "show", "eth0")
        self.assertIn("10.9.8.9/24", shown)
        self.assertNotIn("10.9.8.7", shown)


def qemuArgv(image, cmdline, console, extra):
    """A direct qemu boot of the test image (TCG, serial console to a file)."""
    return ["qemu-system-x86_64", "-machine", "accel=tcg", "-m", "128", "-display", "none",
            "-no-reboot", "-kernel", image.vmlinuz, "-initrd", image.initrd,
            "-append", "%s %s panic=-1" % (image.cmdline, cmdline),
            "-serial", "file:" + console] + extra


class BuildTests(unittest.TestCase):
    """The builder, for real (the kernel .deb is fetched once into build/downloads)."""

    timeout = 900

    def setUp(self):
        for tool in ("mke2fs", "dpkg", "debugfs", "dropbear"):
            if shutil.which(tool, path=realenv.SBIN_PATH) is None:
                raise unittest.SkipTest("%s is not installed" % (tool,))
        if not os.path.exists(testimage.BUSYBOX):
            raise unittest.SkipTest("busybox-static is not installed")

    def test_buildThenUpToDate(self):
        """A build writes the three files and their digests; the next is a no-op that
        rewrites none of them (nor the manifest)."""
        out = os.path.abspath(self.mktemp())
        first = testimage.build(out, log=lambda m: None)
        self.assertTrue(first.manifest["rebuilt"])
        for name in testimage.OUTPUT_FILES:
            self.assertEqual(testimage.sha256File(first.path(name)),
                             first.manifest["files"][name]["sha256"])
        written = sorted(testimage.OUTPUT_FILES) + ["manifest.json"]

        def stamps():
            return [(name, os.stat(os.path.join(out, name)).st_mtime_ns,
                     os.stat(os.path.join(out, name)).st_ino) for name in written]
        before = stamps()
        second = testimage.build(out, log=lambda m: None)
        self.assertFalse(second.manifest["rebuilt"])
        self.assertEqual(stamps(), before)
        self.assertEqual(second.manifest["files"], first.manifest["files"])

    def test_changedOutputIsRebuilt(self):
        """An output file that no longer matches its digest makes the next build rebuild it."""
        out = os.path.abspath(self.mktemp())
        first = testimage.build(out, log=lambda m: None)
        with open(first.root, "r+b") as f:
            f.seek(4096)
            f.write(b"tampered")
        again = testimage.build(out, log=lambda m: None)
        self.assertTrue(again.manifest["rebuilt"])
        self.assertEqual(again.manifest["files"]["root.img"], first.manifest["files"]["root.img"])

    def test_initramfsHoldsModulesAndInit(self):
        """initrd.img is gzip'd newc with /init, busybox, the udhcpc script and each module."""
        image = testimage.build(log=lambda m: None)
        with open(image.initrd, "rb") as f:
            entries, _ = parseNewc(gzip.decompress(f.read()))
        names = {e[0] for e in entries}
        expected = {"init", "bin/busybox", "etc/udhcpc.sh", "etc/md-request.sh", "etc/md-walk.sh",
                    "dev/console",
                    "sbin/dropbear",
                    "etc/passwd", "etc/shadow", "lib64/ld-linux-x86-64.so.2",
                    "lib/x86_64-linux-gnu/libtomcrypt.so.1"} | {
            "lib/modules/%s.ko" % m for m in guest.VIRTIO_MODULES}
        self.assertEqual(expected - names, set())
        init = [e for e in entries if e[0] == "init"][0]
        self.assertEqual(init[4].decode(), guest.initScript())

    def test_rootImageSaysWhatItIs(self):
        """root.img is ext2 holding the eucad test root file."""
        image = testimage.build(log=lambda m: None)
        result = subprocess.run(["debugfs", "-R", "cat /" + guest.ROOT_MARKER_FILE, image.root],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.stdout, guest.ROOT_MARKER_TEXT)


class QemuBootTests(unittest.TestCase):
    """The image booted by qemu directly (TCG), without libvirt."""

    timeout = 300

    def setUp(self):
        realenv.skipUnlessReal("qemu-system-x86_64", "ip", "dnsmasq", "busybox", "dropbear")
        self.image = testimage.build(log=lambda m: None)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.console = os.path.join(self.dir, "console.log")
        self.processes = []
        self.addCleanup(lambda: [realenv.stopPopen(p) for p in reversed(self.processes)])

    def start(self, argv, logName):
        with open(os.path.join(self.dir, logName), "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def waitMarker(self, timeout=120):
        return realenv.waitFor("the guest's marker line",
                               lambda: guest.parseMarker(realenv.readText(self.console)), timeout)

    def test_consoleOnly(self):
        """Without a NIC (so no metadata service) the guest prints the marker as unknown, with no address."""
        def boot():
            started = time.monotonic()
            self.start(qemuArgv(self.image, "", self.console,
                                ["-nic", "none", "-drive", "file=%s,format=raw,if=virtio,readonly=on"
                                 % (self.image.root,)]), "qemu.log")
            marker = self.waitMarker()
            log.msg("test image: marker %.2fs after qemu started (console only)"
                    % (time.monotonic() - started,))
            self.assertEqual(marker, (guest.UNKNOWN_ID, "none"))
            realenv.waitFor("the root disk line",
                            lambda: "root disk vda" in realenv.readText(self.console), 10)
        return threads.deferToThread(boot)

    def makeNamespace(self):
        """A namespace with a bridge (10.66.0.1), a tap for qemu and the metadata address."""
        ns = realenv.uniqueName("qb")
        commands = [
            ["ip", "netns", "add", ns],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", ns, "addr", "add", "10.66.0.1/24", "dev", "br0"],
            ["ip", "-n", ns, "link", "set", "br0", "up"],
            ["ip", "-n", ns, "tuntap", "add", "tap0", "mode", "tap"],
            ["ip", "-n", ns, "link", "set", "tap0", "master", "br0", "up"],
            ["ip", "-n", ns, "addr", "add", guest.METADATA_HOST + "/32", "dev", "lo"],
        ]
        self.addCleanup(subprocess.run, ["ip", "netns", "delete", ns])
        for argv in commands:
            subprocess.run(argv, check=True, timeout=30)
        return ns

    def startDhcp(self, ns, mac, ip):
        """dnsmasq in the namespace with one static lease (and an MTU to pass on)."""
        self.start(["ip", "netns", "exec", ns, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                    "--port=0", "--interface=br0", "--bind-interfaces",
                    "--dhcp-range=10.66.0.0,static,255.255.255.0",
                    "--dhcp-host=%s,%s" % (mac, ip), "--dhcp-option=option:mtu,1400",
                    "--dhcp-leasefile=" + os.path.join(self.dir, "leases"),
                    "--pid-file=" + os.path.join(self.dir, "dnsmasq.pid")], "dnsmasq.log")

    def startMetadataService(self, ns, dbUrl):
        """The CLC's real metadata service, at 169.254.169.254:80 inside the namespace."""
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.lab.metadataserver",
                dbUrl, guest.METADATA_HOST, "80"]
        out = os.path.join(self.dir, "metadata.out")
        with open(out, "wb") as stdout, open(os.path.join(self.dir, "metadata.log"), "wb") as err:
            process = subprocess.Popen(argv, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL,
                                       cwd=REPOSITORY)
        self.processes.append(process)
        realenv.waitFor("the metadata service to listen",
                        lambda: "listening" in realenv.readText(out) or process.poll() is not None,
                        60)
        self.assertIsNone(process.poll(), realenv.readText(os.path.join(self.dir, "metadata.log")))

    def bootOnTap(self, ns, mac, cmdline):
        self.start(["ip", "netns", "exec", ns] + qemuArgv(
            self.image, cmdline, self.console,
            ["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
             "-device", "virtio-net-pci,netdev=n0,mac=" + mac]), "qemu.log")

    def makeKey(self):
        """An ed25519 key pair made by ssh-keygen: (private key path, public key text)."""
        if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
            raise unittest.SkipTest("openssh-client is not installed")
        path = os.path.join(self.dir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@lab",
                        "-f", path], check=True, timeout=60)
        with open(path + ".pub") as f:
            return path, f.read().strip()

    def test_metadataUserDataAndSsh(self):
        """The guest learns id, key and user data from the real metadata service, runs and shows them, lets the key in."""
        ns = self.makeNamespace()
        keyPath, publicKey = self.makeKey()
        dbUrl = "sqlite:///" + os.path.join(self.dir, "clc.db")
        db = Database(dbUrl)
        self.addCleanup(lambda: db.engine is not None and db.engine.dispose())
        addImage(db)
        ip, mac = "10.66.0.7", "52:54:00:6e:75:01"
        script = b"#!/bin/sh\necho \"user data ran as $(id -u) on $(cat /run/eucad-ip)\"\n"
        instanceId = addInstance(db, ip, userData=script, keyName="alice-key",
                                 keyData=publicKey, vmType="c1.medium")
        addInstance(db, "10.66.0.8", userData=b"#!/bin/sh\necho not mine\n")
        self.startDhcp(ns, mac, ip)
        self.startMetadataService(ns, dbUrl)

        def boot():
            started = time.monotonic()
            # A wrong id on the command line: the metadata service must win.
            self.bootOnTap(ns, mac, "")
            marker = self.waitMarker()
            log.msg("test image: marker %.2fs after qemu started (DHCP + metadata + user data)"
                    % (time.monotonic() - started,))
            self.assertEqual(marker, (instanceId, ip))
            self.assertEqual(realenv.httpGet(ns, "http://%s/" % (ip,)), instanceId + "\n")
            self.assertEqual(realenv.httpGet(ns, "http://%s/mtu.txt" % (ip,)), "1400\n")
            status = json.loads(realenv.httpGet(ns, "http://%s/status.json" % (ip,)))
            self.assertEqual(status["instanceId"], instanceId)
            self.assertEqual(status["metadataSource"], guest.FROM_METADATA_SERVICE)
            self.assertEqual(status["publicKey"], publicKey + "\n")
            self.assertEqual(status["userDataOutput"], "user data ran as 0 on %s\n" % (ip,))
            metadata = status["metadata"]
            self.assertEqual({key: metadata.get(key) for key in (
                "instance-id", "local-ipv4", "instance-type", "reservation-id",
                "block-device-mapping/root", "block-device-mapping/ephemeral0",
                "block-device-mapping/swap", "placement/availability-zone",
                "public-keys/0/openssh-key", "security-groups", "ami-id")}, {
                "instance-id": instanceId, "local-ipv4": ip, "instance-type": "c1.medium",
                "reservation-id": "r-" + instanceId[2:], "block-device-mapping/root": "/dev/sda1",
                "block-device-mapping/ephemeral0": "sda2", "block-device-mapping/swap": "sda3",
                "placement/availability-zone": "zone-a",
                "public-keys/0/openssh-key": publicKey + "\n",
                "security-groups": "default\nweb", "ami-id": "emi-1a2b3c4d"})
            self.assertNotIn("not mine", json.dumps(status))

            started = time.monotonic()
            result = subprocess.run(
                ["ip", "netns", "exec", ns, "ssh", "-i", keyPath, "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "ConnectTimeout=30", "root@" + ip, "cat /run/instance-id; id -u"],
                capture_output=True, text=True, timeout=120)
            log.msg("test image: ssh answered in %.2fs" % (time.monotonic() - started,))
            self.assertEqual((result.returncode, result.stdout), (0, instanceId + "0\n"),
                             result.stderr)
        return threads.deferToThread(boot)

    def test_fallbackWithoutMetadataService(self):
        """With nothing at 169.254.169.254 the guest gives up in its bound and serves itself as unknown."""
        ns = self.makeNamespace()
        ip, mac = "10.66.0.9", "52:54:00:6e:75:02"
        self.startDhcp(ns, mac, ip)

        def boot():
            started = time.monotonic()
            self.bootOnTap(ns, mac, "eucad.metadata_wait=2")
            marker = self.waitMarker()
            log.msg("test image: marker %.2fs after qemu started (no metadata service)"
                    % (time.monotonic() - started,))
            self.assertEqual(marker, (guest.UNKNOWN_ID, ip))
            status = json.loads(realenv.httpGet(ns, "http://%s/status.json" % (ip,)))
            self.assertEqual(status, {"instanceId": guest.UNKNOWN_ID, "publicKey": None,
                                      "userDataOutput": None,
                                      "metadataSource": "none",
                                      "metadata": {}})
        return threads.deferToThread(boot)
