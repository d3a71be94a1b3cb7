"""RunInstances, DescribeInstances, TerminateInstances, RebootInstances, GetConsoleOutput.

Reads parameters, hands the work to ``eucad.clc.launcher`` and
``eucad.clc.termination`` (or the instance store), and shapes the rows as
EC2's ``reservationSet``/``instancesSet`` items.
"""

import base64
import binascii

from twisted.internet import defer

from eucad.clc import (addressstore, clienttokens, groupstore, instancestore,
                       keypairstore, tagstore, termination)
from eucad.clc.api import filters, params
from eucad.clc.api.render import FragmentCache, isoTime
from eucad.clc.launcher import DEFAULT_GROUP, LaunchRequest, Launcher
from eucad.clc.models import STATE_CODES
from eucad.clc.vmtypes import DEFAULT_INSTANCE_TYPE
from eucad.common.errors import CloudError
from eucad.common.records import ConsoleOutput

#: Most instances one RunInstances may ask for.
MAX_LAUNCH = 256

#: EC2's limit on user data, after base64 decoding.
MAX_USER_DATA_BYTES = 16384

#: The admin's word for "everybody's instances" (``euca-describe-instances verbose``).
VERBOSE = "verbose"

INSTANCE_FILTERS = (
    "instance-id", "instance-state-name", "instance-state-code", "reservation-id",
    "image-id", "kernel-id", "ramdisk-id", "availability-zone", "instance-type",
    "key-name", "private-ip-address", "ip-address", "owner-id", "launch-index",
    "group-name", "group-id", "instance.group-name", "instance.group-id",
    "dns-name", "private-dns-name", "reason", "root-device-type", "tenancy",
    "monitoring-state",
)


def stateItem(state):
    return {"code": STATE_CODES.get(state, 0), "name": state}


def groupItems(groups, groupIds=None):
    """``groupSet`` items; ``groupIds`` maps names to ``sg-`` ids."""
    groupIds = groupIds or {}
    return [{"groupId": groupIds.get(name, name), "groupName": name}
            for name in groups]


def instanceItem(record, groups, groupIds=None, tags=None, publicIp=None):
    """
    One ``instancesSet`` item (EC2's RunningInstancesItemType); an associated
    address (``publicIp``) shows instead of the one the cluster reports.
    """
    record = dict(record, publicIp=publicIp or record["publicIp"])
    return {
        "instanceId": record["id"],
        "imageId": record["imageId"],
        "instanceState": stateItem(record["state"]),
        # No DNS: as Eucalyptus did, the names are the addresses.
        "privateDnsName": record["privateIp"] or "",
        "dnsName": record["publicIp"] or "",
        "reason": record["reason"] or "",
        "keyName": record["keyName"],
        "amiLaunchIndex": record["launchIndex"],
        "productCodes": [],
        "instanceType": record["vmType"],
        "launchTime": isoTime(record["launchTime"]),
        "placement": {"availabilityZone": record["cluster"], "tenancy": "default"},
        "kernelId": record["kernelId"],
        "ramdiskId": record["ramdiskId"],
        "monitoring": {"state": "disabled"},
        "privateIpAddress": record["privateIp"],
        "ipAddress": record["publicIp"],
        "groupSet": groupItems(groups, groupIds),
        "rootDeviceType": "instance-store",
        "blockDeviceMapping": [],
        "tagSet": filters.tagSet(tags) if tags else None,
    }


#: Written ``instancesSet`` and ``reservationSet`` items, by everything they
#: show (see FragmentCache).
_WRITTEN_ITEMS = FragmentCache(20000)
_WRITTEN_RESERVATIONS = FragmentCache(20000)


def writtenInstanceItem(record, groups, groupIds=None, tags=None, publicIp=None):
    """``instanceItem`` as XML, written once per distinct content."""
    key = (tuple(record.items()), tuple(groups),
           tuple((groupIds or {}).get(name) for name in groups),
           tuple(sorted(tags.items())) if tags else None, publicIp)
    return _WRITTEN_ITEMS.get(key, "item", lambda: instanceItem(
        record, groups, groupIds, tags, publicIp))


def reservationItem(reservation, records, groupIds=None, tags=None, addresses=None):
    """
    One ``reservationSet`` item; ``groupIds``, ``tags`` (by instance id) and
    ``addresses`` (associated public address by instance id) come from their
    stores when the caller has them.
    """
    tags, addresses = tags or {}, addresses or {}
    return {
        "reservationId": reservation["id"],
        "ownerId": reservation["owner"],
        "groupSet": groupItems(reservation["groups"], groupIds),
        "instancesSet": [writtenInstanceItem(r, reservation["groups"], groupIds,
                                             tags.get(r["id"]), addresses.get(r["id"]))
                         for r in records],
    }


