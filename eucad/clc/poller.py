"""Keeps the CLC's instance rows in step with what the clusters report.

Every CLUSTER_POLL_SECONDS each cluster is asked ``describeInstances``; its
answer moves rows forward (pending -> running, addresses, terminated) and
whatever still runs there against the CLC's wishes is terminated again.  A
cluster that does not answer is skipped until the next round: its rows keep
their last known state.

Between rounds, ``ClusterWatcher`` long-polls each cluster
(``ICluster.waitForChange``, see ``eucad.common.changes``) and asks for a
poll of that cluster as soon as it reports a change, so that a user sees
``running`` moments after the domain starts rather than a round or two
later.  Polls of one cluster never overlap: a change heard during a poll
brings exactly one more poll after it.
"""

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.clc import instancestore
from eucad.common.changes import SerialPoll, WatchSet
from eucad.common.errors import CloudError

log = Logger()

#: Seconds a cluster is asked to hold a waitForChange call.
WAIT_SECONDS = 25.0
#: Seconds after which the CLC gives up on a call that did not answer.
CALL_TIMEOUT = 35.0


class ClusterPoller(Service):
    """
    @param cloud: the ``Cloud`` whose db and clusters are polled.
    @param interval: seconds between rounds.
    """

    def __init__(self, cloud, interval=2.0):
        self.cloud = cloud
        self.interval = interval
        self.loop = None
        self._unreachable = set()
        self._polls = {}

    def startService(self):
        Service.startService(self)
        for serial in self._polls.values():
            serial.stopped = False
        self.loop = task.LoopingCall(self.pollOnce)
        self.loop.clock = self.cloud.clock
        # The first round runs at once (now=True): the CLC learns the state
        # of running instances right after it starts.
        self.loop.start(self.interval, now=True).addErrback(
            lambda f: log.failure("cluster poller stopped", f))

    def stopService(self):
        Service.stopService(self)
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.loop = None
        for serial in self._polls.values():
            serial.stop()

    def pollOnce(self):
        """One round over all clusters; never fails (errors are logged)."""
        return defer.DeferredList(
            [self.pollCluster(name) for name in self.cloud.clusters.names()],
            consumeErrors=True)

    def _serial(self, name):
        serial = self._polls.get(name)
        if serial is None:
            serial = self._polls[name] = SerialPoll(
                lambda: self._pollClusterNow(name), "poll of cluster %s" % (name,))
        return serial

    def pollCluster(self, name):
        """Poll cluster ``name``, or wait for its poll under way; never fails."""
        return self._serial(name).join()

    def pollSoon(self, name):
        """
        Poll cluster ``name`` because it changed: at once, or right after the
        poll under way (which may have asked before the change); calls made
        during one poll add a single poll.  Never fails.
        """
        return self._serial(name).soon()

    @defer.inlineCallbacks
    def _pollClusterNow(self, name):
        cloud = self.cloud
        startedAt = cloud.now()
        try:
            reports = yield cloud.clusters[name].describeInstances()
        except CloudError as e:
            if name not in self._unreachable:
                log.warn("cluster {name} is unreachable: {error}", name=name, error=e)
                self._unreachable.add(name)
            return
        if name in self._unreachable:
            log.info("cluster {name} answers again", name=name)
            self._unreachable.discard(name)
        try:
            toTerminate = yield cloud.db.run(instancestore.applyClusterReport, name,
                                             reports, startedAt, cloud.now())
            if toTerminate:
                log.info("asking {name} to terminate {ids}", name=name,
                         ids=" ".join(toTerminate))
                results = yield cloud.clusters[name].terminateInstances(toTerminate)
                yield cloud.db.run(instancestore.applyTerminations, results,
                                   cloud.now())
        except CloudError as e:
            log.warn("poll of {name} incomplete: {error}", name=name, error=e)
        except Exception:
            log.failure("poll of {name} failed", name=name)


class ClusterWatcher(WatchSet):
    """
    One long poll per cluster; a cluster's change brings
    ``poller.pollSoon(name)``.  A cluster that cannot be watched (link down,
    a CC without the method) is tried again every ``retryDelay`` seconds
    (the poller's interval by default); the poller's rounds go on regardless.

    @param poller: the ClusterPoller of the same cloud.
    """

    def __init__(self, poller, retryDelay=None, waitSeconds=WAIT_SECONDS,
                 callTimeout=CALL_TIMEOUT):
        WatchSet.__init__(self, poller.cloud.clock,
                          poller.interval if retryDelay is None else retryDelay,
                          waitSeconds, callTimeout)
        self.poller = poller

    def peers(self):
        clusters = self.poller.cloud.clusters
        for name in clusters.names():
            # ChangeWatch times the call out itself.
            yield name, "cluster " + name, clusters[name].waitForChange, (
                lambda name=name: self.poller.pollSoon(name))
