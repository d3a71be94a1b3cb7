"""Launch latency: eucad's RunInstances against libvirt's own createXML (issue 2).

One run of this script measures, side by side on the same lab and the same
node, so that the load other work puts on the machine weighs on both:

- the reference: the test image started with a raw ``createXML`` on the
  node's libvirtd, with the domain XML the node controller itself would write
  (``eucad.nc.domainxml`` fed with the record of an instance the NC really
  started, disks made by ``eucad.nc.instancefiles`` as the NC makes them: a
  qcow2 overlay, ephemeral and swap) and a dhcpd of its own in the front end
  serving a ``host`` entry for its MAC.  Timed from ``createXML`` to running
  (``createXML`` returned) and to its HTTP answering from the front end;
- eucad: ``RunInstances`` through the running CLC, CC and NC (an
  ``AllInOne`` cloud of its own), timed to ``running`` as a user sees it
  (DescribeInstances polling) and to HTTP answering from the front end;
  each instance is terminated, and ``terminated`` awaited, before the next.

Each is warmed up once (unmeasured), then run ``--runs`` times, interleaved.
It prints the medians, the ratios eucad/reference and the target (ratio at
most 1.25 for RunInstances->HTTP against createXML->HTTP), and where
eucad's time goes, from timestamps of its own (file times in the NC's
instance directory and the CC's dhcpd directory, libvirt lifecycle events,
the CLC's ``stateChanged`` column) since the daemons' logs only have whole
seconds.  ``--also-poll S`` repeats the series with CLUSTER_POLL_SECONDS and
NODE_POLL_SECONDS set to S (CLC and CC restarted) to show what polling costs.

Two more figures from the same run (issue 9):

- the breakdown of eucad's single launches: waiting for a launch slot,
  image fetch, disk preparation (disks and domain XML) and libvirt create,
  as the NC itself times them (its log, to the millisecond), and the guest's
  boot to network (libvirt's started event -> HTTP answers);
- the burst (``--burst N``, 10 by default, on a one-node lab): N instances
  in one RunInstances call, timed until every one answers HTTP, against the
  CPU-bound limit N x one guest's boot CPU seconds / the machine's cores;
  one guest's boot CPU is the median CPU time its qemu used until its HTTP
  answered, over the single launches of this run.  The node's MAX_CORES and
  MAX_DISK are raised for it (in the bench's own install) and its NC
  restarted.  The ratio's target is at most ``BURST_TARGET_RATIO``;
- where the guests' CPU goes: each guest's qemu CPU time, sampled every
  0.5 s with the boot phase its console shows (kernel boot, modules + DHCP,
  metadata, the rest after HTTP answers), for the single launches and for
  the burst side by side: a guest that costs more CPU in the burst shows in
  which phase.  The burst's consoles are kept in ``--dir``/burst-consoles.

Nothing is asserted about time: the figures are printed.  Everything made is
removed (domains, dhcpd, probe process; ``AllInOne.down`` for the rest); the
install under ``--dir`` is kept, as ``make run`` keeps its own, so that a
second run skips the setup and the daemons' logs can be read afterwards.

The HTTP probe runs in the front end and starts a new connection every 30 ms
(each may take 2 s), and the front end's ARP retry interval on its private
interface is set to 50 ms (``net.ipv4.neigh.priv0.retrans_time_ms``, in the
lab's own namespace): with the default 1 s, when the probe happens to ask
for the guest's MAC only adds up to a second of noise.  It only changes how
soon the front end notices a guest, the same way for both.  The burst puts
the kernel's default (1 s, ``BURST_ARP_RETRANS_MS``) back: at 50 ms the
front end would broadcast about 20 ARP requests a second for each address
that does not answer yet, 200 a second for ten, and every guest whose NIC
is up receives each one; a guest under qemu without KVM spends about half
a millisecond of CPU on one (measured: 11 % of a core at 184 a second),
so the probe would load the very node it times.  A guest asks the front
end for its gateway's (and metadata service's) MAC before it serves, which
tells the front end the guest's MAC: probing does not wait for a retry.

Run as root from the repository: ``.venv/bin/python bench/launch.py``.
"""

import argparse
import glob
import ipaddress
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import botocore.exceptions
from lxml import etree
from twisted.internet import defer
from twisted.python.failure import Failure

from eucad.cc.dhcpd import READY_MARKER, DhcpdConfig, DhcpHost, DhcpSubnet
from eucad.common import control
from eucad.common.config import Layout
from eucad.lab import guest, testimage
from eucad.common.polling import PollTimeout, pollUntil
from eucad.lab.allinone import CloudMismatch, freeBasePort, openCloud, staticNetworkConf
from eucad.nc.domainxml import buildDomainXml, parseInstanceRecord
from eucad.nc.instancefiles import InstanceDisks

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_RATIO = 1.25
#: The burst's target: all answering within this many times the CPU-bound limit.
BURST_TARGET_RATIO = 1.3

#: The reference VM's fixed MAC and the host part of its address: clear of
#: the lab's hosts (.1-.9) and of allinone's VNET_MACMAP (.101 up).
REFERENCE_MAC = "d0:0d:be:0c:00:01"
REFERENCE_HOST = 90
REFERENCE_OWNER = "bench"

#: The front end's ARP retry interval while probing single launches, and
#: during the burst (the kernel's default; see the docstring).
ARP_RETRANS_MS = 50
BURST_ARP_RETRANS_MS = 1000

