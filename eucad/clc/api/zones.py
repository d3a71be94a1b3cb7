"""DescribeAvailabilityZones (one zone per cluster) and DescribeRegions.

``ZoneName.1=verbose`` from an admin gives the Eucalyptus status listing of
the guide's "Diagnostics" section: per zone, how many instances of each VM
type are free / fit at most, and each node's state and free resources.
"""

from twisted.internet import defer

from eucad.clc import scheduler
from eucad.clc.api import params
from eucad.clc.vmtypes import listVmTypes
from eucad.common.errors import CloudError

VERBOSE = "verbose"

#: Seconds a cluster may take to report its resources for this listing.
ZONE_TIMEOUT_SECONDS = 10.0


def zoneItem(name, state, region):
    return {"zoneName": name, "zoneState": state, "regionName": region,
            "messageSet": []}


def verboseRows(entry, resources, vmtypes, region):
    """The guide's ``|- ...`` rows under one zone."""
    rows = [zoneItem("|- vm types", "free / max   cpu   ram  disk", region)]
    for vmtype in vmtypes:
        rows.append(zoneItem("|- %s" % (vmtype["name"],), "%04d / %04d %4d %5d %5d" % (
            scheduler.freeFor(resources, vmtype), scheduler.maxFor(resources, vmtype),
            vmtype["cpu"], vmtype["ram"], vmtype["disk"]), region))
    for node in resources.nodes:
        # Several nodes may share a host (one NC per port), so name both.
        name = node.get("host")
        if node.get("port"):
            name = "%s:%s" % (name, node["port"])
        rows.append(zoneItem("|- %s" % (name,),
                             "%s cpu %s/%s ram %s/%s disk %s/%s" % (
                                 node.get("state"), node.get("freeCpu"), node.get("cpu"),
                                 node.get("freeRam"), node.get("ram"),
                                 node.get("freeDisk"), node.get("disk")), region))
    return rows


@defer.inlineCallbacks
def describeAvailabilityZones(call):
    cloud = call.cloud
    names = params.listOf(call.params, "ZoneName")
    verbose = VERBOSE in names and call.caller.isAdmin
    names = [name for name in names if name != VERBOSE]
    for name in names:
        if name not in cloud.clusters:
            raise CloudError("InvalidParameterValue",
                             "Invalid availability zone: [%s]" % (name,))
    names = names or cloud.clusters.names()
    answers = yield cloud.clusters.describeResources(names, timeout=ZONE_TIMEOUT_SECONDS)
    vmtypes = (yield cloud.db.run(listVmTypes)) if verbose else []
    items = []
    for name in names:
        answer = answers[name]
        reachable = not isinstance(answer, Exception)
        if not verbose:
            items.append(zoneItem(name, "available" if reachable else "unavailable",
                                  cloud.regionName))
            continue
        entry = cloud.clusters[name]
        items.append(zoneItem(name, entry.host, cloud.regionName))
        if reachable:
            items.extend(verboseRows(entry, answer, vmtypes, cloud.regionName))
        else:
            items.append(zoneItem("|- unavailable", str(answer), cloud.regionName))
    return {"availabilityZoneInfo": items}


def describeRegions(call):
    cloud = call.cloud
    for name in params.listOf(call.params, "RegionName"):
        if name != cloud.regionName:
            raise CloudError("InvalidParameterValue", "Invalid region: %s" % (name,))
    return {"regionInfo": [{"regionName": cloud.regionName,
                            "regionEndpoint": cloud.endpoint}]}
