"""The cluster's nodes: who they are, whether they answer, what they hold.

The CC knows its nodes from ``NODES`` (``host[:port]`` entries, default port
``NC_PORT``) and reaches each through an object that provides ``INode`` (a
``links.NodeLink`` in the daemon, a ``FakeNode`` in tests).  The
``NodeRegistry`` polls every node every ``NODE_POLL_SECONDS``: a node whose
facade answers both calls is ``up`` and its report is kept; a node whose facade
fails (not connected, timed out, error) is ``down`` and gets no placements.
Placement, capacity and the cluster's view of instances read the registry;
observers hear about every finished poll.  Between rounds ``pollSoon`` polls
at once when a node's long poll (``eucad.cc.watch``) says something changed;
polls never overlap.
"""

import time

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.common.certstatus import certificateVerdict
from eucad.common.changes import SerialPoll
from eucad.common.hostport import formatHostPort, parseHostPort
from eucad.common.records import InstanceReport, NodeResources, NodeStatus

log = Logger()

UP = "up"
DOWN = "down"
#: Not answering because POWERSAVE put it to sleep (only ever reported).
ASLEEP = "asleep"
UNKNOWN = "unknown"


def parseNodes(value, defaultPort):
    """
    The ``(host, port)`` pairs of a ``NODES`` value.

    Entries are separated by white space and are ``host[:port]``
    (``eucad.common.hostport``); duplicates are dropped.

    @raise ValueError: for an entry that is no host[:port].
    """
    pairs = []
    for entry in value.split():
        pair = parseHostPort(entry, defaultPort)
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def nodeName(host, port):
    """The name the CC reports as an instance's ``node``: ``host:port``."""
    return formatHostPort(host, port)


class NodeEntry:
    """
    One node as the CC sees it.

    @ivar state: ``unknown`` until the first poll, then ``up`` or ``down``.
    @ivar resource: the last ``describeResource`` answer (NodeResources), or None.
    @ivar instances: instanceId -> the last ``InstanceReport`` of the node.
    @ivar pollsStarted: how many polls of this node have begun; the cluster
        compares it with ``lastPollStarted`` to tell whether a report was
        taken after something it did.
    @ivar lastPollStarted: the number of the poll whose report is kept.
    """

    def __init__(self, host, port, node):
        self.host = host
        self.port = port
        self.node = node
        self.name = nodeName(host, port)
        self.state = UNKNOWN
        self.resource = None
        self.instances = {}
        self.lastError = None
        self.lastSeen = None
        self.pollsStarted = 0
        self.lastPollStarted = 0

    def __repr__(self):
        return "<NodeEntry %s %s>" % (self.name, self.state)

    @property
    def up(self):
        return self.state == UP

    def total(self):
        """(cpu, ram, disk) of the node, zeros before it ever answered."""
        return self.resource.total if self.resource is not None else (0, 0, 0)

    def reportedFree(self):
        """(cpu, ram, disk) the node says are free, zeros before it answered."""
        return self.resource.free if self.resource is not None else (0, 0, 0)

    def certificates(self):
        """
        ``{"cc": bool, "nc": bool}``: whether the cluster's and the node's
        certificates check out on the link to this node.

        Both do while the node answers (the link is mutual TLS).  When it does
        not, the reason its link last broke may name the certificate that was
        refused; otherwise what held at the last contact still holds, and a
        node never reached has had neither checked.  Nodes reached without a
        link (fakes in tests) have no disconnect reason.
        """
        if self.up:
            return {"cc": True, "nc": True}
        verdict = certificateVerdict(getattr(self.node, "lastDisconnectReason", None))
        if verdict is not None:
            return {"cc": verdict["local"], "nc": verdict["peer"]}
        checked = self.lastSeen is not None
        return {"cc": checked, "nc": checked}

    def describe(self, free=None, asleep=False):
        """
        The entry as ICluster.describeResources reports it: a NodeStatus.

        @param asleep: POWERSAVE put the node to sleep: a node that does not
            answer then is ``asleep``, not ``down``.
        """
        cpu, ram, disk = self.total()
        freeCpu, freeRam, freeDisk = free if free is not None else self.reportedFree()
        certs = self.certificates()
        state = UP if self.up else (ASLEEP if asleep else DOWN)
        return NodeStatus(host=self.host, port=self.port, state=state,
                          cpu=cpu, ram=ram, disk=disk, freeCpu=freeCpu, freeRam=freeRam,
                          freeDisk=freeDisk, ccCertOk=certs["cc"], ncCertOk=certs["nc"],
                          lastSeen=self.lastSeen)


