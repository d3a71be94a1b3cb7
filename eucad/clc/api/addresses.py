"""AllocateAddress, ReleaseAddress, AssociateAddress, DisassociateAddress and
DescribeAddresses: the public ("elastic") addresses of ``VNET_PUBLICIPS``.

Each user sees their own; the admin's ``PublicIp.1=verbose`` lists the whole
pool as Eucalyptus did, the ``instanceId`` of each address saying who holds
it: ``i-... (owner)``, ``available (owner)`` or ``nobody``.  Associations are
published on ``cloud.networkChanges`` once committed.
"""

from twisted.internet import defer

from eucad.clc import addressstore
from eucad.clc.api import filters, params
from eucad.clc.netchanges import AddressAssociated, AddressDisassociated

VERBOSE = "verbose"
STANDARD = "standard"

ADDRESS_FILTERS = ("public-ip", "instance-id", "domain")


def _publish(call, changes):
    records = []
    for change in changes:
        kind = (AddressAssociated if change["kind"] == addressstore.ASSOCIATE
                else AddressDisassociated)
        records.append(kind(change["publicIp"], change["instanceId"],
                            change["privateIp"], change["cluster"]))
    call.cloud.networkChanges.publish(records)


@defer.inlineCallbacks
def allocateAddress(call):
    publicIp = yield call.cloud.db.run(addressstore.allocate, call.caller.name,
                                       call.cloud.addressPool, call.cloud.now())
    return {"publicIp": publicIp, "domain": STANDARD}


@defer.inlineCallbacks
def releaseAddress(call):
    publicIp = params.required(call.params, "PublicIp")
    changes = yield call.cloud.db.run(addressstore.release, call.caller.name,
                                      call.caller.isAdmin, publicIp)
    _publish(call, changes)
    return {"return": True}


@defer.inlineCallbacks
def associateAddress(call):
    p = call.params
    changes = yield call.cloud.db.run(
        addressstore.associate, call.caller.name, call.caller.isAdmin,
        params.required(p, "PublicIp"), params.required(p, "InstanceId"))
    _publish(call, changes)
    return {"return": True}


@defer.inlineCallbacks
def disassociateAddress(call):
    publicIp = params.required(call.params, "PublicIp")
    changes = yield call.cloud.db.run(addressstore.disassociate, call.caller.name,
                                      call.caller.isAdmin, publicIp)
    _publish(call, changes)
    return {"return": True}


def _verboseItems(pool, records):
    """The whole pool, each address saying who holds it."""
    held = {record["publicIp"]: record for record in records}
    items = []
    for publicIp in list(pool.addresses) + [ip for ip in held if ip not in pool]:
        record = held.get(publicIp)
        if record is None:
            holder = "nobody"
        else:
            holder = "%s (%s)" % (record["instanceId"] or "available", record["owner"])
        items.append({"publicIp": publicIp, "domain": STANDARD, "instanceId": holder})
    return items


@defer.inlineCallbacks
def describeAddresses(call):
    p = call.params
    publicIps = params.listOf(p, "PublicIp")
    verbose = call.caller.isAdmin and VERBOSE in publicIps
    publicIps = [ip for ip in publicIps if ip != VERBOSE]
    filterList = filters.parse(p, ADDRESS_FILTERS, tagged=False)
    records = yield call.cloud.db.run(addressstore.listAddresses, call.caller.name,
                                      verbose, publicIps)
    if verbose and not publicIps and not filterList:
        return {"addressesSet": _verboseItems(call.cloud.addressPool, records)}
    return {"addressesSet": [
        {"publicIp": r["publicIp"], "domain": STANDARD, "instanceId": r["instanceId"]}
        for r in records if filters.matches(filterList, {
            "public-ip": r["publicIp"], "instance-id": r["instanceId"],
            "domain": STANDARD})]}
