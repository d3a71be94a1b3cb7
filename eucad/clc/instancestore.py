"""Instance and reservation rows: what the launch, terminate and poll flows write.

Every function takes a SQLAlchemy session and runs inside ``Database.run``
(a pool thread); what it returns is plain data.  States only move forward
(``models.laterState``) so that reports arriving out of order cannot bring a
terminated instance back.
"""

from sqlalchemy import select

from eucad.clc import ids
from eucad.clc.models import (LIVE_STATES, PENDING, SHUTTING_DOWN, TERMINATED,
                              Instance, Reservation, laterState)
from eucad.common.errors import CloudError

#: How long terminated instances still show in DescribeInstances (as EC2).
TERMINATED_VISIBLE_SECONDS = 3600

#: Fields of a cluster's instance report copied into the row when present.
_REPORTED_FIELDS = ("privateIp", "publicIp", "macAddress", "node")

#: What a cluster says for an address it does not know yet.
UNKNOWN_ADDRESS = "0.0.0.0"


def checkInstanceIds(instanceIds):
    for instanceId in instanceIds:
        if not ids.isId(instanceId, ids.INSTANCE):
            raise CloudError("InvalidInstanceID.Malformed",
                             "Invalid id: \"%s\"" % (instanceId,))


def reservationRecord(reservation):
    return {"id": reservation.id, "owner": reservation.owner,
            "cluster": reservation.cluster,
            "groups": reservation.groups.split(), "created": reservation.created}


def reserveInstances(session, owner, cluster, count, template, now):
    """
    Insert a reservation and ``count`` pending instance rows for a launch in
    flight (``placedAt`` None) and return ``(reservationId, [instanceId])``.

    @param template: imageId, kernelId, ramdiskId, vmType, keyName, userData,
        groups (list of names) shared by the instances.
    """
    reservation = Reservation(
        id=ids.newUniqueId(session, Reservation, ids.RESERVATION), owner=owner,
        cluster=cluster, groups=" ".join(template["groups"]), created=now)
    session.add(reservation)
    instanceIds = []
    for index in range(count):
        instanceId = ids.newUniqueId(session, Instance, ids.INSTANCE, instanceIds)
        instanceIds.append(instanceId)
        session.add(Instance(
            id=instanceId, reservationId=reservation.id, owner=owner,
            imageId=template["imageId"], kernelId=template["kernelId"],
            ramdiskId=template["ramdiskId"], vmType=template["vmType"],
            state=PENDING, cluster=cluster, launchTime=now, launchIndex=index,
            keyName=template["keyName"], userData=template["userData"],
            reason="", stateChanged=now, placedAt=None))
    session.flush()
    return reservation.id, instanceIds


def recordKeyData(session, instanceIds, keyData):
    """Keep the public key a launch resolved on its instance rows."""
    for instanceId in instanceIds:
        row = session.get(Instance, instanceId)
        if row is not None:
            row.keyData = keyData
    session.flush()


def _applyReport(row, report, now):
    """Copy a cluster's view of one instance into its row."""
    for field in _REPORTED_FIELDS:
        value = report.get(field)
        if value and value != UNKNOWN_ADDRESS:
            setattr(row, field, value)
    state = laterState(row.state, report.get("state"))
    if state != row.state:
        row.state = state
        row.stateChanged = now
        if state == TERMINATED and not row.reason and report.get("reason"):
            row.reason = report["reason"]


def recordPlacement(session, reports, now):
    """A cluster started these instances: mark them placed and copy what it said."""
    for report in reports:
        row = session.get(Instance, report["instanceId"])
        if row is None:
            continue
        row.placedAt = now
        if report.get("launchTime"):
            row.launchTime = float(report["launchTime"])
        _applyReport(row, report, now)
    session.flush()


def discardReservation(session, reservationId):
    """Remove a launch that failed, leaving no trace of it."""
    for row in session.scalars(select(Instance).where(
            Instance.reservationId == reservationId)):
        session.delete(row)
    reservation = session.get(Reservation, reservationId)
    if reservation is not None:
        session.delete(reservation)
    session.flush()


