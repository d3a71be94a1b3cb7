"""The CLC's image services, built from eucalyptus.conf, as one twisted Service.

RegisterImage needs a ``BundleChecker`` (manifests read from Walrus as the
user, signatures checked) and an ``ImagePreparer`` (the image cache that
decrypts bundles and takes images to ``available``).  ``ImageServices``
makes both when it starts (the cloud's private key is read then, not when
the service is made) and stands for both in ``Cloud(bundles=...,
imagePreparer=...)``; the CLC's service tree adds it as a child.

Configuration: Walrus is reached at ``http://CLOUD_HOST:WALRUS_PORT/services/Walrus``
(as the eucarc's S3_URL); decrypted images are kept in
``var/lib/eucalyptus/images/cache`` up to ``WALRUS_IMAGE_CACHE_MB`` (the
administrator's size from ``cloud_settings`` once the configuration page set
one: read at start, and taken at once when the page publishes a save).

Nodes fetch available images decrypted at ``imageDeliveryUrl`` (the port
``WALRUS_IMAGE_PORT``, mutual TLS), which ``openImage`` answers.
"""

import os

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from eucad.bundle import crypto
from eucad.bundle.errors import ImageNotDeliverable, ImageNotReady, ImageUnavailable
from eucad.clc.bundlecheck import BundleChecker
from eucad.clc.bundlesource import WalrusBundleSource
from eucad.clc import imagestore
from eucad.clc.imageprep import ImagePreparer, resumePending
from eucad.common import cloudsettings
from eucad.common.errors import CloudError

log = Logger()

CLOUD_KEY = "cloud-pk.pem"


def walrusUrl(conf):
    host = conf.get("CLOUD_HOST")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % (host,)
    return "http://%s:%s/services/Walrus" % (host, conf.get("WALRUS_PORT"))


def cacheDirectory(layout):
    return layout.path("var", "lib", "eucalyptus", "images", "cache")


CACHE_SIZE_KEY = "WALRUS_IMAGE_CACHE_MB"


def cacheCapacity(conf, text=None):
    """Bytes of ``text`` MiB (default: eucalyptus.conf's WALRUS_IMAGE_CACHE_MB)."""
    if text is None:
        text = conf.get(CACHE_SIZE_KEY)
    try:
        megabytes = int(text)
    except ValueError:
        raise ValueError("WALRUS_IMAGE_CACHE_MB must be a number of MiB, not %r" % (text,))
    return megabytes * 1024 * 1024


def imageDeliveryUrl(conf, imageId):
    """``https://CLOUD_HOST:WALRUS_IMAGE_PORT/images/<id>``: where nodes fetch images."""
    host = conf.get("CLOUD_HOST")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % (host,)
    return "https://%s:%s/images/%s" % (host, conf.get("WALRUS_IMAGE_PORT"), imageId)


