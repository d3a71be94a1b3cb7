"""The two links between tiers, each as a facade (caller's side) and a root (callee's side).

CLC -> CC: ``ClusterLink`` provides ``ICluster`` to the CLC and
``ClusterRoot`` publishes a cluster controller.  CC -> NC: ``NodeLink``
provides ``INode`` to the CC and ``NodeRoot`` publishes a node controller.
Each operation is one method on each side: the facade's is a plain
``callRemote`` with the typed records of ``eucad.common.records`` and checks
the kind of answer it gets; the root's ``remote_*`` method checks the kind of
arguments it gets (the records checked their own fields when PB unpacked
them) and hands them to the tier.  Tier code calls the facade's methods
(``cluster.runInstances(specs)``); nothing else calls ``callRemote``.
"""

from twisted.internet import defer
from zope.interface import implementer

from eucad.common.clustersettings import ClusterSettings
from eucad.common.errors import CloudError
from eucad.common.interfaces import ICluster, INode
from eucad.common.netpolicy import NetworkPolicy
from eucad.common.pblink import LinkClient, LinkRoot
from eucad.common.records import (Change, ClusterResources, ConsoleOutput, FloodPeers,
                                  InstanceReport, NodeResources, RunSpec, Termination)


def _refused(what):
    return CloudError("InvalidParameterValue", what)


def _requireList(value, recordType, what, allowEmpty=True):
    if not isinstance(value, (list, tuple)) or not (allowEmpty or value) or not all(
            isinstance(item, recordType) for item in value):
        raise _refused("%s must be a %slist of %s" % (
            what, "" if allowEmpty else "non-empty ", recordType.__name__))
    return list(value)


def _requireRecord(value, recordType, what):
    if not isinstance(value, recordType):
        raise _refused("%s must be a %s" % (what, recordType.__name__))
    return value


def _requireNothing(answer, what):
    if answer is not None:
        raise _refused("%s must answer nothing" % (what,))


def _requireChange(answer):
    return _requireRecord(answer, Change, "waitForChange")


def _requireIds(value, what):
    if not isinstance(value, (list, tuple)) or not all(isinstance(i, str) for i in value):
        raise _refused("%s must be a list of instance ids" % (what,))
    return list(value)


def _requireId(value, what):
    if not isinstance(value, str):
        raise _refused("%s must be an instance id" % (what,))
    return value


def _answerCheck(check, *args):
    """A callback that checks an answer from the peer; a bad one is an InternalError."""
    def checked(answer):
        try:
            return check(answer, *args)
        except CloudError as e:
            raise CloudError("InternalError", "the peer answered badly: %s" % (
                e.message,), 500) from None
    return checked


# CLC -> CC -------------------------------------------------------------------

@implementer(ICluster)
class ClusterLink(LinkClient):
    """The CLC's facade of one cluster controller (see ``ICluster``)."""

    def describeResources(self):
        return self.callRemote("describeResources").addCallback(
            _answerCheck(_requireRecord, ClusterResources, "describeResources"))

    def runInstances(self, specs):
        return self.callRemote("runInstances", list(specs)).addCallback(
            _answerCheck(_requireList, InstanceReport, "runInstances"))

    def describeInstances(self):
        return self.callRemote("describeInstances").addCallback(
            _answerCheck(_requireList, InstanceReport, "describeInstances"))

    def terminateInstances(self, instanceIds):
        return self.callRemote("terminateInstances", list(instanceIds)).addCallback(
            _answerCheck(_requireList, Termination, "terminateInstances"))

    def waitForChange(self, generation, timeout):
        return self.callRemote("waitForChange", generation, timeout).addCallback(
            _answerCheck(_requireChange))

    def rebootInstances(self, instanceIds):
        return self.callRemote("rebootInstances", list(instanceIds)).addCallback(
            _answerCheck(_requireList, InstanceReport, "rebootInstances"))

    def getConsoleOutput(self, instanceId):
        return self.callRemote("getConsoleOutput", instanceId).addCallback(
            _answerCheck(_requireRecord, ConsoleOutput, "getConsoleOutput"))

    def applyNetworkPolicy(self, policy):
        if not isinstance(policy, NetworkPolicy):
            return defer.fail(_refused("applyNetworkPolicy's policy must be a NetworkPolicy"))
        return self.callRemote("applyNetworkPolicy", policy).addCallback(
            _answerCheck(_requireNothing, "applyNetworkPolicy"))

    def applyClusterSettings(self, settings):
        if not isinstance(settings, ClusterSettings):
            return defer.fail(_refused(
                "applyClusterSettings's settings must be a ClusterSettings"))
        return self.callRemote("applyClusterSettings", settings).addCallback(
            _answerCheck(_requireNothing, "applyClusterSettings"))