def writtenReservationItem(reservation, records, groupIds, tags, addresses):
    """``reservationItem`` as XML, written once per distinct content."""
    groups = reservation["groups"]
    items = [writtenInstanceItem(r, groups, groupIds, tags.get(r["id"]),
                                 addresses.get(r["id"])) for r in records]
    key = (reservation["id"], reservation["owner"], tuple(groups),
           tuple(groupIds.get(name) for name in groups), tuple(items))
    return _WRITTEN_RESERVATIONS.get(key, "item", lambda: {
        "reservationId": reservation["id"], "ownerId": reservation["owner"],
        "groupSet": groupItems(groups, groupIds), "instancesSet": items})


def filterFields(reservation, record, groupIds=None):
    groupIds = groupIds or {}
    names = reservation["groups"]
    ids = [groupIds.get(name, name) for name in names]
    return {
        "group-name": names, "instance.group-name": names,
        "group-id": ids, "instance.group-id": ids,
        "dns-name": record["publicIp"], "private-dns-name": record["privateIp"],
        "reason": record["reason"], "root-device-type": "instance-store",
        "tenancy": "default", "monitoring-state": "disabled",
        "instance-id": record["id"], "instance-state-name": record["state"],
        "instance-state-code": STATE_CODES.get(record["state"]),
        "reservation-id": reservation["id"], "image-id": record["imageId"],
        "kernel-id": record["kernelId"], "ramdisk-id": record["ramdiskId"],
        "availability-zone": record["cluster"], "instance-type": record["vmType"],
        "key-name": record["keyName"], "private-ip-address": record["privateIp"],
        "ip-address": record["publicIp"], "owner-id": record["owner"],
        "launch-index": record["launchIndex"],
    }


def decodeUserData(raw):
    """Check that UserData is base64 within EC2's size; keep it encoded."""
    if raw is None:
        return None
    compact = "".join(raw.split())
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CloudError("InvalidParameterValue", "Invalid BASE64 encoding of user data")
    if len(decoded) > MAX_USER_DATA_BYTES:
        raise CloudError("InvalidParameterValue",
                         "User data is limited to %d bytes" % (MAX_USER_DATA_BYTES,))
    return compact


def launchRequestFrom(call):
    p = call.params
    imageId = params.required(p, "ImageId")
    minCount = params.integer(p, "MinCount", 1, minimum=1, maximum=MAX_LAUNCH)
    maxCount = params.integer(p, "MaxCount", minCount, minimum=1, maximum=MAX_LAUNCH)
    if minCount > maxCount:
        raise CloudError("InvalidParameterValue",
                         "MinCount (%d) is larger than MaxCount (%d)" % (minCount, maxCount))
    # Names and sg- ids together: the launcher's group resolution tells them
    # apart (no group name looks like an id).
    groups = params.listOf(p, "SecurityGroup") + params.listOf(p, "SecurityGroupId")
    return LaunchRequest(
        owner=call.caller.name, isAdmin=call.caller.isAdmin, imageId=imageId,
        minCount=minCount, maxCount=maxCount,
        vmType=params.optional(p, "InstanceType", DEFAULT_INSTANCE_TYPE),
        kernelId=params.optional(p, "KernelId"),
        ramdiskId=params.optional(p, "RamdiskId"),
        keyName=params.optional(p, "KeyName"),
        userData=decodeUserData(params.optional(p, "UserData")),
        zone=params.optional(p, "Placement.AvailabilityZone"),
        groups=groups or [DEFAULT_GROUP])


def _launchView(session, owner, groups, instanceIds):
    """Group ids, tags and addresses of a reservation's instances."""
    groupIds = {name: groupId for (_, name), groupId in groupstore.groupIdsByName(
        session, [(owner, name) for name in groups]).items()}
    return groupIds, tagstore.tagsOf(session, [(owner, i) for i in instanceIds]), \
        addressstore.addressesOf(session, set(instanceIds), owner)


@defer.inlineCallbacks
def _launch(call, request):
    """Launch, then keep the key pair's public key on the instance rows."""
    keyData = None
    if request.keyName:
        keyData = yield call.cloud.db.run(keypairstore.publicKeyOf, request.owner,
                                          request.keyName)
    reservation, records = yield Launcher(call.cloud).launch(request)
    if keyData is not None:
        yield call.cloud.db.run(instancestore.recordKeyData,
                                [r["id"] for r in records], keyData)
    return reservation, records


