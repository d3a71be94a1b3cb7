"""Registering and deregistering clusters while the CLC runs.

``CLUSTERS`` in eucalyptus.conf is where the cloud's clusters are written
down (``eucad.clc.clusters.parseClusters``); this module is the one way a
cluster becomes (or stops being) one the CLC schedules on: at start for each
word of ``CLUSTERS``, and from the configuration page afterwards.
Registering writes the cluster into ``CLUSTERS`` (so it is there after a
restart), makes the cluster's certificate and key with ``eucad.common.trust``
(naming the cluster's host, so that the CLC's TLS check of the host it
dials passes), starts a link to it and adds it to the ClusterSet; the
administrator then copies the keys to the CC's host with
``euca_sync_key --cluster NAME``.  Deregistering does the reverse and is
refused while the cluster holds instances that are not terminated.
"""

import re

from sqlalchemy import func, select

from eucad.clc.clusterlinks import clusterLink
from eucad.clc.clusters import DEFAULT_CC_PORT, ClusterEntry, parseClusters
from eucad.clc.models import TERMINATED, Instance
from eucad.common import trust

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")


class ClusterError(ValueError):
    """A cluster that cannot be registered or deregistered; says why in one line."""


def checkCluster(name, host, port):
    """``(name, host, port)`` checked, or ClusterError naming the bad field."""
    name, host, port = (name or "").strip(), (host or "").strip(), (str(port or "")).strip()
    problems = []
    if not _NAME.match(name):
        problems.append("Cluster name: letters, digits, '-', '_' and '.', 1 to 64 long.")
    if not _HOST.match(host):
        problems.append("Host: a host name or IP address.")
    if not port:
        port = str(DEFAULT_CC_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        problems.append("Port: a number from 1 to 65535.")
    if problems:
        raise ClusterError("\n".join(problems))
    return name, host, int(port)


def _liveInstances(session, name):
    return session.scalar(select(func.count()).select_from(Instance).where(
        Instance.cluster == name, Instance.state != TERMINATED))


class ClusterRegistry:
    """
    @param conf: the CLC's EucaConf (``CLUSTERS`` is read from and written to it).
    @param layout: the install's Layout (the keys directory).
    @param clusters: the Cloud's ClusterSet.
    @param parent: the service the links run under.
    @param makeLink: ``makeLink(layout, host, port)``, an ICluster service.
    """

    def __init__(self, conf, layout, clusters, parent, makeLink=None):
        self.conf = conf
        self.layout = layout
        self.clusters = clusters
        self.parent = parent
        self.makeLink = makeLink or clusterLink
        #: Called with no argument after a cluster came or went (the CLC's
        #: cluster watcher refreshes its long polls).
        self.listeners = []

    def connectConfigured(self):
        """A link and an entry for each cluster of ``CLUSTERS`` (at start)."""
        for name, host, port in parseClusters(self.conf.get("CLUSTERS")):
            self._connect(name, host, port)

    def _connect(self, name, host, port):
        link = self.makeLink(self.layout, host, port)
        link.setServiceParent(self.parent)
        self.clusters.add(ClusterEntry(name, host, port, link))

    def describe(self):
        """``[(name, host, port)]`` in CLUSTERS order."""
        return [(e.name, e.host, e.port) for e in self.clusters.entries]

    def syncCommand(self, name):
        """What the administrator runs to copy the cluster's keys to its host."""
        return "euca_sync_key -c %s --cluster %s" % (self.conf.path, name)

    def register(self, name, host, port):
        """
        Check, write keys, write CLUSTERS, connect (blocking file work: run
        it in a thread).  Returns the checked ``(name, host, port)``.
        """
        name, host, port = checkCluster(name, host, port)
        if name in self.clusters:
            raise ClusterError("A cluster named %s is registered already." % (name,))
        self.makeKeys(host)
        self._writeClusters(self.describe() + [(name, host, port)])
        return name, host, port

    def connect(self, name, host, port):
        """Start the link of a registered cluster (in the reactor's thread)."""
        self._connect(name, host, port)
        self._changed()

    def _changed(self):
        for listener in self.listeners:
            listener()

    def makeKeys(self, host):
        """
        The cluster certificate and key (role ``cluster``), made again when
        they do not name ``host`` yet; clusters already running keep their
        copies, which stay valid (the same CA signed both).
        """
        keys = self.layout.keys
        names = {h for _, h, _ in self.describe()} | {host}
        try:
            current = trust.loadCert(trust.certPath(keys, "cluster"))
        except FileNotFoundError:
            current = None
        if current is None or not trust.certificateNames(current, host):
            trust.makeRoleCertificate(keys, "cluster", sorted(names), force=True)

    def checkDeregister(self, session, name):
        """ClusterError unless ``name`` is registered and holds no live instance (in a db thread)."""
        if name not in self.clusters:
            raise ClusterError("There is no cluster named %s." % (name,))
        count = _liveInstances(session, name)
        if count:
            raise ClusterError("Cluster %s still runs %d instance(s): terminate them first."
                               % (name, count))

    def deregister(self, name):
        """Forget the cluster: CLUSTERS rewritten, entry removed, link stopped (reactor thread)."""
        entry = self.clusters.remove(name)
        self._writeClusters(self.describe())
        self._changed()
        return entry.link.disownServiceParent()

    def _writeClusters(self, clusters):
        self.conf.set("CLUSTERS", " ".join("%s@%s:%d" % (n, h if ":" not in h else
                                                          "[%s]" % h, p)
                                           for n, h, p in clusters))
        self.conf.save()
