"""The TerminateInstances flow: mark, ask each cluster, record what it said.

Instances move to shutting-down in the DB first, so the user's intent is
kept even if a cluster is unreachable: the poller then sees a live instance
the CLC wants gone and asks again (``instancestore.applyClusterReport``).
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.clc import instancestore
from eucad.common.errors import CloudError

log = Logger()


@defer.inlineCallbacks
def terminate(cloud, owner, isAdmin, instanceIds):
    """
    @return: Deferred firing with ``[{"instanceId", "previousState",
        "currentState"}]`` in the order asked.
    """
    previous, byCluster = yield cloud.db.run(
        instancestore.beginTermination, owner, isAdmin, instanceIds, cloud.now())
    for zone, zoneIds in byCluster.items():
        if zone not in cloud.clusters:
            log.warn("instances {ids} are in unknown cluster {zone}",
                     ids=" ".join(zoneIds), zone=zone)
            continue
        try:
            results = yield cloud.clusters[zone].terminateInstances(zoneIds)
        except CloudError as e:
            log.warn("could not terminate {ids} in {zone} now ({error}); the "
                     "poller will retry", ids=" ".join(zoneIds), zone=zone, error=e)
            continue
        yield cloud.db.run(instancestore.applyTerminations, results, cloud.now())
    current = yield cloud.db.run(instancestore.currentStates, list(previous))
    return [{"instanceId": instanceId, "previousState": previous[instanceId],
             "currentState": current[instanceId]} for instanceId in instanceIds
            if instanceId in previous]
