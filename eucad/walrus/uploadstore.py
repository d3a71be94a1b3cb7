"""The bucket store's multipart uploads: create, parts, list, complete, abort.

Each part is a blob of its own; completing an upload turns the chosen part
blobs into the object's segments in one transaction, so nothing is copied.
"""

import secrets

from sqlalchemy import delete, select

from eucad.walrus import checksums
from eucad.walrus.errors import S3Error
from eucad.walrus.listing import Listing
from eucad.walrus.models import Completion, Part, Upload
from eucad.walrus.storebase import StoreBase

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
#: How long a completed upload answers a repeated CompleteMultipartUpload.
COMPLETION_MEMORY = 15 * 60


class Completed:
    """What CompleteMultipartUpload answers: the ETag and the whole object's checksums."""

    def __init__(self, etag, checksums, versionId=None):
        self.etag = etag
        self.checksums = checksums
        self.versionId = versionId


def latestParts(requested):
    """
    The parts a completion names, the last entry of a repeated number
    winning; MalformedXML if none, InvalidPartOrder unless ascending.
    """
    if not requested:
        raise S3Error("MalformedXML", "You must specify at least one part.")
    numbers = [number for number, _, _ in requested]
    if numbers != sorted(numbers):
        raise S3Error("InvalidPartOrder")
    latest = {}
    for entry in requested:
        latest[entry[0]] = entry
    return [latest[number] for number in sorted(latest)]


def objectChecksums(upload, parts):
    """
    {algorithm: checksum} of an object made of ``parts``: the upload's
    algorithm, COMPOSITE (``...-N``) or FULL_OBJECT as it was created, when
    every part has that checksum.
    """
    algorithm = upload.checksumAlgorithm
    if not algorithm or not all(p.checksums.get(algorithm) for p in parts):
        return {}
    if upload.checksumType == "FULL_OBJECT":
        return {algorithm: checksums.fullObjectChecksum(
            algorithm, [(p.checksums[algorithm], p.size) for p in parts])}
    return {algorithm: checksums.compositeChecksum(
        algorithm, [p.checksums[algorithm] for p in parts])}


def checkWholeChecksum(upload, sums, wholeChecksum):
    """Raise unless the whole-object checksum a client sent matches ``sums``."""
    if wholeChecksum is None:
        return
    algorithm, value = wholeChecksum
    mine = sums.get(algorithm)
    if mine is None:
        raise S3Error("InvalidRequest", "The upload was not created with the %s checksum "
                      "algorithm, or a part was uploaded without it." % (algorithm,))
    if value.strip() != mine and value.strip() != mine.split("-")[0]:
        raise S3Error("BadDigest", "The %s you specified did not match the calculated "
                      "checksum." % (algorithm,))


