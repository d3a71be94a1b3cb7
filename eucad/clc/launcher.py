"""The RunInstances flow: validate, choose a zone, reserve ids, ask the cluster.

Everything a launch needs is checked before any cluster is asked, and the
launch's ``RunSpec``s (``eucad.common.records``) are made here, once, in the
shape they keep down to the node's domain XML; ids are
reserved in the DB (rows in flight, ``placedAt`` None) before the cluster
starts anything; if the cluster refuses or cannot be reached the rows are
removed and the cluster is told to drop whatever it may have started, so a
failed launch leaves nothing behind.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.clc import groupstore, imagestore, instancestore, keypairstore, scheduler
from eucad.clc.netchanges import InstancesPlaced
from eucad.clc.vmtypes import findVmType
from eucad.common import cloudsettings
from eucad.common.errors import CloudError
from eucad.common.records import ImageRef, NetworkSpec, RunSpec, VmType

log = Logger()

#: Seconds a cluster may take to accept a launch (it may fetch images first).
RUN_TIMEOUT_SECONDS = 600.0

#: The only group until security groups exist (issue: groups).
DEFAULT_GROUP = "default"


class LaunchRequest:
    """
    A validated-in-shape RunInstances request (types checked by the API);
    ``vmType`` is the name EC2 calls ``InstanceType``.
    """

    def __init__(self, owner, isAdmin, imageId, minCount=1, maxCount=1,
                 vmType="m1.small", kernelId=None, ramdiskId=None,
                 keyName=None, userData=None, zone=None, groups=(DEFAULT_GROUP,)):
        self.owner = owner
        self.isAdmin = isAdmin
        self.imageId = imageId
        self.minCount = minCount
        self.maxCount = maxCount
        self.vmType = vmType
        self.kernelId = kernelId
        self.ramdiskId = ramdiskId
        self.keyName = keyName
        self.userData = userData
        self.zone = zone
        self.groups = list(groups) or [DEFAULT_GROUP]


def resolveKeyPair(session, owner, keyName):
    """The OpenSSH public key of ``owner``'s key pair ``keyName``."""
    return keypairstore.publicKeyOf(session, owner, keyName)


def resolveGroups(session, owner, names):
    """
    The group names of a launch from names and ``sg-`` ids (``owner``'s
    ``default`` group is made on first use).
    """
    return groupstore.resolveLaunchGroups(session, owner, names)


def defaultImage(session, key):
    """
    The administrator's default kernel or ramdisk (``key``), for a launch
    whose request and image name none: set on the configuration page
    (``cloud_settings``), read at each launch; None when unset.
    """
    return cloudsettings.setting(session, None, key) or None


def validateLaunch(session, request, deliveryUrl=None):
    """
    Everything the launch needs from the DB, or the first reason it cannot
    run: ``{"image", "kernel", "ramdisk"}`` as ``ImageRef`` (or None),
    ``vmType`` a ``VmType``, ``keyData`` and ``groups``.  Images from
    bundles are fetched by the nodes at ``deliveryUrl(imageId)``.
    """
    def imageRef(imageId, kind):
        row = imagestore.findImage(session, imageId, kind, request.owner, request.isAdmin)
        if not row.location.startswith("/") and deliveryUrl is None:
            raise CloudError("InvalidAMIID.Unavailable",
                             "The image %s cannot be delivered to the nodes: this "
                             "cloud serves no images (WALRUS_IMAGE_PORT)" % (imageId,))
        return row, ImageRef.fromDict(row.linkShape(deliveryUrl))
    machine, image = imageRef(request.imageId, "machine")
    kernelId = request.kernelId or machine.kernelId or defaultImage(session, "DEFAULT_KERNEL")
    ramdiskId = (request.ramdiskId or machine.ramdiskId
                 or defaultImage(session, "DEFAULT_RAMDISK"))
    kernel = imageRef(kernelId, "kernel")[1] if kernelId else None
    ramdisk = imageRef(ramdiskId, "ramdisk")[1] if ramdiskId else None
    vmType = findVmType(session, request.vmType)
    if vmType is None:
        raise CloudError("InvalidParameterValue",
                         "Invalid value '%s' for InstanceType" % (request.vmType,))
    keyData = None
    if request.keyName:
        keyData = resolveKeyPair(session, request.owner, request.keyName)
    groups = resolveGroups(session, request.owner, request.groups)
    return {"image": image, "kernel": kernel, "ramdisk": ramdisk,
            "vmType": VmType.fromDict(vmType), "keyData": keyData, "groups": groups}


