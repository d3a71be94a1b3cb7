"""The CC's long polls on its nodes: a node's change brings a poll at once.

``NodeWatcher`` keeps one ``ChangeWatch`` (``eucad.common.changes``) per
node of the ``NodeRegistry``: an ``INode.waitForChange`` call always
outstanding, and on every new generation a ``registry.pollSoon()``, whose
observers (the ``ClusterController``) then note the change for the CLC's own
long poll.  A node that cannot be watched (link down, an NC without the
method) is retried every ``NODE_POLL_SECONDS``; the registry's regular polls
go on regardless, so the watch only ever makes news come sooner.
Built by ``eucad.cc.tap`` after the registry.
"""

from eucad.common.changes import WatchSet

#: Seconds a node is asked to hold a waitForChange call.
WAIT_SECONDS = 25.0
#: Seconds after which the CC gives up on a call that did not answer.
CALL_TIMEOUT = 35.0


class NodeWatcher(WatchSet):
    """
    @param registry: the NodeRegistry whose nodes are watched and polled.
    @param clock: an IReactorTime (a ``task.Clock`` in tests).
    @param retryDelay: seconds before watching a node again after a failed
        call; the registry's poll interval by default.
    """

    def __init__(self, registry, clock=None, retryDelay=None, waitSeconds=WAIT_SECONDS,
                 callTimeout=CALL_TIMEOUT):
        if clock is None:
            from twisted.internet import reactor as clock
        WatchSet.__init__(self, clock,
                          registry.interval if retryDelay is None else retryDelay,
                          waitSeconds, callTimeout)
        self.registry = registry

    def peers(self):
        for entry in self.registry.entries:
            # Looked up at each call: a facade without the method fails that
            # call (and is retried) instead of stopping the CC from starting.
            waitFor = (lambda generation, timeout, node=entry.node:
                       node.waitForChange(generation, timeout))
            yield entry.name, "node " + entry.name, waitFor, self._nodeChanged

    def _nodeChanged(self):
        # The whole registry is polled: one more round trip per node, and the
        # registry's bookkeeping (up/down, what a poll saw) stays in one place.
        self.registry.pollSoon()
