"""twistd eucalyptus-cc: the cluster controller's service tree.

``makeService`` reads eucalyptus.conf (already loaded by DaemonOptions) and
builds, in start order: logging to ``cc.log``; one ``links.NodeLink`` per
entry of ``NODES``; the ``NodeRegistry`` that polls them and the
``NodeWatcher`` that long-polls them between rounds; the network mode
(``eucad.cc.vnet``: its commands, dhcpd's included, run in VNET_NETNS when
set; MANAGED loads ``iptables-preload`` from beside eucalyptus.conf when its
firewall starts); dhcpd when the network mode serves DHCP; the ``ClusterController``; and the
``pblink.LinkServer`` on ``CC_LISTEN:CC_PORT`` (or where ``--port``, a
strports description, says; always mutual TLS) that takes the CLC's calls.
Stopping runs in reverse: the CLC is cut off first and dhcpd stops before the
links.  Nothing is read, bound or spawned until the services start: the
cluster's credentials are loaded when TLS first asks for them.
"""

import os

from eucad.cc import vnet
from eucad.cc.cluster import ClusterController
from eucad.cc.dhcpd import DhcpdProcess
from eucad.cc.nodes import NodeRegistry, parseNodes
from eucad.cc.placement import placementFromConf
from eucad.cc.state import StateFile
from eucad.cc.watch import NodeWatcher
from eucad.common import pblink, trust
from eucad.common.daemon import DaemonOptions, makeDaemonService
from eucad.common.links import ClusterRoot, NodeLink
from eucad.common.listening import linkEndpoint, portOption
from eucad.common.process import ProcessRunner

ERROR_LOG = "httpd-cc_error_log"
PRELOAD_FILE = "iptables-preload"


class Options(DaemonOptions):
    """eucalyptus-cc takes --prefix and --port; the rest is in eucalyptus.conf."""

    optParameters = [portOption("CC_PORT", "CC_LISTEN")]


def ccStateDirectory(layout):
    """Where the CC keeps its state file and its dhcpd's files."""
    return os.path.join(layout.state, "cc")


def preloadPath(layout):
    """The admin's iptables-preload, beside eucalyptus.conf."""
    return os.path.join(os.path.dirname(layout.conf), PRELOAD_FILE)


def readPreload(layout):
    """
    The text of iptables-preload (``iptables-save`` format), or None when
    there is none; the MANAGED firewall loads it after flushing, at start.
    """
    try:
        with open(preloadPath(layout), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def makeService(options, reactor=None):
    """The root service of eucalyptus-cc for the install at ``--prefix``."""
    conf, layout = options.conf, options.layout
    if reactor is None:
        from twisted.internet import reactor
    root = makeDaemonService(options, "cc.log")
    credentials = trust.LazyCredentials(layout, "cluster")

    nodes = []
    for host, port in parseNodes(conf.get("NODES"), conf.getInt("NC_PORT")):
        client = NodeLink(host, port, credentials.clientOptions(host, expectRole="node"),
                          reactor=reactor)
        client.setServiceParent(root)
        nodes.append((host, port, client))
    registry = NodeRegistry(nodes, interval=float(conf.get("NODE_POLL_SECONDS") or 2),
                            clock=reactor)
    registry.setServiceParent(root)
    NodeWatcher(registry, clock=reactor).setServiceParent(root)

    directory = ccStateDirectory(layout)
    errorLog = layout.log(ERROR_LOG)
    # dhcpd, ip, bridge and iptables-restore run in the front end's namespace.
    runner = ProcessRunner(reactor=reactor, errorLog=errorLog,
                           netns=conf.get("VNET_NETNS") or None)
    network = vnet.networkFromConf(conf, runner=runner,
                                   preload=lambda: readPreload(layout))
    dhcpd = None
    if network.usesDhcp:
        dhcpd = DhcpdProcess(os.path.join(directory, "dhcp"), network.dhcpInterfaces(),
                             runner, daemon=conf.get("VNET_DHCPDAEMON"),
                             user=conf.get("VNET_DHCPUSER"), reactor=reactor,
                             errorLog=errorLog)
        dhcpd.setServiceParent(root)

    placement = placementFromConf(
        conf, registry, ProcessRunner(reactor=reactor, errorLog=errorLog), reactor,
        StateFile(os.path.join(directory, "power.json")))
    if placement.power is not None:
        placement.power.setServiceParent(root)
    cluster = ClusterController(
        registry, network, placement,
        StateFile(os.path.join(directory, "state.json")), dhcpd=dhcpd, clock=reactor)
    cluster.setServiceParent(root)

    tlsOptions = credentials.serverOptions(acceptRole="cloud")
    server = pblink.LinkServer(ClusterRoot(cluster), port=conf.getInt("CC_PORT"),
                               host=conf.get("CC_LISTEN"), tlsOptions=tlsOptions,
                               reactor=reactor,
                               endpoint=linkEndpoint(options, tlsOptions, reactor))
    server.setServiceParent(root)
    return root
