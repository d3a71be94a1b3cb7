"""The lab for real: namespaces, a node's own libvirtd, and a VM booted there.

These need root, qemu and libvirtd; they build the test image (fetching the
kernel package once) and leave nothing behind: no namespace, process or
directory.  Timings are written to the test log (``_trial_temp/test.log``).
"""

import json
import os
import random
import subprocess
import sys
import time

from twisted.internet import threads
from twisted.python import log
from twisted.trial import unittest

from eucad.common.db import Database
from eucad.lab import guest, testimage
from eucad.lab.ownedprocess import OwnedProcess, startTime
from eucad.lab.topology import Lab
from tests.clc.metadata.fixtures import addImage, addInstance
from tests.lab import realenv

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOMAIN_XML = """<domain type='qemu'>
  <name>{instanceId}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{root}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <mac address='{mac}'/>
      <target dev='vn-{instanceId}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

DHCPD_CONF = """ddns-update-style none;
authoritative;
default-lease-time 3600;
max-lease-time 3600;
subnet {subnet} netmask {netmask} {{
  option routers {router};
  option subnet-mask {netmask};
  option broadcast-address {broadcast};
  option interface-mtu 1500;
}}
host {instanceId} {{
  hardware ethernet {mac};
  fixed-address {ip};
}}
"""


def libvirtModule():
    try:
        import libvirt
    except ImportError:
        raise unittest.SkipTest("libvirt-python is not installed")
    libvirt.registerErrorHandler(lambda *args: None, None)
    return libvirt


class LabUpDownTests(unittest.TestCase):
    """A one-node lab comes up with a working libvirtd and goes away completely."""

    timeout = 300

    def setUp(self):
        realenv.skipUnlessReal("ip", "libvirtd", "virsh", "qemu-system-x86_64", "unshare", "busybox")
        self.libvirt = libvirtModule()
        self.name = realenv.uniqueName("lu")
        self.dir = os.path.abspath(self.mktemp())
        self.lab = Lab(self.name, self.dir, nodes=1, subnet="10.79.0.0/24")
        self.addCleanup(self.lab.down)

    def test_upAnswersDownLeavesNothing(self):
        """up() gives a node whose libvirtd answers; down() leaves no namespace, process or dir."""
        def scenario():
            started = time.monotonic()
            described = self.lab.up()
            upTime = time.monotonic() - started
            node = described["nodes"][0]
            self.assertEqual(realenv.labNamespaces(self.name),
                             sorted("%s-%s" % (self.name, r) for r in ("fe", "sw", "pub", "n1")))
            connection = self.libvirt.open(node["libvirtUri"])
            version = connection.getVersion()
            connection.close()
            self.assertGreater(version, 0)
            # The node reaches the front end, and the front end reaches pub.
            for ns, address in ((node["netns"], described["fe"]["address"]),
                                (described["fe"]["netns"], described["pub"]["address"])):
                ping = subprocess.run(["ip", "netns", "exec", ns, "busybox", "ping", "-c", "1",
                                       "-W", "2", address], capture_output=True, timeout=30)
                self.assertEqual(ping.returncode, 0, "%s cannot reach %s" % (ns, address))
            with open(os.path.join(self.dir, "lab.json")) as f:
                saved = json.load(f)["libvirtd"]["n1"]
            runDir = os.path.dirname(node["libvirtUri"].split("socket=", 1)[1])
            with open(os.path.join(runDir, "libvirtd.pid")) as f:
                daemonPid = int(f.read())
            processes = [OwnedProcess.fromJson(saved), OwnedProcess(daemonPid, startTime(daemonPid))]
            self.assertTrue(all(p.alive() for p in processes))

            started = time.monotonic()
            self.lab.down()
            downTime = time.monotonic() - started
            log.msg("lab: 1-node up %.2fs (libvirtd %s), down %.2fs" % (upTime, version, downTime))
            self.assertEqual(realenv.labNamespaces(self.name), [])
            self.assertEqual([p.pid for p in processes if p.alive()], [])
            self.assertFalse(os.path.exists(self.dir))
        return threads.deferToThread(scenario)

    def test_secondUpReusesTheLab(self):
        """up() on a lab that is up keeps the same libvirtd."""
        def scenario():
            self.lab.up()
            with open(os.path.join(self.dir, "lab.json")) as f:
                first = json.load(f)["libvirtd"]
            self.lab.up()
            with open(os.path.join(self.dir, "lab.json")) as f:
                self.assertEqual(json.load(f)["libvirtd"], first)
        return threads.deferToThread(scenario)


class LabLeftoversTests(unittest.TestCase):
    """down() ends what others left running inside the lab's namespaces."""

    timeout = 120

    def setUp(self):
        realenv.skipUnlessReal("ip")
        self.name = realenv.uniqueName("ll")
        self.lab = Lab(self.name, os.path.abspath(self.mktemp()), nodes=2, withLibvirt=False)
        self.addCleanup(self.lab.down)

    def test_processInNamespaceIsEnded(self):
        """A process started in fe and one in a node are gone after down(), with the namespaces."""
        def scenario():
            described = self.lab.up()
            left = [subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "300"])
                    for ns in (described["fe"]["netns"], described["nodes"][1]["netns"])]
            self.addCleanup(lambda: [realenv.stopPopen(p) for p in left])
            realenv.waitFor("the sleeps to enter their namespaces", lambda: all(
                subprocess.run(["ip", "netns", "identify", str(p.pid)], capture_output=True,
                               text=True).stdout.strip() for p in left), 10)
            self.lab.down()
            self.assertEqual([p.wait(10) for p in left], [-15, -15])
            self.assertEqual(realenv.labNamespaces(self.name), [])
        return threads.deferToThread(scenario)


