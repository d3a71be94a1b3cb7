"""Asking nodes to destroy instances, one call per instance at a time.

The ``ClusterController`` terminates through ``NodeTerminations``: for a
user's request, for a request it rolls back, and for what a poll found
(instances that ended on their node, terminations that could not reach their
node before).  Only one call per instance is in flight; a second caller
waits for the first call's outcome.  Once a node confirms, the instance's
network and room are released (the controller's ``release``); a node that
cannot be reached leaves the record ``terminating`` for the next poll.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.ledger import TERMINATING, termination
from eucad.cc.nodecalls import asCloudError, nodeIsDown

log = Logger()


class NodeTerminations:
    """
    @param registry: the ``NodeRegistry`` (to find nodes and mark them down).
    @param release: ``release(record, forget)``, called once a node
        confirmed (or no longer exists).
    @param clock: IReactorTime for the calls' timeouts.
    @param timeout: seconds a node may take to terminate.
    """

    def __init__(self, registry, release, clock, timeout):
        self.registry = registry
        self.release = release
        self.clock = clock
        self.timeout = timeout
        self._inFlight = {}

    def inFlight(self, instanceId):
        """Whether a terminate of ``instanceId`` is under way."""
        return instanceId in self._inFlight

    def _call(self, entry, instanceId):
        d = defer.maybeDeferred(entry.node.terminateInstance, instanceId)
        d.addTimeout(self.timeout, self.clock)
        return d

    def terminate(self, record, forget=False):
        """
        Ask the record's node to destroy the instance; on success release it
        (and forget the record when ``forget``).

        @return: Deferred firing True when done, False when the node could not
            be reached (the record stays ``terminating`` for the polls).
        """
        instanceId = record["instanceId"]
        waiter = defer.Deferred()
        if instanceId in self._inFlight:
            self._inFlight[instanceId].append(waiter)
            return waiter
        entry = self.registry.entry(record["node"])
        if entry is None:
            log.warn("{id} ran on {node}, which NODES no longer lists; releasing it",
                     id=instanceId, node=record["node"])
            self.release(record, forget)
            waiter.callback(True)
            return waiter
        self._inFlight[instanceId] = [waiter]

        def done(answer):
            entry.instances.pop(instanceId, None)
            self.release(record, forget)
            return True

        def failed(failure):
            error = asCloudError(failure)
            if nodeIsDown(error):
                self.registry.markDown(entry, str(error))
            log.warn("terminating {id} on {node} failed: {e}", id=instanceId,
                     node=entry.name, e=error)
            return False

        def finished(outcome):
            for each in self._inFlight.pop(instanceId, []):
                each.callback(outcome)
        d = self._call(entry, instanceId)
        d.addCallbacks(done, failed)
        d.addCallback(finished)
        return waiter

    def terminateAgain(self, record):
        """
        Terminate an instance once more after the terminate already in flight
        (if any) ended: one that was terminated while its node started it,
        which the node may have started after the first terminate reached it.
        The record goes back to ``terminating`` until the node confirms.
        """
        earlier = defer.Deferred()
        if record["instanceId"] in self._inFlight:
            self._inFlight[record["instanceId"]].append(earlier)
        else:
            earlier.callback(None)

        def again(_):
            record["phase"] = TERMINATING
            return self.terminate(record)
        return earlier.addCallback(again)

    def destroyOn(self, entry, instanceId):
        """Destroy a domain nobody keeps a record of; failures are only logged."""
        d = self._call(entry, instanceId)
        d.addErrback(lambda f: log.warn("cannot terminate {id} on {node}: {e}",
                                        id=instanceId, node=entry.name,
                                        e=f.getErrorMessage()))
        return d

    def terminateStray(self, instanceId):
        """An id the CC has no record of: ask the node that lists it, if any."""
        for entry in self.registry.entries:
            report = entry.instances.get(instanceId)
            if report is None:
                continue
            previous = report.state or "running"

            def done(answer, entry=entry):
                entry.instances.pop(instanceId, None)
                return termination(instanceId, previous, "terminated")

            def failed(failure):
                log.warn("cannot terminate {id}: {e}", id=instanceId,
                         e=failure.getErrorMessage())
                return termination(instanceId, previous, "shutting-down")
            return self._call(entry, instanceId).addCallbacks(done, failed)
        return defer.succeed(termination(instanceId, "terminated", "terminated"))
