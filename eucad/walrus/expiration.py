"""Applying a bucket's lifecycle rules: what is due, removed in one transaction.

The lifecycle service (eucad.walrus.lifecycleservice) calls the store's
``expireBucket`` for every bucket with rules; that runs ``expireBucket``
here on the transaction's connection.  Each kind of action takes at most
``limit`` candidates per pass, found by SQL on the rule's prefix, sizes and
dates, so one pass is bounded and the next one goes on where it stopped.

What is due, as S3 reckons it (days counted to the next midnight UTC,
eucad.walrus.lifecyclerules.agedCutoff):

- Expiration Days/Date: the current version.  In a bucket never versioned
  it is deleted with its data; in a versioned one a delete marker is put on
  top (eucad.walrus.versioning.deleteCurrent), as a DELETE would.
- NoncurrentVersionExpiration: a noncurrent version (or delete marker)
  NoncurrentDays after it became noncurrent, that is after the next newer
  version was made, keeping the NewerNoncurrentVersions newest.
- ExpiredObjectDeleteMarker (and Expiration Days, as in S3): a delete
  marker that is the only version left of its key.
- AbortIncompleteMultipartUpload: uploads DaysAfterInitiation old, with
  their parts.

A rule's tag filter is checked here, on each candidate's own tag set (a
noncurrent version keeps the tags it had): the database cannot select on
them portably, so candidates are read a batch at a time in key order until
``limit`` of them match or none are left.  The same walk serves the keys
with noncurrent versions and delete markers, so keys whose versions are
not due (or do not match) never hide later keys from a pass.
"""

import collections

from sqlalchemy import bindparam, delete, func, select

from eucad.walrus import rows, versioning
from eucad.walrus.lifecyclerules import agedCutoff
from eucad.walrus.listing import prefixEnd
from eucad.walrus.models import Part, Upload
from eucad.walrus.rows import OBJECTS
from eucad.walrus.versioning import VERSIONS

#: Candidates one kind of action takes per bucket and pass.
PASS_LIMIT = 1000

COUNT_VERSIONS = select(func.count()).select_from(VERSIONS).where(
    VERSIONS.c.bucket == bindparam("bucket"), VERSIONS.c.key == bindparam("key"))


def _inPrefix(statement, column, prefix):
    if not prefix:
        return statement
    statement = statement.where(column >= prefix)
    end = prefixEnd(prefix)
    return statement.where(column < end) if end is not None else statement


def _pagedKeys(connection, statement, column, batch):
    """
    The keys ``statement`` selects (one column, distinct), in order, read
    ``batch`` at a time: the caller stops reading once it has done enough.
    """
    after = None
    while True:
        page = statement if after is None else statement.where(column > after)
        keys = connection.execute(page.order_by(column).limit(batch)).scalars().all()
        yield from keys
        if len(keys) < batch:
            return
        after = keys[-1]


def _dueCurrentRows(connection, statement, rule, limit):
    """Up to ``limit`` rows of ``statement`` (current objects) whose tags the rule's filter holds."""
    if not rule.tags:
        return connection.execute(statement.order_by(OBJECTS.c.key).limit(limit)
                                  .with_for_update()).all()
    found, after = [], None
    while len(found) < limit:
        page = statement if after is None else statement.where(OBJECTS.c.key > after)
        batch = connection.execute(page.order_by(OBJECTS.c.key).limit(limit)
                                   .with_for_update()).all()
        found.extend(row for row in batch if rule.matchesTags(row._mapping["tags"]))
        if len(batch) < limit:
            break
        after = batch[-1]._mapping["key"]
    return found[:limit]


def expireBucket(connection, bucket, rules, now, limit=PASS_LIMIT):
    """
    Apply the enabled ``rules`` to ``bucket`` (a row with name, owner and
    versioning) at ``now``.  Returns (counts by action, blobs to remove
    after the commit).
    """
    counts = collections.Counter()
    garbage = []
    for rule in rules:
        if not rule.enabled:
            continue
        if rule.noncurrentDays is not None:
            _expireNoncurrent(connection, bucket, rule, now, limit, counts, garbage)
        if rule.expirationDays is not None or rule.expirationDate is not None:
            _expireCurrent(connection, bucket, rule, now, limit, counts, garbage)
        # Delete markers have no tags: a rule that names tags never matches one.
        if (rule.expiredObjectDeleteMarker or rule.expirationDays is not None) \
                and not rule.tags:
            _removeLoneMarkers(connection, bucket, rule, now, limit, counts)
        if rule.abortDays is not None:
            _abortUploads(connection, bucket, rule, now, limit, counts, garbage)
    return counts, garbage