class ImageServices(Service):
    """
    @param certificatesFor: the accounts store's ``certificatesFor(userName)``
        (PEM certificates issued to a user; None: every user's).
    @param runInThread: the CLC's ``runInThread(f, *args)`` (its thread pool).
    @param makeImageCache: ``makeImageCache(directory, capacity, cloudKey,
        runInThread)``, Walrus's ``ImageCache``; and ``makePartOpener(url,
        keys)``, Walrus's ``S3PartOpener``: handed in by the front end that
        composes the tiers, since the CLC imports nothing of Walrus.
    """

    def __init__(self, conf, layout, db, certificatesFor, runInThread,
                 makeImageCache, makePartOpener):
        self.conf = conf
        self.makeImageCache = makeImageCache
        self.makePartOpener = makePartOpener
        self.layout = layout
        self.db = db
        self.certificatesFor = certificatesFor
        self.runInThread = runInThread
        self.checker = self.preparer = self.cache = None
        self.ready = None
        #: Walrus's S3 URL, where bundles are read (set when the service starts).
        self.walrusUrl = None

    def startService(self):
        Service.startService(self)
        with open(os.path.join(self.layout.keys, CLOUD_KEY), "rb") as f:
            cloudKey = crypto.loadPrivateKey(f.read())
        url = self.walrusUrl = walrusUrl(self.conf)
        self.cache = self.makeImageCache(cacheDirectory(self.layout),
                                         cacheCapacity(self.conf), cloudKey,
                                         self.runInThread)
        self.checker = BundleChecker(WalrusBundleSource(url), self.certificatesFor,
                                     cloudKey, self.runInThread)
        self.preparer = ImagePreparer(self.db, self.cache,
                                      lambda keys: self.makePartOpener(url, keys))
        self.ready = self.cache.start()
        self.ready.addCallback(lambda _: self._resizeFromSettings())
        self.ready.addCallback(lambda _: resumePending(self.db, self.checker, self.preparer))
        self.ready.addErrback(lambda f: log.failure("starting the image services", f))
        return self.ready

    def _resize(self, megabytes):
        return self.cache.setCapacity(cacheCapacity(self.conf, megabytes))

    def _resizeFromSettings(self):
        """At start: the size the page stored last, if any; a failure keeps the conf's."""
        d = self.db.run(cloudsettings.setting, self.conf, CACHE_SIZE_KEY)
        d.addCallback(self._resize)
        d.addErrback(lambda f: log.failure("sizing the image cache from the settings", f))
        return d

    def settingsSaved(self, values):
        """
        The configuration page saved ``values`` (``SettingChanges``): a new
        image cache size is in force at once, evicting down to it.
        """
        if CACHE_SIZE_KEY not in values or self.cache is None:
            return None
        d = self._resize(values[CACHE_SIZE_KEY])
        d.addErrback(lambda f: log.failure("resizing the image cache", f))
        return d

    def deliveryUrl(self, imageId):
        """Where a node fetches ``imageId`` decrypted (``imageDeliveryUrl``)."""
        return imageDeliveryUrl(self.conf, imageId)

    @defer.inlineCallbacks
    def openImage(self, imageId):
        """
        A Deferred of the decrypted ``imageId`` opened for reading (Walrus's
        ``OpenedImage``), for the delivery endpoint; ``ImageNotReady`` while
        it is pending, ``ImageNotDeliverable`` when it is unknown, failed or
        its bundle changed.  An image evicted from the cache is decrypted
        again from its bundle, read as its owner and checked against the
        digest recorded at registration.
        """
        found = yield self.db.run(imagestore.deliverable, imageId)
        if found is None:
            raise ImageNotDeliverable("No image %s" % (imageId,))
        state, location, digest, owner, isAdmin, accessKey, secretKey = found
        if state == imagestore.PENDING:
            raise ImageNotReady("%s is still being decrypted" % (imageId,))
        if state != imagestore.AVAILABLE or not digest:
            raise ImageNotDeliverable("%s is %s" % (imageId, state))
        if not location or location.startswith("/"):
            raise ImageNotDeliverable("%s is not a bundle" % (imageId,))
        if owner is None:
            raise ImageNotDeliverable("The owner of %s no longer exists" % (imageId,))
        from eucad.clc.api.auth import Caller
        keys = (accessKey, secretKey)
        try:
            bundle = yield self.checker.check(Caller(owner, isAdmin, accessKey), keys,
                                              location)
        except CloudError as e:
            raise ImageNotDeliverable("The bundle of %s: %s" % (imageId, e.message))
        openPart = self.makePartOpener(self.walrusUrl, keys)(
            bundle.bucket, bundle.key.rpartition("/")[0])
        try:
            opened = yield self.cache.fetch(bundle.raw, openPart)
        except ImageUnavailable as e:
            raise ImageNotDeliverable("The bundle of %s: %s" % (imageId, e))
        if "sha1:" + opened.image.sha1 != digest:
            opened.file.close()
            raise ImageNotDeliverable("The bundle of %s changed since it was registered"
                                      % (imageId,))
        return opened

    def check(self, caller, keys, location):
        """``BundleChecker.check``: the Cloud's ``bundles``."""
        return self.checker.check(caller, keys, location)

    def prepare(self, imageId, bundle, keys):
        """``ImagePreparer.prepare``: the Cloud's ``imagePreparer``."""
        return self.preparer.prepare(imageId, bundle, keys)