def buildSpecs(request, validated, reservationId, instanceIds):
    """The ``RunSpec``s of one reservation (``ICluster.runInstances``)."""
    network = NetworkSpec(owner=request.owner, group=validated["groups"][0])
    return [RunSpec(
        instanceId=instanceId, reservationId=reservationId, owner=request.owner,
        image=validated["image"], kernel=validated["kernel"],
        ramdisk=validated["ramdisk"], vmType=validated["vmType"],
        keyName=request.keyName, keyData=validated["keyData"],
        userData=request.userData, launchIndex=index, network=network,
    ) for index, instanceId in enumerate(instanceIds)]


class Launcher:
    """Runs launches against a ``Cloud`` (its db, clusters and clock)."""

    def __init__(self, cloud, runTimeout=RUN_TIMEOUT_SECONDS):
        self.cloud = cloud
        self.runTimeout = runTimeout

    @defer.inlineCallbacks
    def launch(self, request):
        """
        @return: Deferred firing with ``(reservation record, [instance
            records])`` of the new, pending instances.
        """
        cloud = self.cloud
        if request.zone is not None and request.zone not in cloud.clusters:
            raise CloudError("InvalidParameterValue",
                             "Invalid availability zone: [%s]" % (request.zone,))
        validated = yield cloud.db.run(validateLaunch, request, cloud.imageDelivery)
        names = [request.zone] if request.zone else None
        answers = yield cloud.clusters.describeResources(names)
        for zone, answer in answers.items():
            if isinstance(answer, Exception):
                log.warn("cluster {zone} did not report resources: {error}",
                         zone=zone, error=answer)
        zone, count = scheduler.chooseZone(answers, validated["vmType"],
                                           request.minCount, request.maxCount,
                                           request.zone)
        template = {"imageId": validated["image"].id,
                    "kernelId": validated["kernel"].id if validated["kernel"] else None,
                    "ramdiskId": validated["ramdisk"].id if validated["ramdisk"] else None,
                    "vmType": validated["vmType"].name, "keyName": request.keyName,
                    "userData": request.userData, "groups": validated["groups"]}
        reservationId, instanceIds = yield cloud.db.run(
            instancestore.reserveInstances, request.owner, zone, count, template,
            cloud.now())
        specs = buildSpecs(request, validated, reservationId, instanceIds)
        # The cluster enforces only the groups in use there: it gets these now.
        cloud.networkChanges.publish([InstancesPlaced(zone, instanceIds)])
        try:
            reports = yield cloud.clusters[zone].runInstances(specs, timeout=self.runTimeout)
            yield cloud.db.run(instancestore.recordPlacement, reports, cloud.now())
        except Exception as error:
            yield self._undo(zone, reservationId, instanceIds, error)
            raise error
        log.info("{owner} launched {ids} in {zone} ({reservation})",
                 owner=request.owner, ids=" ".join(instanceIds), zone=zone,
                 reservation=reservationId)
        view = yield cloud.db.run(instancestore.reservationView, reservationId)
        return view

    @defer.inlineCallbacks
    def _undo(self, zone, reservationId, instanceIds, error):
        """Remove a failed launch's rows and anything the cluster may have started."""
        log.warn("launch {reservation} in {zone} failed: {error}",
                 reservation=reservationId, zone=zone, error=error)
        try:
            yield self.cloud.db.run(instancestore.discardReservation, reservationId)
        except Exception:
            log.failure("could not discard reservation {r}", r=reservationId)
        # All or none is the cluster's promise for a refusal; after any other
        # failure (lost reply, timeout) the instances may exist there.
        if getattr(error, "code", None) != "InsufficientInstanceCapacity":
            try:
                yield self.cloud.clusters[zone].terminateInstances(instanceIds)
            except CloudError as e:
                log.warn("could not clean up {ids} in {zone}: {error}; the poller "
                         "will", ids=" ".join(instanceIds), zone=zone, error=e)