class UploadStore(StoreBase):
    """Multipart uploads and their parts."""

    def createUpload(self, owner, bucketName, key, headers, meta, makeAcl, check, algorithm,
                     checksumType="", tags=None):
        def create(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            upload = Upload(uploadId=secrets.token_urlsafe(24), bucket=bucketName, key=key,
                            owner=owner, initiated=self.clock(), headers=headers, meta=meta,
                            acl=makeAcl(bucket), checksumAlgorithm=algorithm or "",
                            checksumType=checksumType, tags=tags or None)
            session.add(upload)
            session.flush()
            return upload
        return self.database.run(create)

    @staticmethod
    def _upload(session, uploadId, bucketName, key):
        upload = session.get(Upload, uploadId)
        if upload is None or upload.bucket != bucketName or upload.key != key:
            raise S3Error("NoSuchUpload", UploadId=uploadId)
        return upload

    def getUpload(self, uploadId, bucketName, key):
        def query(session):
            bucket = self._bucket(session, bucketName)
            return bucket, self._upload(session, uploadId, bucketName, key)
        return self.database.run(query)

    async def _commitPart(self, uploadId, bucketName, key, number, blob, size, etag, sums,
                          check):
        def commit(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            old = session.get(Part, (uploadId, number))
            oldBlobs = []
            if old is not None:
                oldBlobs.append(old.blob)
                session.delete(old)
                session.flush()
            part = Part(uploadId=uploadId, number=number, blob=blob, size=size, etag=etag,
                        modified=self.clock(), checksums=sums)
            session.add(part)
            session.flush()
            return part, oldBlobs
        try:
            part, oldBlobs = await self.database.run(commit)
        except BaseException:
            self._removeLater([blob])
            raise
        self._removeLater(oldBlobs)
        return part

    async def putPart(self, uploadId, bucketName, key, number, spooled, sums, check):
        blob = await self._install(spooled)
        return await self._commitPart(uploadId, bucketName, key, number, blob, spooled.size,
                                      spooled.md5Hex, sums, check)

    async def copyPart(self, uploadId, bucketName, key, number, sourceBucket, sourceKey,
                       checkSource, conditions, start, length, check, algorithms,
                       sourceVersion=None):
        await self.getUpload(uploadId, bucketName, key)
        _, source, tempPath, digests = await self._copyData(
            sourceBucket, sourceKey, checkSource, start, length, algorithms, conditions,
            sourceVersion)
        try:
            blob = await self.runIo(self.blobs.install, tempPath)
        except BaseException:
            self.runIo(self.blobs.discardTemp, tempPath)
            raise
        part = await self._commitPart(uploadId, bucketName, key, number, blob, digests.size,
                                      digests.md5Hex(), digests.checksumsBase64(), check)
        return source, part

    def listParts(self, uploadId, bucketName, key, marker, maxParts, check):
        def query(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            parts = list(session.scalars(select(Part).where(
                Part.uploadId == uploadId, Part.number > marker).order_by(Part.number)
                .limit(maxParts + 1)))
            return upload, parts[:maxParts], len(parts) > maxParts
        return self.database.read(query)

    def listUploads(self, bucketName, prefix, delimiter, keyMarker, uploadIdMarker,
                    maxUploads, check):
        def query(session):
            bucket = self._bucket(session, bucketName)
            check(bucket)
            statement = select(Upload).where(Upload.bucket == bucketName)
            if prefix:
                statement = statement.where(Upload.key >= prefix)
            rows = list(session.scalars(statement.order_by(Upload.key, Upload.initiated,
                                                           Upload.uploadId)))
            rows = [r for r in rows if r.key.startswith(prefix)]
            if keyMarker:
                if uploadIdMarker:
                    position = None
                    for index, row in enumerate(rows):
                        if row.key == keyMarker and row.uploadId == uploadIdMarker:
                            position = index
                    rows = (rows[position + 1:] if position is not None
                            else [r for r in rows if r.key > keyMarker])
                else:
                    rows = [r for r in rows if r.key > keyMarker]
            listing = Listing()
            seen = set()
            for row in rows:
                if len(listing.entries) + len(listing.commonPrefixes) >= maxUploads:
                    listing.truncated = True
                    break
                if delimiter:
                    cut = row.key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = row.key[:cut + len(delimiter)]
                        if common not in seen:
                            seen.add(common)
                            listing.commonPrefixes.append(common)
                        continue
                listing.entries.append(row)
            return listing
        return self.database.read(query)

    async def completeUpload(self, uploadId, bucketName, key, requested, check,
                             wholeChecksum=None, condition=None):
        """
        ``requested`` is [(part number, etag without quotes, {algorithm:
        checksum})] as the client listed them (a number listed again
        replaces its earlier entry, as in S3).  ``wholeChecksum`` is the
        (algorithm, value) the client says the whole object has, if any.
        Returns a Completed; a repeat of a recent completion gets the same.
        """
        requested = latestParts(requested)

        def complete(session):
            bucket = self._bucket(session, bucketName)
            upload = session.get(Upload, uploadId)
            if upload is None or upload.bucket != bucketName or upload.key != key:
                return self._repeatedCompletion(session, bucket, uploadId, key, requested,
                                                check), []
            check(bucket, upload)
            parts = {p.number: p for p in session.scalars(
                select(Part).where(Part.uploadId == uploadId))}
            chosen = []
            for index, (number, etag, sums) in enumerate(requested):
                part = parts.get(number)
                if part is None or part.etag != etag:
                    raise S3Error("InvalidPart", PartNumber=str(number), ETag=etag)
                for algorithm, value in sums.items():
                    if part.checksums.get(algorithm) not in (None, value):
                        raise S3Error("InvalidPart", PartNumber=str(number), ETag=etag)
                if index < len(requested) - 1 and part.size < MIN_PART_SIZE:
                    raise S3Error("EntityTooSmall", ProposedSize=str(part.size),
                                  MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(number),
                                  ETag=etag)
                chosen.append(part)
            etagText = checksums.multipartEtag([p.etag for p in chosen])
            sums = objectChecksums(upload, chosen)
            checkWholeChecksum(upload, sums, wholeChecksum)
            size = sum(p.size for p in chosen)
            usedBlobs = {p.blob for p in chosen}
            unused = [p.blob for p in parts.values() if p.blob not in usedBlobs]
            obj, oldBlobs = self._replaceObject(
                session.connection(), bucket, key, upload.owner, size, etagText, upload.headers,
                upload.meta, upload.acl, sums, [[p.blob, p.size] for p in chosen],
                condition=condition, tags=upload.tags)
            session.execute(delete(Part).where(Part.uploadId == uploadId))
            session.delete(upload)
            now = self.clock()
            session.execute(delete(Completion).where(
                Completion.completed < now - COMPLETION_MEMORY))
            session.add(Completion(uploadId=uploadId, bucket=bucketName, key=key,
                                   etag=obj.etag, checksums=sums, completed=now,
                                   versionId=obj.versionId, owner=upload.owner))
            return Completed(obj.etag, sums, obj.versionId), oldBlobs + unused
        completed, garbage = await self.database.run(complete)
        self._removeLater(garbage)
        return completed

    def _repeatedCompletion(self, session, bucket, uploadId, key, requested, check):
        """
        The answer already given to this completion (its version id too),
        to whoever could have completed it; else NoSuchUpload.
        """
        done = session.get(Completion, uploadId)
        if (done is None or done.bucket != bucket.name or done.key != key
                or done.completed < self.clock() - COMPLETION_MEMORY
                or checksums.multipartEtag([etag for _, etag, _ in requested]) != done.etag):
            raise S3Error("NoSuchUpload", UploadId=uploadId)
        # The upload row is gone; its initiator is remembered with the answer.
        check(bucket, done)
        return Completed(done.etag, dict(done.checksums), done.versionId)

    async def abortUpload(self, uploadId, bucketName, key, check):
        def abort(session):
            bucket = self._bucket(session, bucketName)
            upload = self._upload(session, uploadId, bucketName, key)
            check(bucket, upload)
            blobs = list(session.scalars(select(Part.blob).where(Part.uploadId == uploadId)))
            session.execute(delete(Part).where(Part.uploadId == uploadId))
            session.delete(upload)
            return blobs
        self._removeLater(await self.database.run(abort))
