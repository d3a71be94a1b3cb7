"""CreateKeyPair, ImportKeyPair, DeleteKeyPair and DescribeKeyPairs.

Key making and fingerprints are ``eucad.clc.sshkeys``'s; rows are
``eucad.clc.keypairstore``'s.  RSA key generation runs in the database
thread along with the insert, keeping the reactor free.
"""

from twisted.internet import defer

from eucad.clc import keypairstore, sshkeys
from eucad.clc.api import filters, params
from eucad.common.errors import CloudError

VERBOSE = "verbose"

KEY_PAIR_FILTERS = ("key-name", "fingerprint", "key-pair-id", "key-type")


def keyPairItem(record):
    return {"keyPairId": record["id"], "keyName": record["name"],
            "keyFingerprint": record["fingerprint"], "keyType": record["kind"]}


def _createAndStore(session, owner, name, kind, now):
    keypairstore.checkName(name)
    newKey = sshkeys.createKey(kind)
    record = keypairstore.addCreatedKey(session, owner, name, newKey, now)
    return record, newKey.privatePem


@defer.inlineCallbacks
def createKeyPair(call):
    p = call.params
    name = params.required(p, "KeyName")
    kind = params.optional(p, "KeyType", sshkeys.RSA)
    keyFormat = params.optional(p, "KeyFormat", "pem")
    if keyFormat != "pem":
        raise CloudError("InvalidParameterValue",
                         "Only the pem KeyFormat is supported")
    record, privatePem = yield call.cloud.db.run(
        _createAndStore, call.caller.name, name, kind, call.cloud.now())
    return dict(keyPairItem(record), keyMaterial=privatePem)


@defer.inlineCallbacks
def importKeyPair(call):
    p = call.params
    name = params.required(p, "KeyName")
    keypairstore.checkName(name)
    imported = sshkeys.importPublicKey(params.required(p, "PublicKeyMaterial"))
    record = yield call.cloud.db.run(keypairstore.addImportedKey, call.caller.name,
                                     name, imported, call.cloud.now())
    return keyPairItem(record)


@defer.inlineCallbacks
def deleteKeyPair(call):
    p = call.params
    keyPairId = params.optional(p, "KeyPairId")
    name = None if keyPairId else params.required(p, "KeyName")
    yield call.cloud.db.run(keypairstore.deleteKeyPair, call.caller.name, name,
                            keyPairId)
    return {"return": True}


def filterFields(record):
    return {"key-name": record["name"], "fingerprint": record["fingerprint"],
            "key-pair-id": record["id"], "key-type": record["kind"]}


@defer.inlineCallbacks
def describeKeyPairs(call):
    p = call.params
    names = params.listOf(p, "KeyName")
    seeAll = call.caller.isAdmin and VERBOSE in names
    names = [name for name in names if name != VERBOSE]
    keyPairIds = params.listOf(p, "KeyPairId")
    filterList = filters.parse(p, KEY_PAIR_FILTERS)
    records = yield call.cloud.db.run(keypairstore.listKeyPairs, call.caller.name,
                                      seeAll, names, keyPairIds)
    return {"keySet": [keyPairItem(record) for record in records
                       if filters.matches(filterList, filterFields(record))]}
