"""Hands each cluster the cloud's network policy, whole, whenever it may differ.

The clusters enforce security groups and elastic IPs (MANAGED modes); the
CLC owns them.  ``PolicyPublisher`` sends each cluster one
``NetworkPolicy`` record (the groups in use there -- those its instances
run in and the source groups their rules name -- with their rules, and
the address associations of that cluster's instances,
``eucad.clc.policystore``)
through ``ICluster.applyNetworkPolicy``:

- at once after every change the group and address operations publish on
  ``cloud.networkChanges`` (an authorize is in force moments after the API
  answered), and to a cluster where RunInstances placed instances (their
  groups may be new there);
- every ``interval`` seconds when the policy read from the database differs
  from the last one the cluster took (an instance got its private IP, so
  its association can now be enforced; a push that failed), or when the
  link to the cluster connected again since (a CC that restarted starts
  from nothing and converges here).

Sending the whole policy rather than the change keeps the cluster right
even when it missed a change; it diffs and applies only the difference.
Pushes to one cluster never overlap (``SerialPoll``): changes heard during a
push bring exactly one more push after it.

The same loop carries other whole records to every cluster: a subclass
says what (``what``), how it is read (``current``), how it is handed over
(``deliver``) and which feed announces changes (``changeFeed``), as
``eucad.clc.settingspush`` does for the administrator's cluster settings.
"""

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from eucad.clc.netchanges import InstancesPlaced
from eucad.clc.policystore import networkPolicy
from eucad.common.changes import SerialPoll
from eucad.common.errors import CloudError

log = Logger()


class PolicyPublisher(Service):
    """
    @param cloud: the ``Cloud`` (its db, clusters, clock and networkChanges).
    @param interval: seconds between the checks for a policy the cluster lacks.
    """

    #: What is pushed, for the log.
    what = "network policy"

    def __init__(self, cloud, interval=2.0):
        self.cloud = cloud
        self.interval = interval
        self.loop = None
        self._pushes = {}
        #: cluster name -> (the policy it took, (its link, the link's connectionCount) then)
        self.delivered = {}
        self._failing = set()

    def startService(self):
        Service.startService(self)
        for push in self._pushes.values():
            push.stopped = False
        self.changeFeed().subscribe(self.changed)
        self.loop = task.LoopingCall(self.checkAll)
        self.loop.clock = self.cloud.clock
        self.loop.start(self.interval, now=True).addErrback(
            lambda f: log.failure("{what} publisher stopped", f, what=self.what))

    def stopService(self):
        Service.stopService(self)
        self.changeFeed().unsubscribe(self.changed)
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.loop = None
        for push in self._pushes.values():
            push.stop()

    def changeFeed(self):
        """The feed whose changes bring a push to every cluster."""
        return self.cloud.networkChanges

    def current(self, name):
        """A Deferred of the record cluster ``name`` should have now."""
        return self.cloud.db.run(networkPolicy, name)

    def deliver(self, entry, record):
        """Hand ``record`` to the cluster's ``entry``; a Deferred."""
        return entry.applyNetworkPolicy(record)

    def _serial(self, name):
        push = self._pushes.get(name)
        if push is None:
            push = self._pushes[name] = SerialPoll(
                lambda: self._push(name), "%s push to %s" % (self.what, name))
        return push

    def changed(self, change):
        """
        A committed change (``eucad.clc.netchanges``): push soon to the
        cluster it concerns alone (instances placed there), else to every one.
        """
        if isinstance(change, InstancesPlaced):
            if change.cluster in self.cloud.clusters:
                self._serial(change.cluster).soon()
            return
        for name in self.cloud.clusters.names():
            self._serial(name).soon()

    def checkAll(self):
        """Push to every cluster whose policy may be stale; never fails."""
        return defer.DeferredList([self._serial(name).join()
                                   for name in self.cloud.clusters.names()],
                                  consumeErrors=True)

    def pushNow(self, name):
        """Push to cluster ``name`` after anything under way (tests, and changes)."""
        return self._serial(name).soon()

    @defer.inlineCallbacks
    def _push(self, name):
        if name not in self.cloud.clusters:
            # Deregistered since the push was asked for.
            self.delivered.pop(name, None)
            return
        entry = self.cloud.clusters[name]
        policy = yield self.current(name)
        # A cluster registered again under the same name has a new link.
        connection = (entry.link, entry.connectionCount)
        if self.delivered.get(name) == (policy, connection):
            return
        try:
            yield self.deliver(entry, policy)
        except CloudError as e:
            self.delivered.pop(name, None)
            if name not in self._failing:
                self._failing.add(name)
                log.warn("cluster {name} did not take the {what}: {error}",
                         name=name, what=self.what, error=e)
            return
        self._failing.discard(name)
        self.delivered[name] = (policy, connection)
        self.tookIt(name, policy)

    def tookIt(self, name, policy):
        """Cluster ``name`` took ``policy`` (for the debug log)."""
        log.debug("cluster {name} took the network policy ({groups} groups, "
                  "{addresses} addresses)", name=name, groups=len(policy.groups),
                  addresses=len(policy.associations))