class NodeRegistry(Service):
    """
    The nodes of the cluster and the loop that polls them.

    @param nodes: ``(host, port, inode)`` triples in ``NODES`` order.
    @param interval: seconds between the starts of two polls.
    @param clock: an IReactorTime (a ``task.Clock`` in tests).
    @param pollTimeout: seconds a node may take to answer one poll before it
        counts as down; a hung link must not hold back the whole cluster.
    """

    def __init__(self, nodes, interval=2.0, clock=None, pollTimeout=None,
                 now=time.time):
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.interval = float(interval)
        self.pollTimeout = float(pollTimeout) if pollTimeout else max(10.0, 3 * self.interval)
        self.now = now
        self.entries = [NodeEntry(host, port, node) for host, port, node in nodes]
        self._byName = {entry.name: entry for entry in self.entries}
        self._observers = []
        self._loop = None
        self._polls = SerialPoll(self._pollAll, "node poll")

    def entry(self, name):
        """The entry called ``name`` (``host:port``), or None."""
        return self._byName.get(name)

    def upEntries(self):
        """The nodes that answered their last poll, in NODES order."""
        return [entry for entry in self.entries if entry.up]

    def addObserver(self, observer):
        """Call ``observer(entries)`` after every finished poll."""
        self._observers.append(observer)

    def removeObserver(self, observer):
        self._observers.remove(observer)

    def startService(self):
        Service.startService(self)
        self._polls.stopped = False
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: log.failure("node poll loop stopped", f))

    def stopService(self):
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self._polls.stop()
        return self._polls.whenIdle()

    def poll(self):
        """
        Ask every node for its instances and resources once.

        A poll that is already under way is joined rather than doubled, so a
        slow node never piles up calls.

        @return: Deferred firing with the list of entries when all answered
            or failed; never fails.
        """
        return self._polls.join().addCallback(lambda _: self.entries)

    def pollSoon(self):
        """
        Poll because something changed: at once, or, when a poll is under
        way (it may have asked before the change), once more right after it.
        Any number of calls during one poll add a single poll.

        @return: Deferred firing with the list of entries; never fails.
        """
        return self._polls.soon().addCallback(lambda _: self.entries)

    def _pollAll(self):
        polling = defer.gatherResults(
            [self._pollOne(entry) for entry in self.entries], consumeErrors=True)

        def finished(_):
            for observer in list(self._observers):
                try:
                    observer(self.entries)
                except Exception:
                    log.failure("node poll observer {o!r} failed", o=observer)
            return self.entries
        return polling.addCallback(finished)

    def _pollOne(self, entry):
        # Instances first, resources second: an instance started between the
        # two calls is then either in the list (and in the free figures) or
        # counted twice by the placement's reservation, never missed.
        entry.pollsStarted += 1
        number = entry.pollsStarted
        report = {}

        def gotInstances(instances):
            if not isinstance(instances, list) or not all(
                    isinstance(i, InstanceReport) for i in instances):
                raise TypeError("describeInstances answered %r" % (type(instances),))
            report["instances"] = instances
            return defer.maybeDeferred(entry.node.describeResource)

        def gotResource(resource):
            if not isinstance(resource, NodeResources):
                raise TypeError("describeResource answered %r" % (type(resource),))
            self._markUp(entry, number, resource, report["instances"])

        d = defer.maybeDeferred(entry.node.describeInstances)
        d.addCallback(gotInstances)
        d.addCallback(gotResource)
        d.addTimeout(self.pollTimeout, self.clock)
        d.addErrback(lambda failure: self.markDown(entry, failure.getErrorMessage()))
        return d

    def _markUp(self, entry, number, resource, instances):
        if entry.state != UP:
            log.info("node {name} is up", name=entry.name)
        entry.state = UP
        entry.resource = resource
        entry.instances = {i.instanceId: i for i in instances}
        entry.lastError = None
        entry.lastSeen = self.now()
        entry.lastPollStarted = number

    def markDown(self, entry, reason):
        """
        Take ``entry`` out of placement until a poll succeeds again.  Its last
        instance report is kept: the instances are probably still running.
        """
        if entry.state != DOWN:
            log.warn("node {name} is down: {reason}", name=entry.name, reason=reason)
        entry.state = DOWN
        entry.lastError = reason
