"""The clusters (availability zones) this cloud schedules on.

``CLUSTERS`` in eucalyptus.conf lists them as ``name@host:port`` words; each
becomes a ``ClusterEntry`` whose ``link`` provides ``ICluster`` (a
``pblink.LinkClient`` in the daemon, a ``FakeCluster`` in tests).  Calls made
through ``ClusterSet.call`` carry a timeout, so that a hung cluster delays an
API call or a poll by a bounded time, never forever, and every failure comes
back as a ``CloudError``.
"""

from twisted.internet import defer

from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster

#: Default CC port (DESIGN.md).
DEFAULT_CC_PORT = 8774


class ClusterEntry:
    """One availability zone: its name, where its CC listens, and the link."""

    def __init__(self, name, host, port, link):
        if not ICluster.providedBy(link):
            raise TypeError("%r does not provide ICluster" % (link,))
        self.name = name
        self.host = host
        self.port = port
        self.link = link

    def __repr__(self):
        return "<ClusterEntry %s@%s:%s>" % (self.name, self.host, self.port)


def parseClusters(text):
    """
    ``"zone1@10.0.0.1:8774 zone2@cc2"`` to ``[(name, host, port)]``.

    A word without ``@`` names a cluster on the host of that name; the port
    defaults to 8774.
    """
    clusters = []
    seen = set()
    for word in text.split():
        name, at, where = word.partition("@")
        if not at:
            where = name
        host, colon, port = where.rpartition(":")
        if not colon:
            host, port = where, str(DEFAULT_CC_PORT)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not name or not host or not port.isdigit():
            raise ValueError("bad CLUSTERS entry %r (want name@host:port)" % (word,))
        if name in seen:
            raise ValueError("cluster %r listed twice in CLUSTERS" % (name,))
        seen.add(name)
        clusters.append((name, host, int(port)))
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


class ClusterSet:
    """
    The clusters in ``CLUSTERS`` order.

    @param entries: ClusterEntry objects.
    @param clock: the IReactorTime that times calls out.
    @param timeout: seconds a call may take (``None``: no limit).
    """

    def __init__(self, entries, clock, timeout=30.0):
        self.entries = list(entries)
        self.byName = {entry.name: entry for entry in self.entries}
        self.clock = clock
        self.timeout = timeout

    @classmethod
    def fromLinks(cls, links, clock, timeout=30.0):
        """A set from ``{name: ICluster}`` (tests); host/port are unknown."""
        return cls([ClusterEntry(name, name, DEFAULT_CC_PORT, link)
                    for name, link in links.items()], clock, timeout)

    def names(self):
        return [entry.name for entry in self.entries]

    def __contains__(self, name):
        return name in self.byName

    def __getitem__(self, name):
        return self.byName[name]

    def call(self, name, method, *args, timeout="default"):
        """Call ``method`` on cluster ``name``; a Deferred failing only with CloudError."""
        entry = self.byName[name]
        d = defer.maybeDeferred(getattr(entry.link, method), *args)
        seconds = self.timeout if timeout == "default" else timeout
        if seconds is not None:
            d.addTimeout(seconds, self.clock)
        d.addErrback(reraiseAsCloudError, entry, method)
        return d

    def callEach(self, method, *args, names=None, timeout="default"):
        """
        Call ``method`` on every cluster (or those in ``names``) at once and
        fire with ``{name: result or CloudError}``: one cluster's failure
        never hides the others' answers.
        """
        names = self.names() if names is None else list(names)
        calls = [self.call(name, method, *args, timeout=timeout) for name in names]
        d = defer.DeferredList(calls, consumeErrors=True)

        def collect(results):
            return {name: (value if ok else value.value)
                    for name, (ok, value) in zip(names, results)}
        return d.addCallback(collect)