# Runs in the front end's namespace (``ip netns exec``).  For each request
# line "IP EXPECT TIMEOUT" it opens a connection to IP:80 every 30 ms, each
# allowed 2 s, until one returns a page containing EXPECT; it answers
# "ok MONOTONIC ATTEMPTS" (CLOCK_MONOTONIC is the same in every namespace)
# or "timeout ATTEMPTS".  Several attempts in flight: none waits on another.
PROBE_SCRIPT = r"""
import errno, selectors, socket, sys, time

REQUEST = b"GET / HTTP/1.0\r\n\r\n"


def probe(ip, expect, timeout, every=0.03, attemptTimeout=2.0):
    selector = selectors.DefaultSelector()
    live = {}
    deadline = time.monotonic() + timeout
    nextAttempt = 0.0
    attempts = 0

    def drop(s):
        live.pop(s, None)
        try:
            selector.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return "timeout %d" % (attempts,)
            if now >= nextAttempt:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                code = s.connect_ex((ip, 80))
                attempts += 1
                nextAttempt = now + every
                if code in (0, errno.EINPROGRESS):
                    live[s] = [now, None]
                    selector.register(s, selectors.EVENT_WRITE)
                else:
                    s.close()
            for s, state in list(live.items()):
                if now - state[0] > attemptTimeout:
                    drop(s)
            wait = max(0.0, min(nextAttempt, deadline) - time.monotonic())
            for key, _ in selector.select(wait):
                s = key.fileobj
                state = live.get(s)
                if state is None:
                    continue
                try:
                    if state[1] is None:
                        code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if code:
                            raise OSError(code, "connect")
                        s.send(REQUEST)
                        state[1] = b""
                        selector.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(65536)
                    if chunk:
                        state[1] += chunk
                        continue
                    if expect in state[1]:
                        return "ok %.6f %d" % (time.monotonic(), attempts)
                    raise OSError(0, "another page")
                except OSError:
                    drop(s)
    finally:
        for s in list(live):
            drop(s)


for line in sys.stdin:
    ip, expect, timeout, *every = line.split()
    print(probe(ip, expect.encode(), float(timeout), *map(float, every)), flush=True)
"""


class BenchError(Exception):
    """Something the bench needs did not happen (not a timing verdict)."""


def say(message):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def waitFor(what, check, timeout, interval=0.2):
    """Call ``check`` until it returns something true; BenchError after ``timeout``."""
    try:
        return pollUntil(what, check, timeout, interval)
    except PollTimeout as e:
        raise BenchError(str(e))


def wallToMonotonic():
    """The offset that turns a wall-clock time (file mtimes, the CLC's DB) into monotonic."""
    return time.monotonic() - time.time()


# -- instruments --------------------------------------------------------------