def reservationView(session, reservationId):
    """``(reservation record, [instance records])`` of one reservation."""
    reservation = session.get(Reservation, reservationId)
    rows = session.scalars(select(Instance).where(
        Instance.reservationId == reservationId).order_by(Instance.launchIndex))
    return reservationRecord(reservation), [row.record() for row in rows]


def _visible(row, owner, isAdmin, now):
    if not (isAdmin or row.owner == owner):
        return False
    return not (row.state == TERMINATED
                and row.stateChanged < now - TERMINATED_VISIBLE_SECONDS)


def _visibleRecord(record, owner, isAdmin, now):
    """``_visible`` for a plain record (listings read rows without the ORM)."""
    if not (isAdmin or record["owner"] == owner):
        return False
    return not (record["state"] == TERMINATED
                and record["stateChanged"] < now - TERMINATED_VISIBLE_SECONDS)


#: The columns a listing shows (not user data, key data or node details).
LISTED_COLUMNS = (
    "id", "reservationId", "owner", "imageId", "kernelId", "ramdiskId", "vmType",
    "state", "privateIp", "publicIp", "cluster", "launchTime", "launchIndex",
    "keyName", "reason", "stateChanged")


def listInstances(session, owner, isAdmin, instanceIds, now):
    """
    The instances ``owner`` may see (all of them for an admin) grouped by
    reservation: ``[(reservation record, [instance records])]``, oldest first.
    Naming an id that is not visible raises InvalidInstanceID.NotFound.
    """
    checkInstanceIds(instanceIds)
    # Plain rows of one joined query, not ORM objects: a listing of
    # thousands of instances is the CLC's busiest query (clients poll it),
    # and the ORM's per-object cost, then a second query for the
    # reservations, dominated it.
    table, reservation = Instance.__table__, Reservation.__table__
    query = select(*[table.c[name] for name in LISTED_COLUMNS],
                   reservation.c.owner, reservation.c.cluster, reservation.c.groups,
                   reservation.c.created).join(
        reservation, reservation.c.id == table.c.reservationId).order_by(
        table.c.launchTime, table.c.reservationId, table.c.launchIndex)
    if not isAdmin:
        query = query.where(table.c.owner == owner)
    if instanceIds:
        query = query.where(table.c.id.in_(list(instanceIds)))
    count = len(LISTED_COLUMNS)
    records, reservations = [], {}
    for row in session.execute(query).all():
        record = dict(zip(LISTED_COLUMNS, row[:count]))
        if not _visibleRecord(record, owner, isAdmin, now):
            continue
        records.append(record)
        if record["reservationId"] not in reservations:
            resOwner, resCluster, resGroups, created = row[count:]
            reservations[record["reservationId"]] = {
                "id": record["reservationId"], "owner": resOwner, "cluster": resCluster,
                "groups": resGroups.split(), "created": created}
    if instanceIds:
        found = {r["id"] for r in records}
        missing = [i for i in instanceIds if i not in found]
        if missing:
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance IDs '%s' do not exist" % (
                                 ", ".join(missing),))
    grouped = {}
    for record in records:
        grouped.setdefault(record["reservationId"], []).append(record)
    return [(reservations[reservationId], records)
            for reservationId, records in grouped.items()]


def beginTermination(session, owner, isAdmin, instanceIds, now):
    """
    Move the named instances to shutting-down (all of them or, if one is not
    the caller's, none) and say what to ask of which cluster.

    @return: ``(previous, byCluster)``: previous state per id, and the ids
        each cluster must terminate.
    """
    checkInstanceIds(instanceIds)
    rows = {}
    for instanceId in instanceIds:
        row = session.get(Instance, instanceId)
        if row is None or not _visible(row, owner, isAdmin, now):
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        rows[instanceId] = row
    previous, byCluster = {}, {}
    for instanceId, row in rows.items():
        previous[instanceId] = row.state
        if row.state == TERMINATED:
            continue
        if row.state != SHUTTING_DOWN:
            row.state = SHUTTING_DOWN
            row.stateChanged = now
            row.reason = "User initiated"
        byCluster.setdefault(row.cluster, []).append(instanceId)
    session.flush()
    return previous, byCluster