@defer.inlineCallbacks
def runInstances(call):
    request = launchRequestFrom(call)
    token = params.optional(call.params, "ClientToken")
    if token is None:
        reservation, records = yield _launch(call, request)
    else:
        reservation, records = yield call.cloud.clientTokens.launchOnce(
            call.cloud, request.owner, token, clienttokens.paramsDigest(call.params),
            lambda: _launch(call, request))
    groupIds, tags, addresses = yield call.cloud.db.run(
        _launchView, reservation["owner"], reservation["groups"],
        [r["id"] for r in records])
    return reservationItem(reservation, records, groupIds, tags, addresses)


def _describe(session, owner, seeAll, instanceIds, now):
    """Visible reservations plus the group ids, tags and addresses they show."""
    groups = instancestore.listInstances(session, owner, seeAll, instanceIds, now)
    groupIds = groupstore.groupIdsByName(session, [
        (reservation["owner"], name) for reservation, _ in groups
        for name in reservation["groups"]])
    if not seeAll:
        tags = tagstore.tagsOfOwner(session, owner)
        addresses = addressstore.addressesOf(session, owner=owner)
    else:
        tags = tagstore.tagsOf(session, [(r["owner"], r["id"]) for _, records in groups
                                         for r in records])
        addresses = addressstore.addressesOf(session)
    return groups, groupIds, tags, addresses


@defer.inlineCallbacks
def describeInstances(call):
    p = call.params
    instanceIds = params.listOf(p, "InstanceId")
    verbose = VERBOSE in instanceIds
    instanceIds = [i for i in instanceIds if i != VERBOSE]
    filterList = filters.parse(p, INSTANCE_FILTERS)
    # An admin sees only their own instances unless they ask for more: by
    # "verbose" (every user's) or by naming instances.
    seeAll = call.caller.isAdmin and (verbose or bool(instanceIds))
    groups, allGroupIds, tags, addresses = yield call.cloud.db.run(
        _describe, call.caller.name, seeAll, instanceIds, call.cloud.now())
    reservations = []
    for reservation, records in groups:
        groupIds = {name: allGroupIds[(reservation["owner"], name)]
                    for name in reservation["groups"]
                    if (reservation["owner"], name) in allGroupIds}
        kept = []
        for record in records:
            if record["id"] in addresses:
                record = dict(record, publicIp=addresses[record["id"]])
            if not filterList or filters.matches(
                    filterList, filterFields(reservation, record, groupIds),
                    tags.get(record["id"], {})):
                kept.append(record)
        if kept:
            reservations.append(writtenReservationItem(reservation, kept, groupIds,
                                                       tags, addresses))
    return {"reservationSet": reservations}


@defer.inlineCallbacks
def terminateInstances(call):
    instanceIds = list(dict.fromkeys(params.listOf(call.params, "InstanceId")))
    if not instanceIds:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter InstanceId")
    results = yield termination.terminate(call.cloud, call.caller.name,
                                          call.caller.isAdmin, instanceIds)
    return {"instancesSet": [{
        "instanceId": result["instanceId"],
        "currentState": stateItem(result["currentState"]),
        "previousState": stateItem(result["previousState"]),
    } for result in results]}


def _clusterOf(call, zone):
    if zone not in call.cloud.clusters:
        raise CloudError("Unavailable", "the cluster %s is not reachable" % (zone,), 503)
    return call.cloud.clusters[zone]


@defer.inlineCallbacks
def rebootInstances(call):
    """
    Reboot the caller's instances in place (their clusters restart each
    domain with its disks); every id is checked before any is rebooted.
    """
    instanceIds = list(dict.fromkeys(params.listOf(call.params, "InstanceId")))
    if not instanceIds:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter InstanceId")
    byCluster = yield call.cloud.db.run(
        instancestore.liveInstancesByCluster, call.caller.name, call.caller.isAdmin,
        instanceIds, call.cloud.now())
    clusters = {zone: _clusterOf(call, zone) for zone in byCluster}
    yield defer.gatherResults([clusters[zone].rebootInstances(zoneIds)
                               for zone, zoneIds in byCluster.items()],
                              consumeErrors=True).addErrback(
        lambda failure: failure.value.subFailure)
    return {"return": True}


@defer.inlineCallbacks
def getConsoleOutput(call):
    """The base64 of the last 64 KiB of one of the caller's instances' console."""
    instanceId = params.required(call.params, "InstanceId")
    byCluster = yield call.cloud.db.run(
        instancestore.liveInstancesByCluster, call.caller.name, call.caller.isAdmin,
        [instanceId], call.cloud.now())
    (zone,) = byCluster
    console = yield _clusterOf(call, zone).getConsoleOutput(instanceId)
    if not isinstance(console, ConsoleOutput) or console.instanceId != instanceId:
        raise CloudError("InternalError", "the cluster answered badly", 500)
    return {"instanceId": instanceId, "timestamp": isoTime(console.timestamp),
            "output": console.output}