def qemuCpuSeconds(instanceId):
    """
    CPU seconds (user + system) the qemu process of domain ``instanceId``
    has used so far, or None when there is none.  libvirt names the guest
    on qemu's command line (``-name guest=ID,...``); the node's libvirtd
    shares this host's PID namespace, so /proc shows it.
    """
    needle = ("guest=%s," % (instanceId,)).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % (pid,), "rb") as f:
                words = f.read()
            if needle not in words or b"qemu-system" not in words:
                continue
            with open("/proc/%s/stat" % (pid,), "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


_STEPS_LINE = re.compile(r"(i-[0-9a-f]{8}) is running; launch steps in seconds: (.*)$")


def launchSteps(cloud, instanceId):
    """
    The NC's own timing of ``instanceId``'s launch (``waiting``, ``images``,
    ``disks``, ``xml``, ``create``: seconds, from its log), or None until it
    has logged it.
    """
    for path in glob.glob(os.path.join(cloud.runDir, "nodes", "*", "var", "log",
                                       "eucalyptus", "nc.log")):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    match = _STEPS_LINE.search(line.rstrip())
                    if match and match.group(1) == instanceId:
                        return {key: float(value) for key, value in (
                            word.split("=") for word in match.group(2).split())}
        except OSError:
            continue
    return None


#: The launch breakdown's parts, in launch order.
BREAKDOWN = ("waiting for a launch slot", "image fetch", "disk preparation",
             "libvirt create", "guest boot to network")


def breakdown(steps, bootToNetwork):
    """One launch's breakdown: the NC's steps and the guest's boot (started event -> HTTP)."""
    return {"waiting for a launch slot": steps.get("waiting"),
            "image fetch": steps.get("images"),
            "disk preparation": steps.get("disks", 0) + steps.get("xml", 0),
            "libvirt create": steps.get("create"),
            "guest boot to network": bootToNetwork}


class HttpProbe:
    """The probe process in the front end (``PROBE_SCRIPT``); one probe at a time."""

    def __init__(self, netns):
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-c", PROBE_SCRIPT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.busy = False

    def start(self, ip, expect, timeout=120, every=0.03):
        if self.busy:
            raise BenchError("the HTTP probe is already busy")
        self.process.stdin.write("%s %s %d %s\n" % (ip, expect, timeout, every))
        self.process.stdin.flush()
        self.busy = True

    def result(self):
        """The monotonic time the page was first served; BenchError on timeout."""
        line = self.process.stdout.readline().split()
        self.busy = False
        if not line or line[0] != "ok":
            raise BenchError("the HTTP probe says %r" % (" ".join(line) or "nothing",))
        return float(line[1])

    def abandon(self):
        """After a failure mid-probe: the bench stops, so the probe stops now."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.busy = False

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class DomainEvents:
    """
    When the node's libvirtd says each domain started: libvirt lifecycle
    events, received by a thread running libvirt's default event loop, so
    the time is known without polling libvirt.
    """

    def __init__(self, libvirt, uri):
        self.libvirt = libvirt
        self.started = {}
        self._running = True
        self.connection = libvirt.open(uri)
        self.callbackId = self.connection.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)
        # Wakes the loop up now and then so that close() ends it promptly.
        self.timer = libvirt.virEventAddTimeout(100, lambda *args: None, None)
        self.thread = threading.Thread(target=self._loop, name="libvirt-events",
                                       daemon=True)
        self.thread.start()

    def _loop(self):
        while self._running:
            self.libvirt.virEventRunDefaultImpl()

    def _event(self, connection, domain, event, detail, opaque):
        if event == self.libvirt.VIR_DOMAIN_EVENT_STARTED:
            self.started.setdefault(domain.name(), time.monotonic())

    def startedAt(self, name, timeout=30):
        return waitFor("libvirt's started event for %s" % (name,),
                       lambda: self.started.get(name), timeout, 0.02)

    def close(self):
        try:
            self.connection.domainEventDeregisterAny(self.callbackId)
            self.connection.close()
        finally:
            self._running = False
            self.thread.join(5)
            self.libvirt.virEventRemoveTimeout(self.timer)


# -- the reference: createXML straight on libvirt -----------------------------


class _BlockingRunner:
    """The ``ProcessRunner`` shape ``InstanceDisks`` wants, run to its end at once."""

    def run(self, argv, timeout=60, check=True, **ignored):
        try:
            subprocess.run(argv, check=check, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        except Exception:
            return defer.fail()
        return defer.succeed(None)


def _fired(d):
    """The result of a Deferred that has already fired (every call here blocks)."""
    box = []
    d.addBoth(box.append)
    if not box:
        raise BenchError("a blocking step did not finish")
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


class ReferenceDhcpd:
    """
    A dhcpd of the bench's own in the front end, next to the CC's, with one
    ``host`` entry for the reference MAC; the subnet options are those the
    CC gives (allinone's VNET_ settings), rendered by the CC's own classes.
    """

    def __init__(self, workDir, frontEnd, instanceName, mac, ip):
        self.workDir = workDir
        os.makedirs(workDir, exist_ok=True)
        config = DhcpdConfig(
            [DhcpSubnet(frontEnd["subnet"], frontEnd["netmask"], router=frontEnd["address"],
                        dns=frontEnd["address"], broadcast=frontEnd["broadcast"])],
            [DhcpHost(instanceName, mac, ip)])
        self.confPath = os.path.join(workDir, "dhcpd.conf")
        with open(self.confPath, "w") as f:
            f.write(config.render())
        leases = os.path.join(workDir, "dhcpd.leases")
        open(leases, "w").close()
        self.lines = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", frontEnd["netns"], "dhcpd", "-4", "-d", "-cf",
             self.confPath, "-lf", leases, "-pf", os.path.join(workDir, "dhcpd.pid"),
             frontEnd["interface"]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, name="dhcpd-output", daemon=True)
        self.reader.start()
        if not self.ready.wait(30):
            self.close()
            raise BenchError("the reference dhcpd did not start: %s" % (
                b"".join(line for _, line in self.lines[-10:]).decode(errors="replace"),))

    def _read(self):
        with open(os.path.join(self.workDir, "dhcpd.log"), "wb") as log:
            for line in self.process.stdout:
                self.lines.append((time.monotonic(), line))
                log.write(line)
                log.flush()
                if READY_MARKER in line:
                    self.ready.set()

    def ackedSince(self, since, ip, mac):
        """When dhcpd acknowledged ``ip`` to ``mac`` after ``since``, or None."""
        wanted = ("DHCPACK on %s to %s" % (ip, mac)).encode()
        for at, line in list(self.lines):
            if at >= since and wanted in line:
                return at
        return None

    def refusals(self):
        """DHCPNAK lines: another server refusing what this one offers would slow the guest."""
        return [line for _, line in self.lines if b"DHCPNAK" in line]

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.reader.join(5)


class ReferenceLauncher:
    """
    Starts the test image with ``createXML`` on one node, as the NC would
    start it: the same domain XML builder and record, the same disk layout.
    """

    def __init__(self, libvirt, uri, workDir, template, image, frontEnd, probe, events,
                 network):
        self.libvirt = libvirt
        self.connection = libvirt.open(uri)
        self.workDir = workDir
        self.template = template
        self.image = image
        self.frontEnd = frontEnd
        self.probe = probe
        self.events = events
        self.ip = str(network.network_address + REFERENCE_HOST)
        self.disks = InstanceDisks(os.path.join(workDir, "instances"), _BlockingRunner(),
                                   runInThread=defer.maybeDeferred)
        self.created = set()
        self.dhcpd = ReferenceDhcpd(os.path.join(workDir, "dhcp"), frontEnd,
                                    "bench-reference", REFERENCE_MAC, self.ip)

    def _domainXml(self, instanceId):
        spec, _ = self.template["record"]
        spec = spec.replace(
            instanceId=instanceId, reservationId="r-%s" % (instanceId[2:],),
            owner=REFERENCE_OWNER,
            network=spec.network.replace(owner=REFERENCE_OWNER, macAddress=REFERENCE_MAC,
                                         privateIp=self.ip, publicIp=self.ip))
        files = self.disks.filesFor(REFERENCE_OWNER, instanceId)
        started = time.monotonic()
        _fired(self.disks.prepare(files, spec.vmType, self.image.root,
                                  self.image.vmlinuz, self.image.initrd))
        prepared = time.monotonic() - started
        domain = etree.fromstring(buildDomainXml(
            spec, int(time.time()), self.template["domainType"], files).encode())
        # Without the instance record no eucad NC could ever adopt this domain.
        for metadata in domain.findall("metadata"):
            domain.remove(metadata)
        # The CLC's metadata service does not know this guest (it is no
        # instance): one request, answered 404, and the guest serves itself
        # as unknown, instead of waiting out its metadata bound.
        cmdline = domain.find("os/cmdline")
        cmdline.text += " eucad.metadata_wait=0"
        return files, etree.tostring(domain, encoding="unicode"), prepared

    def runOnce(self):
        instanceId = "i-%08x" % (int.from_bytes(os.urandom(4), "big"),)
        files, xml, prepared = self._domainXml(instanceId)
        try:
            self.probe.start(self.ip, guest.UNKNOWN_ID)
            t0 = time.monotonic()
            domain = self.connection.createXML(xml, 0)
            created = time.monotonic()
            self.created.add(instanceId)
            if domain.state()[0] != self.libvirt.VIR_DOMAIN_RUNNING:
                raise BenchError("%s is not running after createXML" % (instanceId,))
            http = self.probe.result()
            cpu = qemuCpuSeconds(instanceId)
            started = self.events.startedAt(instanceId)
            acked = self.dhcpd.ackedSince(t0, self.ip, REFERENCE_MAC)
        finally:
            if self.probe.busy:
                self.probe.abandon()
            self._destroy(instanceId)
            _fired(self.disks.remove(files))
        return {"id": instanceId, "running": created - t0, "http": http - t0,
                "stamps": {"createXML returned": created - t0,
                           "libvirt started event": started - t0,
                           "DHCPACK": None if acked is None else acked - t0,
                           "HTTP answers": http - t0},
                "disks": prepared, "cpu": cpu}

    def _destroy(self, name):
        try:
            self.connection.lookupByName(name).destroy()
        except self.libvirt.libvirtError as e:
            if e.get_error_code() != self.libvirt.VIR_ERR_NO_DOMAIN:
                raise
        self.created.discard(name)

    def close(self):
        try:
            for name in list(self.created):
                self._destroy(name)
            self.connection.close()
        finally:
            self.dhcpd.close()


# -- eucad: RunInstances through the daemons --------------------------------------


def _usableIp(ip):
    return bool(ip) and ip != "0.0.0.0"


class EucadLauncher:
    """Runs instances through the EC2 API as a user would, and times them."""

    def __init__(self, cloud, ec2, imageId, probe, events, describeInterval):
        self.cloud = cloud
        self.ec2 = ec2
        self.imageId = imageId
        self.probe = probe
        self.events = events
        self.describeInterval = describeInterval
        self.live = set()

    def _describe(self, instanceId):
        found = self.ec2.describe_instances(InstanceIds=[instanceId])
        return found["Reservations"][0]["Instances"][0]

    def runOnce(self):
        t0 = time.monotonic()
        answer = self.ec2.run_instances(ImageId=self.imageId, MinCount=1, MaxCount=1,
                                        InstanceType="m1.small")
        answered = time.monotonic()
        instance = answer["Instances"][0]
        instanceId = instance["InstanceId"]
        self.live.add(instanceId)
        try:
            ipInAnswer = _usableIp(instance.get("PrivateIpAddress"))
            if ipInAnswer:
                self.probe.start(instance["PrivateIpAddress"], instanceId)
            deadline = t0 + 180
            while True:
                described = self._describe(instanceId)
                state = described["State"]["Name"]
                seen = time.monotonic()
                if not self.probe.busy and _usableIp(described.get("PrivateIpAddress")):
                    self.probe.start(described["PrivateIpAddress"], instanceId)
                if state == "running":
                    break
                if state in ("shutting-down", "terminated"):
                    raise BenchError("%s is %s: %s" % (instanceId, state,
                                                       described.get("StateReason")))
                if seen > deadline:
                    raise BenchError("%s not running after 180 s" % (instanceId,))
                time.sleep(self.describeInterval)
            http = self.probe.result()
            cpu = qemuCpuSeconds(instanceId)
            started = self.events.startedAt(instanceId)
            stamps = self._stamps(instanceId, t0)
            steps = waitFor("the NC's launch steps of %s" % (instanceId,),
                            lambda: launchSteps(self.cloud, instanceId), 30, 0.2)
        finally:
            if self.probe.busy:
                self.probe.abandon()
            self.terminate(instanceId)
        stamps.update({"RunInstances answered": answered - t0,
                       "libvirt started event": started - t0,
                       "DescribeInstances says running": seen - t0,
                       "HTTP answers": http - t0})
        return {"id": instanceId, "running": seen - t0, "http": http - t0,
                "stamps": stamps, "ipInAnswer": ipInAnswer, "cpu": cpu,
                "breakdown": breakdown(steps, http - started)}

    def _stamps(self, instanceId, t0):
        """Times, relative to ``t0``, that the daemons' files and DB show for this launch."""
        offset = wallToMonotonic()
        stamps = {}

        def mtime(name, path):
            try:
                at = os.stat(path).st_mtime + offset - t0
            except OSError:
                return
            if at >= 0:  # older files are from an earlier launch
                stamps[name] = at
        dhcp = os.path.join(Layout(self.cloud.frontEnd).state, "cc", "dhcp")
        mtime("CC wrote dhcpd.conf", os.path.join(dhcp, "dhcpd.conf"))
        mtime("CC's new dhcpd wrote its pid", os.path.join(dhcp, "dhcpd.pid"))
        directories = glob.glob(os.path.join(self.cloud.runDir, "nodes", "*", "instances",
                                             "*", instanceId))
        if directories:
            # Modification times only: libvirt relabels the kernel and disks
            # when it starts the domain, which moves their ctimes.
            directory = directories[0]
            mtime("NC made root.qcow2", os.path.join(directory, "root.qcow2"))
            mtime("NC made ephemeral (mkfs.ext2)", os.path.join(directory, "ephemeral.img"))
            mtime("NC made swap (mkswap)", os.path.join(directory, "swap.img"))
            mtime("NC wrote libvirt.xml", os.path.join(directory, "libvirt.xml"))
        row = self._clcRow(instanceId)
        if row is not None:
            placedAt, stateChanged = row
            if placedAt:
                stamps["CLC recorded the placement"] = placedAt + offset - t0
            if stateChanged:
                stamps["CLC learned running (poll)"] = stateChanged + offset - t0
        return stamps

    def _clcRow(self, instanceId):
        path = os.path.join(Layout(self.cloud.frontEnd).db, "eucalyptus.db")
        try:
            connection = sqlite3.connect("file:%s?mode=ro" % (path,), uri=True, timeout=5)
            try:
                return connection.execute(
                    "SELECT placedAt, stateChanged FROM instances WHERE id = ?",
                    (instanceId,)).fetchone()
            finally:
                connection.close()
        except sqlite3.Error:
            return None

    def terminate(self, instanceId, timeout=120):
        self.ec2.terminate_instances(InstanceIds=[instanceId])
        waitFor("%s to be terminated" % (instanceId,),
                lambda: self._describe(instanceId)["State"]["Name"] == "terminated",
                timeout, 0.25)
        self.live.discard(instanceId)

    def templateFrom(self, instanceId):
        """The NC's own domain XML for ``instanceId``: its record and domain type."""
        paths = glob.glob(os.path.join(self.cloud.runDir, "nodes", "*", "instances", "*",
                                       instanceId, "libvirt.xml"))
        if not paths:
            raise BenchError("no libvirt.xml of %s on any node" % (instanceId,))
        with open(paths[0], "rb") as f:
            text = f.read()
        record = parseInstanceRecord(text)
        if record is None:
            raise BenchError("%s carries no instance record" % (paths[0],))
        return {"record": record, "domainType": etree.fromstring(text).get("type"),
                "node": paths[0].split(os.sep + "nodes" + os.sep, 1)[1].split(os.sep)[0]}

    def close(self):
        for instanceId in list(self.live):
            try:
                self.terminate(instanceId, timeout=60)
            except Exception as e:
                say("could not terminate %s: %s" % (instanceId, e))


# -- the series and the report ------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value):
    return "   -  " if value is None else "%6.2f" % (value,)


def runSeries(label, reference, eucad, runs, settle):
    """Warm up each once, then ``runs`` interleaved measured pairs."""
    say("%s: warm-up" % (label,))
    time.sleep(settle)
    reference.runOnce()
    time.sleep(settle)
    eucad.runOnce()
    results = {"reference": [], "eucad": []}
    for index in range(runs):
        time.sleep(settle)
        ref = reference.runOnce()
        results["reference"].append(ref)
        time.sleep(settle)
        euc = eucad.runOnce()
        results["eucad"].append(euc)
        say("%s run %d/%d: reference running %.2f s, HTTP %.2f s | eucad running %.2f s,"
            " HTTP %.2f s" % (label, index + 1, runs, ref["running"], ref["http"],
                              euc["running"], euc["http"]))
    return results


def report(label, results, describeInterval, pollSeconds):
    ref, euc = results["reference"], results["eucad"]
    refRunning, refHttp = median([r["running"] for r in ref]), median([r["http"] for r in ref])
    eucRunning, eucHttp = median([r["running"] for r in euc]), median([r["http"] for r in euc])
    httpRatio = eucHttp / refHttp
    lines = [
        "",
        "== %s: CLUSTER_POLL_SECONDS=%s, NODE_POLL_SECONDS=%s, DescribeInstances every %s s,"
        " %d runs ==" % (label, pollSeconds, pollSeconds, describeInterval, len(euc)),
        "                                   median   runs (s)",
        "reference createXML -> running     %s   %s" % (
            fmt(refRunning), " ".join("%.2f" % r["running"] for r in ref)),
        "reference createXML -> HTTP        %s   %s" % (
            fmt(refHttp), " ".join("%.2f" % r["http"] for r in ref)),
        "eucad RunInstances -> running      %s   %s" % (
            fmt(eucRunning), " ".join("%.2f" % r["running"] for r in euc)),
        "eucad RunInstances -> HTTP         %s   %s" % (
            fmt(eucHttp), " ".join("%.2f" % r["http"] for r in euc)),
        "ratio eucad/reference, running     %6.2f" % (eucRunning / refRunning,),
        "ratio eucad/reference, HTTP        %6.2f   target <= %.2f: %s" % (
            httpRatio, TARGET_RATIO, "met" if httpRatio <= TARGET_RATIO else "NOT met"),
        "reference disks made before createXML (not timed): median %.2f s" % (
            median([r["disks"] for r in ref]),),
    ]
    if not all(r["ipInAnswer"] for r in euc):
        lines.append("note: some RunInstances answers had no address; HTTP probing began"
                     " at the first DescribeInstances that had one")

    lines += ["", "eucad, median time of each step after RunInstances was sent (s):"]
    names = {}
    for r in euc:
        for name, at in r["stamps"].items():
            names.setdefault(name, []).append(at)
    for name, ats in sorted(names.items(), key=lambda kv: median(kv[1])):
        lines.append("  %s  %s (%d/%d runs)" % (fmt(median(ats)), name, len(ats), len(euc)))
    lines += ["reference, median time of each step after createXML was called (s):"]
    refNames = {}
    for r in ref:
        for name, at in r["stamps"].items():
            refNames.setdefault(name, []).append(at)
    for name, ats in sorted(refNames.items(), key=lambda kv: median(kv[1]) or 0):
        lines.append("  %s  %s" % (fmt(median(ats)), name))

    def span(r, start, end):
        s = r["stamps"]
        return s[end] - s[start] if start in s and end in s else None
    eucBoot = median([span(r, "libvirt started event", "HTTP answers") for r in euc])
    refBoot = median([span(r, "libvirt started event", "HTTP answers") for r in ref])
    preBoot = median([r["stamps"]["libvirt started event"] for r in euc])
    refPre = median([r["stamps"]["libvirt started event"] for r in ref])
    reportLag = median([span(r, "libvirt started event", "DescribeInstances says running")
                        for r in euc])
    clcLag = median([span(r, "libvirt started event", "CLC learned running (poll)")
                     for r in euc])
    userLag = median([span(r, "CLC learned running (poll)", "DescribeInstances says running")
                      for r in euc])
    httpGap = eucHttp - refHttp
    runningGap = eucRunning - refRunning
    lines += [
        "",
        "where the gap goes (medians, s):",
        "  HTTP gap eucad - reference                               %s" % (fmt(httpGap),),
        "    until libvirt's started event: eucad %s, reference %s -> %s" % (
            fmt(preBoot), fmt(refPre), fmt(preBoot - refPre)),
        "    started event -> HTTP (guest boot): eucad %s, reference %s" % (
            fmt(eucBoot), fmt(refBoot)),
        "  running gap eucad - reference                            %s" % (fmt(runningGap),),
        "    started event -> DescribeInstances says running        %s" % (fmt(reportLag),),
        "      of which NC -> CC poll -> CLC poll (CLC's stateChanged) %s" % (fmt(clcLag),),
        "      of which the user's own DescribeInstances interval      %s" % (fmt(userLag),),
        "    polling's share of the running gap                      %s" % (
            "%5.0f%%" % (100.0 * reportLag / runningGap,) if reportLag is not None
            and reportLag > 0 and runningGap > 0.05 else "  n/a: no gap left to explain",),
        "    polling's share of the HTTP gap                         %s" % (
            "  0% (the address is in the RunInstances answer; probing starts there)"
            if all(r["ipInAnswer"] for r in euc) else "see note above"),
    ]
    if clcLag is not None and clcLag < 0:
        lines.append(
            "note: the CLC learned 'running' before libvirt's started event: the NC reports"
            " a domain libvirt lists as paused while createXML is still starting it"
            " (VIR_DOMAIN_PAUSED_STARTING_UP) as running")
    return "\n".join(lines), httpRatio


def reportBreakdown(results):
    """The median of each launch part over eucad's single launches."""
    lines = ["", "eucad launch breakdown, median of %d single launches (s):" % (len(results),)]
    for part in BREAKDOWN:
        values = [r["breakdown"][part] for r in results if r["breakdown"][part] is not None]
        lines.append("  %-28s %s   %s" % (part, fmt(median(values)),
                                          " ".join("%.2f" % v for v in values)))
    cpu = [r["cpu"] for r in results if r["cpu"] is not None]
    lines.append("  %-28s %s   %s" % ("qemu CPU s until HTTP", fmt(median(cpu)),
                                      " ".join("%.2f" % v for v in cpu)))
    return "\n".join(lines)


#: The test guest's boot phases, each named by the console line that starts it
#: (``eucad.lab.guest`` prints them); before the first, the kernel boots.
GUEST_PHASES = (("kernel boot", None),
                ("modules + DHCP", "eucad test guest: init starting"),
                ("metadata (instance id)", "eucad test guest: address"),
                ("after HTTP (meta-data walk, user data, ssh)", "eucad test guest: serving"),
                ("up", guest.MARKER + " "))


def guestPhase(consoleText):
    """The phase a test guest is in, from what its console says so far."""
    current = GUEST_PHASES[0][0]
    for name, line in GUEST_PHASES[1:]:
        if line in consoleText:
            current = name
    return current


class PhaseSampler:
    """
    Where each guest's CPU goes: every ``interval`` s, the CPU time of this
    cloud's guests' qemu processes and the boot phase their consoles show.
    A sample's CPU is charged to the phase seen at its start (so each phase's
    figure is good to about one interval of one guest's CPU).
    """

    def __init__(self, cloud, interval=0.5):
        self.cloud = cloud
        self.interval = interval
        self.samples = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _guests(self):
        found = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % (pid,), "rb") as f:
                    words = f.read()
                match = re.search(rb"guest=(i-[0-9a-f]{8}),", words)
                if not match or b"qemu-system" not in words:
                    continue
                with open("/proc/%s/stat" % (pid,), "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            found[match.group(1).decode()] = (
                (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        return found

    def _console(self, instanceId):
        for path in glob.glob(os.path.join(self.cloud.runDir, "nodes", "*", "instances", "*",
                                           instanceId, "console.log")):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                return None
        return None  # another cloud's guest on this machine

    def _loop(self):
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            for instanceId, cpu in self._guests().items():
                text = self._console(instanceId)
                if text is not None:
                    self.samples.setdefault(instanceId, []).append(
                        (now, cpu, guestPhase(text)))

    def phases(self, instanceId):
        """{phase: (wall s, CPU s)} of one guest, from its samples."""
        spent = {}
        rows = self.samples.get(instanceId, [])
        for (t, cpu, phase), (t2, cpu2, _) in zip(rows, rows[1:]):
            wall, used = spent.get(phase, (0.0, 0.0))
            spent[phase] = (wall + t2 - t, used + cpu2 - cpu)
        return spent

    def close(self):
        self._stop.set()
        self._thread.join(5)


def reportPhases(sampler, groups):
    """Median wall and CPU seconds per boot phase, for each group of guests."""
    lines = ["", "where the guests' CPU goes, per boot phase (median over the guests:"
             " wall s / qemu CPU s / CPU share):"]
    for label, instanceIds in groups:
        lines.append("  %s (%d guests)" % (label, len(instanceIds)))
        phases = [sampler.phases(i) for i in instanceIds]
        for name, _ in GUEST_PHASES[:-1]:
            walls = [p[name][0] for p in phases if name in p]
            cpus = [p[name][1] for p in phases if name in p]
            if walls:
                lines.append("    %-44s %6.1f / %5.2f / %4.0f%%" % (
                    name, median(walls), median(cpus),
                    100.0 * sum(cpus) / max(sum(walls), 0.01)))
    return "\n".join(lines)


# -- the burst: many instances at once on one node ------------------------------------


def allowBurst(cloud, ec2, count):
    """
    Let every node take ``count`` m1.small instances at once: MAX_CORES and
    MAX_DISK raised in each node's eucalyptus.conf (disks are sparse, the
    guests idle after boot), node controllers restarted.
    """
    for index in range(cloud.nodeCount):
        prefix = cloud.nodePrefix("n%d" % (index + 1))
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "euca_conf"), "-d",
                        prefix, "MAX_CORES=%d" % (count,), "MAX_DISK=%d" % (10 * count + 10)],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        log = os.path.join(prefix, "var", "log", "eucalyptus", "nc.log")
        before = os.path.getsize(log) if os.path.exists(log) else 0
        for daemon in control.daemonsFor(prefix):
            if daemon.name == "nc":
                daemon.stop()
                daemon.start()
        # The zone listing may still show the old node's room (a second run
        # finds MAX_CORES already raised): wait for the new NC to be ready
        # first, or RunInstances may come while the CC sees the node down.
        waitFor("the restarted NC in %s to be ready" % (prefix,),
                lambda: _readyAfter(log, before), 120, 0.2)
    waitFor("room for %d instances" % (count,),
            lambda: _quiet(cloud.freeSmall, ec2) >= count, 120, 0.5)


def _readyAfter(log, offset):
    """Whether the NC's log says "node ready" past ``offset`` bytes."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return b"node ready" in f.read()
    except FileNotFoundError:
        return False


def keepConsoles(cloud, instanceIds, directory):
    """
    Copy each instance's serial console into ``directory`` (replacing an
    earlier burst's): the guests' own boot timestamps, to read afterwards.
    """
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for instanceId in instanceIds:
        for path in glob.glob(os.path.join(cloud.runDir, "nodes", "*", "instances", "*",
                                           instanceId, "console.log")):
            shutil.copy(path, os.path.join(directory, instanceId + ".log"))


def runBurst(cloud, ec2, imageId, netns, count, timeout=900):
    """
    ``count`` instances in one RunInstances call; the time from the call
    until every one answers HTTP from the front end, each instance's launch
    breakdown, and the CPU its qemu used until then.
    """
    probes = [HttpProbe(netns) for _ in range(count)]
    ids = []
    try:
        for attempt in range(30):
            t0 = time.monotonic()
            try:
                answer = ec2.run_instances(ImageId=imageId, MinCount=count, MaxCount=count,
                                           InstanceType="m1.small")
                break
            except botocore.exceptions.ClientError as e:
                # The zone listing the bench waited on is the CLC's last poll;
                # the CC may not have its restarted node back yet.  The
                # burst is timed from the call that was accepted.
                if (e.response["Error"]["Code"] != "InsufficientInstanceCapacity"
                        or attempt == 29):
                    raise
                time.sleep(1)
        ids = [i["InstanceId"] for i in answer["Instances"]]
        waiting = {i["InstanceId"]: i.get("PrivateIpAddress") for i in answer["Instances"]}
        byProbe = {}
        deadline = t0 + timeout
        while waiting:
            for instanceId, ip in list(waiting.items()):
                if _usableIp(ip):
                    probe = probes[len(byProbe)]
                    probe.start(ip, instanceId, timeout, every=0.1)
                    byProbe[instanceId] = probe
                    del waiting[instanceId]
            if waiting:
                if time.monotonic() > deadline:
                    raise BenchError("no address for %s" % (" ".join(waiting),))
                time.sleep(0.25)
                found = ec2.describe_instances(InstanceIds=list(waiting))
                for reservation in found["Reservations"]:
                    for instance in reservation["Instances"]:
                        waiting[instance["InstanceId"]] = instance.get("PrivateIpAddress")
        answered, cpu = {}, {}
        for instanceId, probe in byProbe.items():
            answered[instanceId] = probe.result() - t0
            cpu[instanceId] = qemuCpuSeconds(instanceId)
        keepConsoles(cloud, ids, os.path.join(cloud.runDir, "burst-consoles"))
        steps = {i: waitFor("the NC's launch steps of %s" % (i,),
                            lambda i=i: launchSteps(cloud, i), 60, 0.2) for i in ids}
    finally:
        for probe in probes:
            if probe.busy:
                probe.abandon()
            probe.close()
        if ids:
            ec2.terminate_instances(InstanceIds=ids)

            def allTerminated():
                found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
                return all(i["State"]["Name"] == "terminated"
                           for r in found for i in r["Instances"])
            waitFor("the burst's instances to terminate", allTerminated, 300, 1)
    return {"all": max(answered.values()), "answered": answered, "cpu": cpu,
            "steps": steps}


def reportBurst(burst, single, count, cores):
    """The burst against the CPU-bound limit measured from this run's single launches."""
    oneGuest = median([r["cpu"] for r in single])
    limit = count * oneGuest / cores
    ratio = burst["all"] / limit
    answered = sorted(burst["answered"].values())
    lines = [
        "",
        "== burst: %d instances in one RunInstances on one node, %d cores ==" % (count, cores),
        "  RunInstances -> all %d answer HTTP        %s s" % (count, fmt(burst["all"])),
        "  each answered after (s)                  %s" % (
            " ".join("%.1f" % a for a in answered),),
        "  one guest's boot CPU (qemu, median of the single launches above) %s s" % (
            fmt(oneGuest),),
        "  CPU-bound limit %d x %.2f s / %d cores       %s s" % (
            count, oneGuest, cores, fmt(limit)),
        "  ratio burst / CPU-bound limit            %6.2f   target <= %.2f: %s" % (
            ratio, BURST_TARGET_RATIO, "met" if ratio <= BURST_TARGET_RATIO else "NOT met"),
        "  qemu CPU s of the burst's guests when each answered: median %s, total %.1f" % (
            fmt(median(list(burst["cpu"].values()))),
            sum(v for v in burst["cpu"].values() if v is not None)),
    ]
    total = sum(v for v in burst["cpu"].values() if v is not None)
    lines += [
        # The limit assumes every core is the guests'; on a shared machine
        # this says how much of it they got.
        "  share of the %d cores the burst's guests used until the last answered  %5.0f%%" % (
            cores, 100.0 * total / (burst["all"] * cores)),
        # The ratio is (CPU per guest in the burst / alone) / (share of the
        # cores the guests got): the two parts apart.
        "  a burst guest's CPU / a single guest's CPU (medians)               %6.2f" % (
            median(list(burst["cpu"].values())) / oneGuest,),
        "  the burst's guests' CPU / %d cores, against the limit                %6.2f" % (
            cores, total / cores / limit),
        "  launch breakdown in the burst (median / max over %d, s):" % (count,),
    ]
    for part in BREAKDOWN[:-1]:
        values = [breakdown(s, None)[part] for s in burst["steps"].values()]
        values = [v for v in values if v is not None]
        lines.append("    %-28s %s / %s" % (part, fmt(median(values)),
                                            fmt(max(values) if values else None)))
    return "\n".join(lines), ratio


def setPolling(cloud, seconds):
    """Set both poll intervals in the front end's eucalyptus.conf and restart the CLC and CC."""
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "euca_conf"), "-d",
                    cloud.frontEnd, "CLUSTER_POLL_SECONDS=%s" % (seconds,),
                    "NODE_POLL_SECONDS=%s" % (seconds,)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    daemons = [d for d in cloud.daemons() if d.name in ("clc", "cc")]
    for daemon in reversed(daemons):
        daemon.stop()
    for daemon in daemons:
        daemon.start()

    def listening():
        for port in (cloud.clcPort, cloud.ccPort):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True
    waitFor("the CLC and CC to listen again", listening, 60)


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        prog="bench/launch.py",
        description="RunInstances through eucad against createXML on libvirt (issue 2).")
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (5)")
    parser.add_argument("--dir", default=os.path.join(REPOSITORY, "build", "bench-launch"),
                        help="the cloud's install and the bench's files (kept)")
    parser.add_argument("--name", default=None,
                        help="lab name (namespace prefix; a new --dir: bench)")
    parser.add_argument("--port", type=int, default=None,
                        help="the CLC's port (a new --dir: a free run of ports)")
    parser.add_argument("--subnet", default=None,
                        help="the lab's private network (a new --dir: 10.81.0.0/24)")
    parser.add_argument("--nodes", type=int, default=None,
                        help="nodes in the lab (a new --dir: 1, eucad and the reference "
                             "share the node)")
    parser.add_argument("--describe-interval", type=float, default=0.25,
                        help="seconds between a user's DescribeInstances calls (0.25)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="idle seconds before each measured launch (2)")
    parser.add_argument("--burst", type=int, default=10, metavar="N",
                        help="then N instances at once on one node against the CPU-bound "
                             "limit (10; 0 skips it)")
    parser.add_argument("--also-poll", type=float, default=None, metavar="SECONDS",
                        help="repeat the series with both poll intervals set to SECONDS")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _raiseOnTerm(signum, frame):
    raise SystemExit("stopped by signal %d" % (signum,))


def main(argv=None):
    args = parseArguments(argv)
    if os.geteuid() != 0:
        print("bench/launch.py needs root (network namespaces, libvirtd, dhcpd)",
              file=sys.stderr)
        return 2
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)
    # Before any connection is opened: events and keepalives need the loop.
    libvirt.virEventRegisterDefaultImpl()
    signal.signal(signal.SIGTERM, _raiseOnTerm)

    runDir = os.path.abspath(args.dir)
    # The cloud of --dir: what it records when it exists (so a kept run
    # directory keeps its ports and lab), else a new one.
    try:
        cloud = openCloud(runDir, name=args.name, port=args.port, subnet=args.subnet,
                          nodes=args.nodes, log=say, choosePort=freeBasePort,
                          defaults={"name": "bench", "subnet": "10.81.0.0/24", "nodes": 1})
        cloud.checkRoomBeside()
        # The reference VM joins the flat lab network the CC's dhcpd serves:
        # the bench's cloud is STATIC, not make run's MANAGED.
        cloud.networkConf = lambda described: staticNetworkConf(described, cloud.basePort)
    except CloudMismatch as e:
        print("bench/launch.py: %s" % (e,), file=sys.stderr)
        return 2
    closers = []
    reports = []
    try:
        started = cloud.up(runInstance=False)
        described = cloud.lab.describe()
        frontEnd = described["frontend"]
        setArpRetrans(frontEnd, ARP_RETRANS_MS)
        probe = HttpProbe(frontEnd["netns"])
        closers.append(probe.close)
        ec2 = cloud.ec2(started["credentials"])
        nodes = {node["name"]: node for node in described["nodes"]}
        events = {name: DomainEvents(libvirt, node["libvirtUri"])
                  for name, node in nodes.items()}
        closers += [e.close for e in events.values()]

        class AnyNodeEvents:
            """Started events from whichever node the CC chose."""

            @staticmethod
            def startedAt(name, timeout=30):
                return waitFor("libvirt's started event for %s" % (name,), lambda: next(
                    (e.started[name] for e in events.values() if name in e.started), None),
                    timeout, 0.02)

        eucad = EucadLauncher(cloud, ec2, started["images"]["machine"], probe,
                              AnyNodeEvents, args.describe_interval)
        closers.append(eucad.close)

        # One eucad launch first: its libvirt.xml is the template of the reference.
        say("capturing the NC's domain XML from a first eucad instance")
        answer = ec2.run_instances(ImageId=started["images"]["machine"], MinCount=1,
                                   MaxCount=1, InstanceType="m1.small")
        firstId = answer["Instances"][0]["InstanceId"]
        eucad.live.add(firstId)
        template = waitFor("the NC to write %s's libvirt.xml" % (firstId,),
                           lambda: _tryTemplate(eucad, firstId), 180, 0.5)
        eucad.terminate(firstId)
        node = nodes[template["node"]]
        say("reference on %s (%s domain, vmType %s)" % (
            template["node"], template["domainType"], template["record"][0].vmType.name))

        image = testimage.build(log=say)
        reference = ReferenceLauncher(libvirt, node["libvirtUri"],
                                      os.path.join(runDir, "reference"), template, image,
                                      frontEnd, probe, events[template["node"]],
                                      ipaddress.IPv4Network(cloud.subnet))
        closers.append(reference.close)

        sampler = PhaseSampler(cloud)
        closers.append(sampler.close)
        results = runSeries("poll 1 s", reference, eucad, args.runs, args.settle)
        text, _ = report("allinone's settings", results, args.describe_interval, "1")
        text += "\n" + reportBreakdown(results["eucad"])
        reports.append(text)
        print(text, flush=True)
        if args.burst:
            if cloud.nodeCount != 1:
                say("the burst needs a one-node lab (this one has %d): skipped"
                    % (cloud.nodeCount,))
            else:
                say("burst: %d instances at once" % (args.burst,))
                allowBurst(cloud, ec2, args.burst)
                setArpRetrans(frontEnd, BURST_ARP_RETRANS_MS)
                time.sleep(args.settle)
                burst = runBurst(cloud, ec2, started["images"]["machine"],
                                 frontEnd["netns"], args.burst)
                text, _ = reportBurst(burst, results["eucad"], args.burst,
                                      os.cpu_count())
                text += "\n" + reportPhases(sampler, [
                    ("single launches", [r["id"] for r in results["eucad"]]),
                    ("the burst", sorted(burst["answered"]))])
                reports.append(text)
                print(text, flush=True)
        if args.also_poll is not None:
            setArpRetrans(frontEnd, ARP_RETRANS_MS)
            say("setting both poll intervals to %s s and restarting the CLC and CC"
                % (args.also_poll,))
            setPolling(cloud, args.also_poll)
            waitFor("the nodes' capacity to reach the CLC",
                    lambda: _quiet(cloud.freeSmall, ec2) > 0, 90, 0.5)
            results = runSeries("poll %s s" % (args.also_poll,), reference, eucad,
                                args.runs, args.settle)
            text, _ = report("polling every %s s" % (args.also_poll,), results,
                             args.describe_interval, args.also_poll)
            reports.append(text)
            print(text, flush=True)
        nak = reference.dhcpd.refusals()
        if nak:
            print("warning: the reference dhcpd saw %d DHCPNAK line(s)" % (len(nak),))
        return 0
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception as e:
                say("cleanup step failed: %s" % (e,))
        cloud.down()
        if reports:
            say("daemon logs: %s/frontend/var/log/eucalyptus, %s/nodes/*/var/log/eucalyptus"
                % (runDir, runDir))


def setArpRetrans(frontEnd, milliseconds):
    """The front end's ARP retry interval on its private interface (see the docstring)."""
    subprocess.run(["ip", "netns", "exec", frontEnd["netns"], "sysctl", "-q", "-w",
                    "net.ipv4.neigh.%s.retrans_time_ms=%d" % (
                        frontEnd["interface"], milliseconds)],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _tryTemplate(eucad, instanceId):
    try:
        return eucad.templateFrom(instanceId)
    except BenchError:
        return None


def _quiet(function, *args):
    try:
        return function(*args)
    except Exception:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