def liveInstancesByCluster(session, owner, isAdmin, instanceIds, now):
    """
    The clusters holding the named instances, for an action on live ones
    (reboot, console): ``{cluster: [ids]}``.  An id ``owner`` may not see
    (another user's, unknown) raises InvalidInstanceID.NotFound, one that
    has ended IncorrectInstanceState; nothing is asked of a cluster then.
    """
    checkInstanceIds(instanceIds)
    byCluster = {}
    for instanceId in instanceIds:
        row = session.get(Instance, instanceId)
        if row is None or not _visible(row, owner, isAdmin, now):
            raise CloudError("InvalidInstanceID.NotFound",
                             "The instance ID '%s' does not exist" % (instanceId,))
        if row.state not in LIVE_STATES or row.cluster is None:
            raise CloudError("IncorrectInstanceState",
                             "The instance '%s' is %s" % (
                                 instanceId, row.state if row.cluster else "not placed yet"))
        byCluster.setdefault(row.cluster, []).append(instanceId)
    return byCluster


def applyTerminations(session, results, now):
    """Record what a cluster said about terminated instances."""
    for result in results:
        row = session.get(Instance, result["instanceId"])
        if row is not None:
            _applyReport(row, {"state": result.get("state")}, now)
    session.flush()


def currentStates(session, instanceIds):
    states = {}
    for instanceId in instanceIds:
        row = session.get(Instance, instanceId)
        states[instanceId] = row.state if row is not None else TERMINATED
    return states


def applyClusterReport(session, cluster, reports, pollStartedAt, now):
    """
    Bring the rows of ``cluster``'s instances up to date with its report.

    - reported instances get their state (forward only), addresses and node;
    - placed instances the cluster no longer reports, and that were placed
      before the poll began, are terminated (the cluster lost them);
    - instances the cluster still runs although the CLC terminated them, or
      that the CLC never knew (a launch whose reply was lost), are returned
      so that the caller asks the cluster to terminate them (again).

    Rows of launches in flight (``placedAt`` None) are left to the launch.
    """
    byId = {report["instanceId"]: report for report in reports
            if report.get("instanceId")}
    toTerminate = []
    rows = session.scalars(select(Instance).where(Instance.cluster == cluster).where(
        (Instance.state != TERMINATED) | Instance.id.in_(list(byId))))
    known = set()
    for row in rows:
        known.add(row.id)
        report = byId.get(row.id)
        if row.placedAt is None:
            continue
        if report is None:
            if row.state != TERMINATED and row.placedAt < pollStartedAt:
                row.state = TERMINATED
                row.stateChanged = now
                row.reason = row.reason or "Instance vanished from its cluster"
            continue
        if row.state in (SHUTTING_DOWN, TERMINATED) and report.get("state") in LIVE_STATES:
            toTerminate.append(row.id)
            continue
        _applyReport(row, report, now)
    for instanceId, report in byId.items():
        if instanceId not in known and report.get("state") in LIVE_STATES:
            if session.get(Instance, instanceId) is None:
                toTerminate.append(instanceId)
    session.flush()
    return toTerminate


def abandonUnplaced(session, now):
    """
    At start, launches that were in flight when the CLC stopped never got an
    answer: mark them terminated and return ``{cluster: [ids]}`` to clean up.
    """
    byCluster = {}
    for row in session.scalars(select(Instance).where(Instance.placedAt.is_(None))
                               .where(Instance.state != TERMINATED)):
        row.state = TERMINATED
        row.stateChanged = now
        row.reason = "Launch interrupted by a cloud controller restart"
        row.placedAt = now
        byCluster.setdefault(row.cluster, []).append(row.id)
    session.flush()
    return byCluster