class ClusterRoot(LinkRoot):
    """Publishes an ``ICluster`` (the cluster controller) to the CLC."""

    def __init__(self, cluster):
        if not ICluster.providedBy(cluster):
            raise TypeError("%r does not provide ICluster" % (cluster,))
        self.cluster = cluster

    def remote_describeResources(self):
        return self.answer("describeResources", self.cluster.describeResources)

    def remote_runInstances(self, specs):
        return self.answer("runInstances", lambda: self.cluster.runInstances(
            _requireList(specs, RunSpec, "runInstances' specs", allowEmpty=False)))

    def remote_describeInstances(self):
        return self.answer("describeInstances", self.cluster.describeInstances)

    def remote_terminateInstances(self, instanceIds):
        return self.answer("terminateInstances", lambda: self.cluster.terminateInstances(
            _requireIds(instanceIds, "terminateInstances' argument")))

    def remote_waitForChange(self, generation, timeout):
        return self.answer("waitForChange", self.cluster.waitForChange, generation, timeout)

    def remote_rebootInstances(self, instanceIds):
        return self.answer("rebootInstances", lambda: self.cluster.rebootInstances(
            _requireIds(instanceIds, "rebootInstances' argument")))

    def remote_getConsoleOutput(self, instanceId):
        return self.answer("getConsoleOutput", lambda: self.cluster.getConsoleOutput(
            _requireId(instanceId, "getConsoleOutput's argument")))

    def remote_applyNetworkPolicy(self, policy):
        return self.answer("applyNetworkPolicy", lambda: self.cluster.applyNetworkPolicy(
            _requireRecord(policy, NetworkPolicy, "applyNetworkPolicy's policy")))

    def remote_applyClusterSettings(self, settings):
        return self.answer("applyClusterSettings", lambda: self.cluster.applyClusterSettings(
            _requireRecord(settings, ClusterSettings, "applyClusterSettings's settings")))


# CC -> NC --------------------------------------------------------------------

@implementer(INode)
class NodeLink(LinkClient):
    """The CC's facade of one node controller (see ``INode``)."""

    def describeResource(self):
        return self.callRemote("describeResource").addCallback(
            _answerCheck(_requireRecord, NodeResources, "describeResource"))

    def runInstance(self, spec):
        return self.callRemote("runInstance", spec).addCallback(
            _answerCheck(_requireRecord, InstanceReport, "runInstance"))

    def describeInstances(self):
        return self.callRemote("describeInstances").addCallback(
            _answerCheck(_requireList, InstanceReport, "describeInstances"))

    def terminateInstance(self, instanceId):
        return self.callRemote("terminateInstance", instanceId).addCallback(
            _answerCheck(_requireRecord, Termination, "terminateInstance"))

    def waitForChange(self, generation, timeout):
        return self.callRemote("waitForChange", generation, timeout).addCallback(
            _answerCheck(_requireChange))

    def rebootInstance(self, instanceId):
        return self.callRemote("rebootInstance", instanceId).addCallback(
            _answerCheck(_requireRecord, InstanceReport, "rebootInstance"))

    def getConsoleOutput(self, instanceId):
        return self.callRemote("getConsoleOutput", instanceId).addCallback(
            _answerCheck(_requireRecord, ConsoleOutput, "getConsoleOutput"))

    def setFloodPeers(self, floodPeers):
        if not isinstance(floodPeers, FloodPeers):
            return defer.fail(_refused("setFloodPeers' argument must be a FloodPeers"))
        return self.callRemote("setFloodPeers", floodPeers).addCallback(
            _answerCheck(_requireNothing, "setFloodPeers"))


class NodeRoot(LinkRoot):
    """Publishes an ``INode`` (the node controller) to its CC."""

    def __init__(self, node):
        if not INode.providedBy(node):
            raise TypeError("%r does not provide INode" % (node,))
        self.node = node

    def remote_describeResource(self):
        return self.answer("describeResource", self.node.describeResource)

    def remote_runInstance(self, spec):
        return self.answer("runInstance", lambda: self.node.runInstance(
            _requireRecord(spec, RunSpec, "runInstance's spec")))

    def remote_describeInstances(self):
        return self.answer("describeInstances", self.node.describeInstances)

    def remote_terminateInstance(self, instanceId):
        return self.answer("terminateInstance", self.node.terminateInstance, instanceId)

    def remote_waitForChange(self, generation, timeout):
        return self.answer("waitForChange", self.node.waitForChange, generation, timeout)

    def remote_rebootInstance(self, instanceId):
        return self.answer("rebootInstance", lambda: self.node.rebootInstance(
            _requireId(instanceId, "rebootInstance's argument")))

    def remote_getConsoleOutput(self, instanceId):
        return self.answer("getConsoleOutput", lambda: self.node.getConsoleOutput(
            _requireId(instanceId, "getConsoleOutput's argument")))

    def remote_setFloodPeers(self, floodPeers):
        return self.answer("setFloodPeers", lambda: self.node.setFloodPeers(
            _requireRecord(floodPeers, FloodPeers, "setFloodPeers' argument")))
