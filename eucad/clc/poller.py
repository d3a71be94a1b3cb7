"""Keeps the CLC's instance rows in step with what the clusters report.

Every CLUSTER_POLL_SECONDS each cluster is asked ``describeInstances``; its
answer moves rows forward (pending -> running, addresses, terminated) and
whatever still runs there against the CLC's wishes is terminated again.  A
cluster that does not answer is skipped until the next round: its rows keep
their last known state.
"""

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.clc import instancestore
from eucad.common.errors import CloudError

log = Logger()


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

    def startService(self):
        Service.startService(self)
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

    def pollOnce(self):
        """One round over all clusters; never fails (errors are logged)."""
        return defer.DeferredList(
            [self.pollCluster(name) for name in self.cloud.clusters.names()],
            consumeErrors=True)

    @defer.inlineCallbacks
    def pollCluster(self, name):
        cloud = self.cloud
        startedAt = cloud.now()
        try:
            reports = yield cloud.clusters.call(name, "describeInstances")
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
                results = yield cloud.clusters.call(name, "terminateInstances",
                                                    toTerminate)
                yield cloud.db.run(instancestore.applyTerminations, results,
                                   cloud.now())
        except CloudError as e:
            log.warn("poll of {name} incomplete: {error}", name=name, error=e)
        except Exception:
            log.failure("poll of {name} failed", name=name)
