"""
How much the node controller adds to libvirt's createXML, on test:///default.

Run: ``.venv/bin/python -m tests.nc.measure_launch [rounds]``.  Prints the
median of three timings, each from "asked" to "libvirt says running":

- direct: ``createXML`` + ``state()`` called straight on a libvirt connection;
- hypervisor: the same through ``Hypervisor.createDomain`` (its thread pool
  and Deferred), which is the NC's whole overhead around libvirt;
- node: ``NodeController.runInstance`` until the instance reports running,
  which adds the image cache (a hit), qemu-img, mkfs.ext2, mkswap and the XML.
"""

import os
import statistics
import sys
import tempfile
import time

import libvirt
from twisted.internet import defer, task

from eucad.common.process import ProcessRunner
from eucad.nc.domainxml import buildDomainXml
from eucad.nc.hypervisor import Hypervisor
from eucad.nc.imagecache import ImageCache
from eucad.nc.instancefiles import InstanceDisks, InstanceFiles
from eucad.nc.kvmprobe import AcceleratorProbe
from eucad.nc.node import NodeController
from tests.nc.specs import runSpec

URI = "test:///default"


def domainXml(instanceId):
    files = InstanceFiles("/tmp/measure", "alice", instanceId)
    record = {"instanceId": instanceId, "reservationId": "r-00000001", "owner": "alice",
              "imageId": "emi-00000001", "kernelId": None, "ramdiskId": None,
              "launchTime": 0, "launchIndex": 0, "keyName": None,
              "macAddress": "d0:0d:00:00:00:01", "privateIp": None, "publicIp": None,
              "bridge": "br0", "mtu": None,
              "vmType": {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 1}}
    return buildDomainXml(record, "qemu", files)


def millis(samples):
    return "%.3f ms" % (statistics.median(samples) * 1000,)


@defer.inlineCallbacks
def measure(reactor, rounds):
    connection = libvirt.open(URI)
    direct = []
    for n in range(rounds):
        xml = domainXml("i-d1%06x" % n)
        start = time.perf_counter()
        domain = connection.createXML(xml, 0)
        assert domain.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        direct.append(time.perf_counter() - start)
        domain.destroy()

    hypervisor = Hypervisor(URI)
    hypervisor.startService()
    pooled = []
    for n in range(rounds):
        xml = domainXml("i-d2%06x" % n)
        start = time.perf_counter()
        state = yield hypervisor.createDomain(xml)
        assert state == "running"
        pooled.append(time.perf_counter() - start)
        yield hypervisor.destroyDomain("i-d2%06x" % n)

    base = tempfile.mkdtemp(prefix="eucad-measure-")
    machine = os.path.join(base, "machine.img")
    with open(machine, "wb") as f:
        f.truncate(16 * 1024 * 1024)
    runner = ProcessRunner()
    instancePath = os.path.join(base, "instances")
    node = NodeController(hypervisor,
                          ImageCache(os.path.join(instancePath, "eucalyptus", "cache")),
                          InstanceDisks(instancePath, runner), "auto",
                          AcceleratorProbe(runner), limits=(64, 65536, 10000))
    yield node.whenReady()
    whole = []
    for n in range(rounds):
        spec = runSpec("i-d3%06x" % n, machine,
                       vmType={"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10})
        start = time.perf_counter()
        yield node.runInstance(spec)
        yield node.lifecycle.launched(spec["instanceId"])
        whole.append(time.perf_counter() - start)
        assert node.lifecycle.instances[spec["instanceId"]].state == "running"
        yield node.terminateInstance(spec["instanceId"])
    yield hypervisor.stopService()
    connection.close()
    print("createXML -> running on %s, median of %d:" % (URI, rounds))
    print("  direct libvirt call      %s" % (millis(direct),))
    print("  Hypervisor (thread pool) %s" % (millis(pooled),))
    print("  NodeController run       %s (disks made by qemu-img, mkfs.ext2, mkswap)"
          % (millis(whole),))


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    task.react(measure, [rounds])
