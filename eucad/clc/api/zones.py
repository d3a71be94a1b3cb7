"""DescribeAvailabilityZones (one zone per cluster) and DescribeRegions.

``ZoneName.1=verbose`` from an admin gives the Eucalyptus status listing of
the guide's "Diagnostics" section: per zone, how many instances of each VM
type are free / fit at most, then one row per node in the guide's form,
``|- <node-host> certs[cc=true,nc=true] @ <last contact>``, that euca2ools and
scripts written for Eucalyptus parse: ``false`` for a certificate that did
not check out on the CC-NC link, ``never`` for a node not reached yet, and
the node's state after the date when it is not up.
"""

import time

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
    hosts = [node.host for node in resources.nodes]
    for node in resources.nodes:
        rows.append(zoneItem("|- %s" % (nodeLabel(node, hosts),), nodeStatus(node), region))
    return rows


def nodeLabel(node, hosts):
    """A node's host, with its port only where several NCs share that host."""
    if hosts.count(node.host) > 1:
        return "%s:%s" % (node.host, node.port)
    return node.host


def contactTime(seconds):
    """Epoch seconds as Eucalyptus printed them (Java's Date), in UTC."""
    if seconds is None:
        return "never"
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(seconds))


def nodeStatus(node):
    """``certs[cc=...,nc=...] @ <last contact>`` of a NodeStatus, then its state if not up."""
    status = "certs[cc=%s,nc=%s] @ %s" % (
        "true" if node.ccCertOk else "false", "true" if node.ncCertOk else "false",
        contactTime(node.lastSeen))
    if node.state != "up":
        status += " %s" % (node.state,)
    return status


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
