"""RunInstances, DescribeInstances and TerminateInstances.

Reads parameters, hands the work to ``eucad.clc.launcher`` and
``eucad.clc.termination`` (or the instance store), and shapes the rows as
EC2's ``reservationSet``/``instancesSet`` items.
"""

import base64
import binascii

from twisted.internet import defer

from eucad.clc import instancestore, termination
from eucad.clc.api import params
from eucad.clc.api.render import isoTime
from eucad.clc.launcher import DEFAULT_GROUP, LaunchRequest, Launcher
from eucad.clc.models import STATE_CODES
from eucad.clc.vmtypes import DEFAULT_INSTANCE_TYPE
from eucad.common.errors import CloudError

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
)


def stateItem(state):
    return {"code": STATE_CODES.get(state, 0), "name": state}


def groupItems(groups):
    return [{"groupId": name, "groupName": name} for name in groups]


def instanceItem(record, groups):
    """One ``instancesSet`` item (EC2's RunningInstancesItemType)."""
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
        "groupSet": groupItems(groups),
        "rootDeviceType": "instance-store",
        "blockDeviceMapping": [],
    }


def reservationItem(reservation, records):
    return {
        "reservationId": reservation["id"],
        "ownerId": reservation["owner"],
        "groupSet": groupItems(reservation["groups"]),
        "instancesSet": [instanceItem(r, reservation["groups"]) for r in records],
    }


def filterFields(reservation, record):
    return {
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
    if params.listOf(p, "SecurityGroupId"):
        raise CloudError("InvalidGroup.NotFound",
                         "The security group '%s' does not exist" % (
                             params.listOf(p, "SecurityGroupId")[0],))
    return LaunchRequest(
        owner=call.caller.name, isAdmin=call.caller.isAdmin, imageId=imageId,
        minCount=minCount, maxCount=maxCount,
        vmType=params.optional(p, "InstanceType", DEFAULT_INSTANCE_TYPE),
        kernelId=params.optional(p, "KernelId"),
        ramdiskId=params.optional(p, "RamdiskId"),
        keyName=params.optional(p, "KeyName"),
        userData=decodeUserData(params.optional(p, "UserData")),
        zone=params.optional(p, "Placement.AvailabilityZone"),
        groups=params.listOf(p, "SecurityGroup") or [DEFAULT_GROUP])


@defer.inlineCallbacks
def runInstances(call):
    request = launchRequestFrom(call)
    reservation, records = yield Launcher(call.cloud).launch(request)
    item = reservationItem(reservation, records)
    return item


@defer.inlineCallbacks
def describeInstances(call):
    p = call.params
    instanceIds = params.listOf(p, "InstanceId")
    verbose = VERBOSE in instanceIds
    instanceIds = [i for i in instanceIds if i != VERBOSE]
    filterList = params.filters(p, INSTANCE_FILTERS)
    # An admin sees only their own instances unless they ask for more: by
    # "verbose" (every user's) or by naming instances.
    seeAll = call.caller.isAdmin and (verbose or bool(instanceIds))
    groups = yield call.cloud.db.run(instancestore.listInstances, call.caller.name,
                                     seeAll, instanceIds, call.cloud.now())
    reservations = []
    for reservation, records in groups:
        kept = [r for r in records if params.matches(filterList,
                                                     filterFields(reservation, r))]
        if kept:
            reservations.append(reservationItem(reservation, kept))
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
