"""The clusters (availability zones) this cloud schedules on.

``CLUSTERS`` in eucalyptus.conf lists them as ``name@host:port`` words; each
becomes a ``ClusterEntry`` whose ``link`` provides ``ICluster`` (a
``links.ClusterLink`` in the daemon, a ``FakeCluster`` in tests).  The CLC
calls a cluster through its entry (``cloud.clusters[zone].runInstances(specs)``):
each of the entry's methods is the link's operation of the same name with a
timeout, so that a hung cluster delays an API call or a poll by a bounded
time, never forever, and every failure comes back as a ``CloudError`` naming
the cluster.
"""

from twisted.internet import defer

from eucad.common.errors import CloudError
from eucad.common.hostport import parseHostPort
from eucad.common.interfaces import ICluster

#: Default CC port (DESIGN.md).
DEFAULT_CC_PORT = 8774

#: Seconds a call may take unless the caller says otherwise.
DEFAULT_TIMEOUT = 30.0

#: ``timeout=DEFAULT``: the ClusterSet's timeout.
DEFAULT = object()


def parseClusters(text):
    """
    ``"zone1@10.0.0.1:8774 zone2@cc2"`` to ``[(name, host, port)]``.

    A word without ``@`` names a cluster on the host of that name; the port
    defaults to 8774 (``eucad.common.hostport``).
    """
    clusters = []
    seen = set()
    for word in text.split():
        name, at, where = word.partition("@")
        if not at:
            where = name
        try:
            host, port = parseHostPort(where, DEFAULT_CC_PORT)
        except ValueError:
            raise ValueError("bad CLUSTERS entry %r (want name@host:port)" % (word,)) from None
        if not name:
            raise ValueError("bad CLUSTERS entry %r (want name@host:port)" % (word,))
        if name in seen:
            raise ValueError("cluster %r listed twice in CLUSTERS" % (name,))
        seen.add(name)
        clusters.append((name, host, port))
    return clusters


def reraiseAsCloudError(failure, entry, method):
    """
    An errback that lets only CloudError through: a CloudError failure is
    passed on as it is; a timeout or cancellation is raised as Unavailable
    (503) and anything else as InternalError (500), naming the cluster.
    """
    if failure.check(CloudError):
        return failure
    if failure.check(defer.TimeoutError, defer.CancelledError):
        raise CloudError("Unavailable", "cluster %s did not answer %s in time" % (
            entry.name, method), 503)
    raise CloudError("InternalError", "cluster %s failed %s: %s" % (
        entry.name, method, failure.getErrorMessage()), 500)


