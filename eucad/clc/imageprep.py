"""Taking a registered image from ``pending`` to ``available`` or ``failed``.

After RegisterImage records a bundle, the preparer asks the image cache to
decrypt it (reading the parts as the registering user) and records the
outcome: the decrypted image's SHA1 and size, or the reason it failed.  The
request that registered the image does not wait for this.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.clc import imagestore
from eucad.common.errors import CloudError
from eucad.bundle.errors import ImageUnavailable

log = Logger()


class ImagePreparer:
    """
    @param db: the CLC's database (``run``).
    @param imageCache: Walrus's image cache (``eucad.walrus.imagecache``),
        handed in by whoever composes the tiers: its ``fetch`` fails with
        ``ImageUnavailable`` for bundles that cannot become images.
    @param partOpenerFor: ``partOpenerFor(keys)`` -> ``opener(bucket, prefix)``
        -> ``openPart(filename)`` (Walrus's ``S3PartOpener`` binds keys).
    """

    def __init__(self, db, imageCache, partOpenerFor):
        self.db = db
        self.imageCache = imageCache
        self.partOpenerFor = partOpenerFor
        self.running = {}

    def prepare(self, imageId, bundle, keys):
        """Start decrypting ``bundle`` (a ``CheckedBundle``); a Deferred of the new state."""
        opener = self.partOpenerFor(keys)
        openPart = opener(bundle.bucket, bundle.key.rpartition("/")[0])
        d = self.imageCache.fetch(bundle.raw, openPart)
        d.addCallbacks(self._decrypted, self._failed, callbackArgs=(imageId,),
                       errbackArgs=(imageId,))
        d.addErrback(lambda f: log.failure("recording the state of {image}", f,
                                           image=imageId))
        self.running[imageId] = d
        d.addBoth(self._done, imageId)
        return d

    def _done(self, result, imageId):
        self.running.pop(imageId, None)
        return result

    def _decrypted(self, opened, imageId):
        # Only the measurements are wanted here; the file is for readers.
        opened.file.close()
        cached = opened.image
        log.info("image {image} available ({size} bytes)", image=imageId, size=cached.size)
        return self.db.run(imagestore.markAvailable, imageId, cached.sha1,
                           cached.size).addCallback(lambda _: imagestore.AVAILABLE)

    def _failed(self, failure, imageId):
        if failure.check(ImageUnavailable):
            reason = str(failure.value)
        else:
            log.failure("decrypting {image}", failure, image=imageId)
            reason = "Internal error while decrypting the bundle"
        log.info("image {image} failed: {reason}", image=imageId, reason=reason)
        return self.db.run(imagestore.markFailed, imageId, reason).addCallback(
            lambda _: imagestore.FAILED)


@defer.inlineCallbacks
def resumePending(db, checker, preparer):
    """
    At start: take up the images a stopped CLC left ``pending``, checking
    each bundle again as its owner (it may have changed or gone since), so
    that none stays pending for ever.  Returns the ids resumed.
    """
    from eucad.clc.api.auth import Caller
    resumed = []
    for imageId, location, owner, isAdmin, accessKey, secretKey in (
            yield db.run(imagestore.pendingImages)):
        if owner is None:
            yield db.run(imagestore.markFailed, imageId,
                         "The image's owner no longer exists")
            continue
        keys = (accessKey, secretKey)
        try:
            bundle = yield checker.check(Caller(owner, isAdmin, accessKey), keys, location)
        except CloudError as e:
            yield db.run(imagestore.markFailed, imageId, e.message)
            continue
        preparer.prepare(imageId, bundle, keys)
        resumed.append(imageId)
    return resumed
