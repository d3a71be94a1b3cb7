"""What a finished node poll means for the cluster controller's records.

After every poll of the node registry, ``reconcile`` compares the records
with what the nodes reported and says what to do; the ``ClusterController``
does it.  The decisions:

- a terminated record older than ``keepTerminatedSeconds`` is ``EXPIRE``d;
- records on nodes that are down wait for the node to come back;
- a ``terminating`` record whose terminate is not in flight is
  ``TERMINATE``d again (its node could not be reached before);
- a running record its node no longer lists, in a poll that began after the
  node accepted it, vanished: ``CLEAN_UP``;
- a running record its node reports terminated ended there: ``CLEAN_UP``
  with the node's reason;
- a running record whose node reports an address the mode learns from it
  (SYSTEM mode): ``LEARN_ADDRESS``.
"""

from eucad.cc.ledger import RUNNING, TERMINATED, TERMINATING

EXPIRE = "expire"
TERMINATE = "terminate"
CLEAN_UP = "clean up"
LEARN_ADDRESS = "learn address"


def reconcile(records, registry, launchedPoll, terminating, now, keepTerminatedSeconds):
    """
    @param records: the controller's records (instanceId -> record).
    @param registry: the ``NodeRegistry`` after its poll.
    @param launchedPoll: instanceId -> the node's poll count when the node
        accepted the instance.
    @param terminating: ``terminating(instanceId)`` says whether a
        terminate is in flight.
    @return: a list of ``(action, record, detail)``; ``detail`` is the
        reason of a clean-up or the address to learn.
    """
    actions = []
    for record in list(records.values()):
        instanceId = record["instanceId"]
        if record["phase"] == TERMINATED:
            if now - (record["terminatedAt"] or 0) > keepTerminatedSeconds:
                actions.append((EXPIRE, record, None))
            continue
        entry = registry.entry(record["node"])
        if entry is None or not entry.up:
            continue
        if record["phase"] == TERMINATING:
            if not terminating(instanceId):
                actions.append((TERMINATE, record, None))
            continue
        if record["phase"] != RUNNING:
            continue
        report = entry.instances.get(instanceId)
        if report is None:
            if entry.lastPollStarted > launchedPoll.get(instanceId, 0):
                actions.append((CLEAN_UP, record,
                                "the instance vanished from %s" % (entry.name,)))
            continue
        if report.state == "terminated":
            actions.append((CLEAN_UP, record, report.reason or "the instance stopped"))
            continue
        if report.privateIp:
            actions.append((LEARN_ADDRESS, record, report.privateIp))
    return actions