class ClusterEntry:
    """
    One availability zone: its name, where its CC listens, and the link.

    Its methods are the cluster's operations (``ICluster``), each failing
    only with CloudError and, unless told otherwise, after ``timeout``
    seconds at most (the ClusterSet sets ``clock`` and ``timeout``).
    """

    def __init__(self, name, host, port, link):
        if not ICluster.providedBy(link):
            raise TypeError("%r does not provide ICluster" % (link,))
        self.name = name
        self.host = host
        self.port = port
        self.link = link
        self.clock = None
        self.timeout = DEFAULT_TIMEOUT

    def __repr__(self):
        return "<ClusterEntry %s@%s:%s>" % (self.name, self.host, self.port)

    def _bounded(self, operation, call, timeout, *args):
        d = defer.maybeDeferred(call, *args)
        seconds = self.timeout if timeout is DEFAULT else timeout
        if seconds is not None:
            d.addTimeout(seconds, self.clock)
        return d.addErrback(reraiseAsCloudError, self, operation)

    def describeResources(self, timeout=DEFAULT):
        """The cluster's ``ClusterResources``."""
        return self._bounded("describeResources", self.link.describeResources, timeout)

    def runInstances(self, specs, timeout=DEFAULT):
        """Run the ``RunSpec``s, all or none; their ``InstanceReport``s."""
        return self._bounded("runInstances", self.link.runInstances, timeout, specs)

    def describeInstances(self, timeout=DEFAULT):
        """The ``InstanceReport``s of the cluster."""
        return self._bounded("describeInstances", self.link.describeInstances, timeout)

    def terminateInstances(self, instanceIds, timeout=DEFAULT):
        """Terminate ``instanceIds``; a ``Termination`` for each."""
        return self._bounded("terminateInstances", self.link.terminateInstances, timeout,
                             instanceIds)

    def rebootInstances(self, instanceIds, timeout=DEFAULT):
        """Reboot ``instanceIds`` in place, all or none; their ``InstanceReport``s."""
        return self._bounded("rebootInstances", self.link.rebootInstances, timeout,
                             instanceIds)

    def getConsoleOutput(self, instanceId, timeout=DEFAULT):
        """The ``ConsoleOutput`` of ``instanceId``."""
        return self._bounded("getConsoleOutput", self.link.getConsoleOutput, timeout,
                             instanceId)

    def applyNetworkPolicy(self, policy, timeout=DEFAULT):
        """Enforce the ``NetworkPolicy`` (groups, rules, associations) on the cluster."""
        return self._bounded("applyNetworkPolicy", self.link.applyNetworkPolicy, timeout,
                             policy)

    def applyClusterSettings(self, settings, timeout=DEFAULT):
        """Put the cloud-wide ``ClusterSettings`` (DNS servers) in force on the cluster."""
        return self._bounded("applyClusterSettings", self.link.applyClusterSettings, timeout,
                             settings)

    @property
    def connectionCount(self):
        """Connections made to the cluster so far (None for links that do not count)."""
        return getattr(self.link, "connectionCount", None)

    def waitForChange(self, generation, timeout):
        """The cluster's long poll; its caller bounds the wait itself."""
        return self._bounded("waitForChange", self.link.waitForChange, None,
                             generation, timeout)


class ClusterSet:
    """
    The clusters in ``CLUSTERS`` order.

    @param entries: ClusterEntry objects.
    @param clock: the IReactorTime that times calls out.
    @param timeout: seconds a call may take (``None``: no limit).
    """

    def __init__(self, entries, clock, timeout=DEFAULT_TIMEOUT):
        self.entries = list(entries)
        self.byName = {entry.name: entry for entry in self.entries}
        self.clock = clock
        self.timeout = timeout
        for entry in self.entries:
            entry.clock = clock
            entry.timeout = timeout

    @classmethod
    def fromLinks(cls, links, clock, timeout=DEFAULT_TIMEOUT):
        """A set from ``{name: ICluster}`` (tests); host/port are unknown."""
        return cls([ClusterEntry(name, name, DEFAULT_CC_PORT, link)
                    for name, link in links.items()], clock, timeout)

    def add(self, entry):
        """Schedule on ``entry`` from now on (a cluster registered while running)."""
        if entry.name in self.byName:
            raise ValueError("cluster %r is already registered" % (entry.name,))
        entry.clock = self.clock
        entry.timeout = self.timeout
        self.entries.append(entry)
        self.byName[entry.name] = entry

    def remove(self, name):
        """Stop scheduling on the cluster ``name``; its entry."""
        entry = self.byName.pop(name)
        self.entries.remove(entry)
        return entry

    def names(self):
        return [entry.name for entry in self.entries]

    def __contains__(self, name):
        return name in self.byName

    def __getitem__(self, name):
        return self.byName[name]

    def describeResources(self, names=None, timeout=DEFAULT):
        """
        Ask every cluster (or those in ``names``) at once for its resources
        and fire with ``{name: ClusterResources or CloudError}``: one
        cluster's failure never hides the others' answers.
        """
        names = self.names() if names is None else list(names)
        calls = [self.byName[name].describeResources(timeout=timeout) for name in names]
        d = defer.DeferredList(calls, consumeErrors=True)

        def collect(results):
            return {name: (value if ok else value.value)
                    for name, (ok, value) in zip(names, results)}
        return d.addCallback(collect)