def _expireCurrent(connection, bucket, rule, now, limit, counts, garbage):
    statement = select(*[OBJECTS.c[name] for name in rows.OBJECT_FIELDS]).where(
        OBJECTS.c.bucket == bucket.name)
    if rule.expirationDate is not None:
        if now < rule.expirationDate:
            return
    else:
        statement = statement.where(OBJECTS.c.modified <= agedCutoff(now, rule.expirationDays))
    statement = _inPrefix(statement, OBJECTS.c.key, rule.prefix)
    if rule.sizeGreaterThan is not None:
        statement = statement.where(OBJECTS.c.size > rule.sizeGreaterThan)
    if rule.sizeLessThan is not None:
        statement = statement.where(OBJECTS.c.size < rule.sizeLessThan)
    for row in _dueCurrentRows(connection, statement, rule, limit):
        current = rows.ObjectRow(**{name: row._mapping[name] for name in rows.OBJECT_FIELDS})
        if versioning.isVersioned(bucket):
            _, blobs = versioning.deleteCurrent(connection, bucket, current.key, current,
                                                bucket.owner, now)
            garbage.extend(blobs)
        else:
            rows.deleteObjectRow(connection, current.id)
            rows.addToTotals(connection, bucket.name, -1, -current.size)
            garbage.extend(blob for blob, _ in current.segments)
        counts["expired"] += 1


def _keysWithVersions(connection, bucket, rule, limit, markersOnly=False, madeBy=None):
    """
    Every key of the rule's prefix with noncurrent versions (or markers;
    with one made by ``madeBy`` at the latest), ``limit`` per read.
    """
    statement = select(VERSIONS.c.key).where(VERSIONS.c.bucket == bucket.name)
    if markersOnly:
        statement = statement.where(VERSIONS.c.deleteMarker == True)  # noqa: E712
    if madeBy is not None:
        statement = statement.where(VERSIONS.c.modified <= madeBy)
    statement = _inPrefix(statement, VERSIONS.c.key, rule.prefix)
    return _pagedKeys(connection, statement.distinct(), VERSIONS.c.key, limit)


def _expireNoncurrent(connection, bucket, rule, now, limit, counts, garbage):
    cutoff = agedCutoff(now, rule.noncurrentDays)
    removed = 0
    # A version due now became noncurrent by the cutoff, so it was made by
    # then too: keys with only newer versions need not be read at all.
    for key in _keysWithVersions(connection, bucket, rule, limit, madeBy=cutoff):
        if removed >= limit:
            return
        current = connection.execute(rows.OLD_OBJECT, {"bucket": bucket.name,
                                                       "key": key}).first()
        older = versioning.keyVersions(connection, bucket.name, key)
        # Newest first; the first is the latest version (the current object,
        # or without one the delete marker on top), the others noncurrent.
        chain = ([current] if current is not None else []) + older
        for index in range(1, len(chain)):
            version, position = chain[index], index - 1
            becameNoncurrent = chain[index - 1].modified
            if becameNoncurrent > cutoff:
                continue
            if rule.newerNoncurrentVersions is not None \
                    and position < rule.newerNoncurrentVersions:
                continue
            if not version.deleteMarker and not rule.matchesSize(version.size):
                continue
            if not rule.matchesTags(None if version.deleteMarker else version.tags):
                continue
            garbage.extend(versioning.removeVersionRow(connection, bucket.name, version))
            counts["noncurrent"] += 1
            removed += 1


def _removeLoneMarkers(connection, bucket, rule, now, limit, counts):
    cutoff = agedCutoff(now, rule.expirationDays) if rule.expirationDays is not None else None
    removed = 0
    for key in _keysWithVersions(connection, bucket, rule, limit, markersOnly=True):
        if removed >= limit:
            return
        if connection.execute(rows.OLD_OBJECT, {"bucket": bucket.name, "key": key}).first():
            continue
        if connection.execute(COUNT_VERSIONS, {"bucket": bucket.name, "key": key}).scalar() != 1:
            continue
        marker = versioning.latestVersion(connection, bucket.name, key)
        if cutoff is not None and not rule.expiredObjectDeleteMarker \
                and marker.modified > cutoff:
            continue
        connection.execute(versioning.DELETE_VERSION, {"rowId": marker.id})
        counts["markers"] += 1
        removed += 1


def _abortUploads(connection, bucket, rule, now, limit, counts, garbage):
    uploads = Upload.__table__
    statement = select(uploads.c.uploadId).where(
        uploads.c.bucket == bucket.name,
        uploads.c.initiated <= agedCutoff(now, rule.abortDays))
    statement = _inPrefix(statement, uploads.c.key, rule.prefix)
    found = connection.execute(statement.limit(limit).with_for_update()).scalars().all()
    if not found:
        return
    parts = Part.__table__
    garbage.extend(connection.execute(select(parts.c.blob).where(
        parts.c.uploadId.in_(found))).scalars().all())
    connection.execute(delete(parts).where(parts.c.uploadId.in_(found)))
    connection.execute(delete(uploads).where(uploads.c.uploadId.in_(found)))
    counts["aborted"] += len(found)
