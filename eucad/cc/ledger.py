"""The cluster controller's record of each instance it was asked to run.

What the CC alone knows about an instance (its ``RunSpec``, the node it
chose, the network it allocated, where it is in its life) is one record:
a dict kept in ``ClusterController.records``, written to the state file on
every change and read back at start.  This module makes records, moves them
between their formats in memory and on disk, and turns a record and the
node's last report into the ``InstanceReport`` the CLC sees.
"""

from twisted.logger import Logger

from eucad.cc.vnet.base import UNKNOWN_ADDRESS
from eucad.common.errors import CloudError
from eucad.common.records import InstanceReport, RunSpec, Termination

log = Logger()

#: Phases of a record: the CC's side of an instance's life.
LAUNCHING = "launching"      # network allocated, node not yet confirmed
RUNNING = "running"          # the node accepted it; its state comes from polls
TERMINATING = "terminating"  # asked to go; waiting for the node to confirm
TERMINATED = "terminated"    # gone, resources released; kept a while for describe


def checkRequest(specs, records):
    """
    Check one ``runInstances`` request as a whole (each ``RunSpec`` checked
    its own fields when it was made).

    @param records: the CC's records, to refuse ids it already runs.
    @raise CloudError: ``InvalidParameterValue`` naming the first problem.
    """
    if not isinstance(specs, list) or not specs:
        raise CloudError("InvalidParameterValue", "runInstances needs a non-empty list of specs")
    seen = set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, RunSpec):
            raise CloudError("InvalidParameterValue", "spec %d is not a RunSpec" % (index,))
        if spec.instanceId in seen:
            raise CloudError("InvalidParameterValue",
                             "instanceId %s appears twice" % (spec.instanceId,))
        seen.add(spec.instanceId)
        record = records.get(spec.instanceId)
        if record is not None and record["phase"] != TERMINATED:
            raise CloudError("InvalidParameterValue",
                             "%s is already known to this cluster" % (spec.instanceId,))


def newRecord(spec, nodeName, launchTime):
    """The record of ``spec`` placed on ``nodeName``, before its network is allocated."""
    return {
        "instanceId": spec.instanceId,
        "spec": spec,
        "group": {"owner": spec.network.owner, "group": spec.network.group},
        "network": {},
        "node": nodeName,
        "phase": LAUNCHING,
        "reason": "",
        "launchTime": int(launchTime),
        "terminatedAt": None,
    }


def forDisk(records):
    """The records as the state file holds them (plain data)."""
    return {instanceId: dict(record, spec=record["spec"].toDict())
            for instanceId, record in records.items()}


def fromDisk(document):
    """
    The records of a state file document, oldest first.  A record that does
    not carry a valid spec (written by an older CC) is left out with a
    warning: the CLC stops seeing its instance and cleans it up.
    """
    records = {}
    for instanceId, record in sorted((document or {}).get("instances", {}).items()):
        try:
            spec = RunSpec.fromDict(record["spec"])
        except (KeyError, TypeError, CloudError) as e:
            log.warn("state file: no usable run spec for {id} ({error}); forgetting it",
                     id=instanceId, error=e)
            continue
        records[instanceId] = dict(record, spec=spec)
    return records


def stateOf(record, report):
    """The EC2 state of a record, given its node's report (or None)."""
    phase = record["phase"]
    if phase == LAUNCHING:
        return "pending"
    if phase == TERMINATING:
        return "shutting-down"
    if phase == TERMINATED:
        return "terminated"
    return (report.state if report is not None else None) or "pending"


def view(record, report=None):
    """
    The ``InstanceReport`` the CLC sees for a record: the CC's allocation,
    node and phase, with the node's state, launch time and reason.  An
    address the CC does not know (SYSTEM mode before the guest asked DHCP)
    is taken from the node's report when it has one.
    """
    network = record["network"]
    privateIp = network.get("privateIp") or UNKNOWN_ADDRESS
    publicIp = network.get("publicIp") or UNKNOWN_ADDRESS
    reported = report.privateIp if report is not None else None
    if privateIp == UNKNOWN_ADDRESS and reported and reported != UNKNOWN_ADDRESS:
        privateIp = reported
        publicIp = report.publicIp or reported
    return InstanceReport.ofSpec(
        record["spec"], stateOf(record, report),
        launchTime=(report.launchTime if report is not None else None) or record["launchTime"],
        node=record["node"],
        reason=record["reason"] or (report.reason if report is not None else None) or "",
        macAddress=network.get("macAddress"), privateIp=privateIp, publicIp=publicIp)


def termination(instanceId, previous, state):
    """One answer of ``terminateInstances``."""
    return Termination(instanceId, previous, state)
