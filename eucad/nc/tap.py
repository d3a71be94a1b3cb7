"""``twistd eucalyptus-nc``: the node controller daemon.

Builds the service tree from eucalyptus.conf; nothing is opened, bound or
read (keys included) until the services start.  The tree, in start order:
logging to ``var/log/eucalyptus/nc.log``, the libvirt thread pool, the node
controller (which then probes KVM and re-adopts running domains), and the
PB+TLS listener on NC_PORT (or where ``--port``, a strports description,
says) that only a cluster-role certificate from the cloud CA may talk to;
then the image cache's check (images are fetched through the cloud's delivery
port with the node's certificate, NC_CACHE_SIZE MiB at most; fetches asked
before the check is done wait for it); and in SYSTEM mode last the AddressWatch, which learns instances' addresses from
the DHCP acknowledgements and ARP on the node (``eucad.nc.addresswatch``).
"""

import os

from twisted.python import usage

from eucad.cc.vnet.nodelinks import NodeGroupLinks
from eucad.common import pblink, trust
from eucad.common.daemon import DaemonOptions, makeDaemonService
from eucad.common.links import NodeRoot
from eucad.common.listening import linkEndpoint, portOption
from eucad.common.process import ProcessRunner
from eucad.nc.addresswatch import AddressWatch
from eucad.nc.hypervisor import Hypervisor
from eucad.nc.imagecache import (ImageCache, ImageCacheCheck, cacheCapacity, entryName,
                                 nodeHttpClient)
from eucad.nc.instancefiles import InstanceDisks
from eucad.nc.kvmprobe import AcceleratorProbe
from eucad.nc.node import NodeController


#: The largest CONCURRENT_LAUNCHES accepted.
MAX_CONCURRENT_LAUNCHES = 64


class Options(DaemonOptions):
    """The node controller takes ``--prefix`` and ``--port``; the rest is the conf."""

    optParameters = [portOption("NC_PORT", "NC_LISTEN")]

    def postOptions(self):
        DaemonOptions.postOptions(self)
        # A bad value stops the daemon at once, with the key named.
        self.concurrentLaunches = concurrentLaunches(self.conf)


def concurrentLaunches(conf):
    """
    CONCURRENT_LAUNCHES: how many launches one node runs at once (images,
    disks, createXML; the guests' boots are not counted).

    @raise usage.UsageError: unless it is a whole number from 1 to 64.
    """
    text = conf.get("CONCURRENT_LAUNCHES").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONCURRENT_LAUNCHES:
        raise usage.UsageError("CONCURRENT_LAUNCHES must be a whole number from 1 to %d,"
                               " not %r" % (MAX_CONCURRENT_LAUNCHES, text))
    return int(text)


def instancePath(options):
    """INSTANCE_PATH, taken inside the install prefix when it is relative."""
    path = options.conf.get("INSTANCE_PATH")
    return path if os.path.isabs(path) else options.layout.path(path)


def addressWatchFor(conf, reactor=None):
    """
    In SYSTEM mode, the AddressWatch that learns instances' addresses on the
    node (inside VNET_NETNS when the bridge lives in a namespace); else None.
    """
    if (conf.get("VNET_MODE") or "SYSTEM").upper() != "SYSTEM":
        return None
    return AddressWatch(namespace=conf.get("VNET_NETNS"), reactor=reactor)


def groupLinksFromConf(conf, layout, reactor=None):
    """
    The node's half of MANAGED group networks: links made on
    VNET_PRIVINTERFACE (default VNET_BRIDGE), VXLAN tunnels from
    VNET_LOCALIP, commands run in VNET_NETNS when set (the lab's nodes).
    """
    runner = ProcessRunner(reactor=reactor, errorLog=layout.log("httpd-nc_error_log"),
                           netns=conf.get("VNET_NETNS") or None)
    return NodeGroupLinks(runner, conf.get("VNET_PRIVINTERFACE") or conf.get("VNET_BRIDGE"),
                          conf.get("VNET_LOCALIP") or None)


def makeNodeController(options, reactor=None):
    """The hypervisor service and the NodeController for ``options``."""
    conf = options.conf
    runner = ProcessRunner(reactor=reactor,
                           errorLog=options.layout.log("httpd-nc_error_log"))
    hypervisor = Hypervisor(conf.get("LIBVIRT_URI"), reactor=reactor)
    path = instancePath(options)
    addresses = addressWatchFor(conf, reactor)
    imageCache = ImageCache(os.path.join(path, "eucalyptus", "cache"),
                            httpClient=nodeHttpClient(options.layout, reactor),
                            clock=reactor, capacity=cacheCapacity(conf))
    node = NodeController(
        hypervisor,
        imageCache,
        InstanceDisks(path, runner),
        hypervisorSetting=conf.get("HYPERVISOR"),
        probe=AcceleratorProbe(runner),
        limits=(conf.getInt("MAX_CORES"), conf.getInt("MAX_MEM"),
                conf.getInt("MAX_DISK")),
        defaultBridge=conf.get("VNET_BRIDGE"),
        clock=reactor, addresses=addresses,
        concurrentLaunches=concurrentLaunches(conf),
        groupLinks=groupLinksFromConf(conf, options.layout, reactor))
    imageCache.inUse = lambda: imagesInUse(node.lifecycle)
    return hypervisor, node


def imagesInUse(lifecycle):
    """The image cache entries of the node's instances, which no eviction takes."""
    return {entryName(image) for instance in lifecycle.instances.values()
            for image in (instance.spec.image, instance.spec.kernel, instance.spec.ramdisk)
            if image is not None}


def makeService(options):
    root = makeDaemonService(options, "nc.log")
    hypervisor, node = makeNodeController(options)
    hypervisor.setServiceParent(root)
    node.setServiceParent(root)
    tlsOptions = trust.LazyCredentials(options.layout, "node").serverOptions(
        acceptRole="cluster")
    pblink.LinkServer(NodeRoot(node), port=options.conf.getInt("NC_PORT"),
                      host=options.conf.get("NC_LISTEN"), tlsOptions=tlsOptions,
                      endpoint=linkEndpoint(options, tlsOptions)).setServiceParent(root)
    # Launches that come before the check is done wait for it.
    ImageCacheCheck(node.lifecycle.imageCache).setServiceParent(root)
    if node.addresses is not None:
        node.addresses.setServiceParent(root)
    return root
