"""Undoing a ``runInstances`` request that failed on one of its nodes.

All or none: when any node refuses or cannot be reached, every instance of
the request is terminated again on its node and released; the CLC was told
the request failed, so once each node confirms the records go without a
trace (``forget``), now or on a later poll.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.cc.ledger import TERMINATING

log = Logger()


@defer.inlineCallbacks
def rollBack(records, terminations):
    """
    Terminate and forget the instances of ``records`` (a failed request).

    @param terminations: the controller's ``NodeTerminations``.
    @return: Deferred firing once every node answered or failed; records
        whose node could not be reached stay ``terminating`` for the polls.
    """
    for record in records:
        record["phase"] = TERMINATING
        record["reason"] = "rolled back: the request failed"
        record["rolledBack"] = True
    outcomes = yield defer.DeferredList(
        [terminations.terminate(record, forget=True) for record in records])
    for (ok, done), record in zip(outcomes, records):
        if not (ok and done):
            log.warn("{id} could not be rolled back on {node} yet; retrying on polls",
                     id=record["instanceId"], node=record["node"])