class LabBootTests(unittest.TestCase):
    """The test image boots under a node's libvirtd and is reached from the front end."""

    timeout = 600

    def setUp(self):
        realenv.skipUnlessReal("ip", "libvirtd", "virsh", "qemu-system-x86_64", "unshare", "dhcpd",
                                "busybox")
        self.libvirt = libvirtModule()
        self.image = testimage.build(log=lambda m: None)
        self.name = realenv.uniqueName("lb")
        self.dir = os.path.abspath(self.mktemp())
        self.work = os.path.abspath(self.mktemp())
        os.makedirs(self.work)
        self.lab = Lab(self.name, self.dir, nodes=1, subnet="10.79.0.0/24")
        self.processes = []
        # Cleanups run last-added first: processes, then the lab.
        self.addCleanup(self.lab.down)
        self.addCleanup(lambda: [realenv.stopPopen(p) for p in reversed(self.processes)])

    def start(self, argv, logName):
        with open(os.path.join(self.work, logName), "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def startDhcpd(self, described, instanceId, mac, ip):
        fe = described["fe"]
        conf = os.path.join(self.work, "dhcpd.conf")
        with open(conf, "w") as f:
            f.write(DHCPD_CONF.format(subnet=fe["subnet"], netmask=fe["netmask"],
                                      router=fe["router"], broadcast=fe["broadcast"],
                                      instanceId=instanceId, mac=mac, ip=ip))
        leases = os.path.join(self.work, "dhcpd.leases")
        open(leases, "w").close()
        self.start(["ip", "netns", "exec", fe["netns"], "dhcpd", "-4", "-d", "-cf", conf,
                    "-lf", leases, "-pf", os.path.join(self.work, "dhcpd.pid"),
                    fe["privateInterface"]], "dhcpd.log")

    def startMetadata(self, described, instanceId, ip):
        """
        The CLC's metadata service on 169.254.169.254:80 in the front end (the
        guest's router, which holds that address), over a database holding the
        instance at ``ip``.
        """
        fe = described["fe"]["netns"]
        self.assertEqual(described["fe"]["metadataAddress"], guest.METADATA_HOST)
        dbUrl = "sqlite:///" + os.path.join(self.work, "clc.db")
        db = Database(dbUrl)
        try:
            addImage(db)
            addInstance(db, ip, id=instanceId, userData=b"#!/bin/sh\necho user data ran\n")
        finally:
            db.engine.dispose()
        out = os.path.join(self.work, "metadata.out")
        with open(out, "wb") as stdout, open(os.path.join(self.work, "metadata.log"), "wb") as err:
            process = subprocess.Popen(
                ["ip", "netns", "exec", fe, sys.executable, "-m", "tests.lab.metadataserver",
                 dbUrl, guest.METADATA_HOST, "80"],
                stdout=stdout, stderr=err, stdin=subprocess.DEVNULL, cwd=REPOSITORY)
        self.processes.append(process)
        realenv.waitFor("the metadata service to listen",
                        lambda: "listening" in realenv.readText(out) or process.poll() is not None,
                        60)
        self.assertIsNone(process.poll(), realenv.readText(os.path.join(self.work, "metadata.log")))

    def test_bootAndAnswer(self):
        """A domain on the node's br0 gets its address from dhcpd, its id and user data from the metadata service."""
        instanceId = "i-%08x" % (random.getrandbits(32),)
        mac = "d0:0d:%02x:%02x:%02x:%02x" % tuple(random.getrandbits(8) for _ in range(4))

        def scenario():
            started = time.monotonic()
            described = self.lab.up()
            upTime = time.monotonic() - started
            node = described["nodes"][0]
            ip = "10.79.0.10"
            self.startDhcpd(described, instanceId, mac, ip)
            self.startMetadata(described, instanceId, ip)
            root = os.path.join(self.work, "root.img")
            with open(self.image.root, "rb") as src, open(root, "wb") as dst:
                dst.write(src.read())
            console = os.path.join(self.work, "console.log")
            xml = DOMAIN_XML.format(instanceId=instanceId, kernel=self.image.vmlinuz,
                                    initrd=self.image.initrd, cmdline=self.image.cmdline,
                                    root=root, bridge=node["bridge"], mac=mac, console=console)
            connection = self.libvirt.open(node["libvirtUri"])
            try:
                created = time.monotonic()
                domain = connection.createXML(xml, 0)
                createTime = time.monotonic() - created
                marker = realenv.waitFor("the guest's marker", lambda: guest.parseMarker(
                    realenv.readText(console)), 120)
                markerTime = time.monotonic() - created
                self.assertEqual(marker, (instanceId, ip))
                page = realenv.waitFor("HTTP from the guest", lambda: realenv.httpGet(
                    described["fe"]["netns"], "http://%s/" % (ip,), 1.0), 60, 0.05)
                httpTime = time.monotonic() - created
                self.assertEqual(page, instanceId + "\n")
                status = json.loads(realenv.httpGet(described["fe"]["netns"],
                                                    "http://%s/status.json" % (ip,)))
                self.assertEqual((status["instanceId"], status["metadataSource"],
                                  status["userDataOutput"], status["metadata"]["local-ipv4"]),
                                 (instanceId, guest.FROM_METADATA_SERVICE, "user data ran\n", ip))
                self.assertIn("DHCPACK on %s to %s" % (ip, mac),
                              realenv.readText(os.path.join(self.work, "dhcpd.log")))
                self.assertEqual(realenv.httpGet(described["fe"]["netns"],
                                                 "http://%s/root.txt" % (ip,)),
                                 guest.ROOT_MARKER_TEXT)
                destroyed = time.monotonic()
                domain.destroy()
                destroyTime = time.monotonic() - destroyed
                self.assertEqual(connection.listDomainsID(), [])
            finally:
                connection.close()
            log.msg("lab boot: up %.2fs, createXML %.2fs, marker %.2fs, HTTP %.2fs after "
                    "createXML, destroy %.2fs" % (upTime, createTime, markerTime, httpTime,
                                                  destroyTime))
        return threads.deferToThread(scenario)
