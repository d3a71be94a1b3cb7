"""The CLC's image services, built from eucalyptus.conf, as one twisted Service.

RegisterImage needs a ``BundleChecker`` (manifests read from Walrus as the
user, signatures checked) and an ``ImagePreparer`` (the image cache that
decrypts bundles and takes images to ``available``).  ``ImageServices``
makes both when it starts (the cloud's private key is read then, not when
the service is made) and stands for both in ``Cloud(bundles=...,
imagePreparer=...)``; the CLC's service tree adds it as a child.

Configuration: Walrus is reached at ``http://CLOUD_HOST:WALRUS_PORT/services/Walrus``
(as the eucarc's S3_URL); decrypted images are kept in
``var/lib/eucalyptus/images/cache`` up to ``WALRUS_IMAGE_CACHE_MB``.
"""

import os

from twisted.application.service import Service
from twisted.logger import Logger

from eucad.bundle import crypto
from eucad.clc.bundlecheck import BundleChecker
from eucad.clc.bundlesource import WalrusBundleSource
from eucad.clc.imageprep import ImagePreparer, resumePending

log = Logger()

CLOUD_KEY = "cloud-pk.pem"


def walrusUrl(conf):
    host = conf.get("CLOUD_HOST")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % (host,)
    return "http://%s:%s/services/Walrus" % (host, conf.get("WALRUS_PORT"))


def cacheDirectory(layout):
    return layout.path("var", "lib", "eucalyptus", "images", "cache")


def cacheCapacity(conf):
    text = conf.get("WALRUS_IMAGE_CACHE_MB")
    try:
        megabytes = int(text)
    except ValueError:
        raise ValueError("WALRUS_IMAGE_CACHE_MB must be a number of MiB, not %r" % (text,))
    return megabytes * 1024 * 1024


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

    def startService(self):
        Service.startService(self)
        with open(os.path.join(self.layout.keys, CLOUD_KEY), "rb") as f:
            cloudKey = crypto.loadPrivateKey(f.read())
        url = walrusUrl(self.conf)
        self.cache = self.makeImageCache(cacheDirectory(self.layout),
                                         cacheCapacity(self.conf), cloudKey,
                                         self.runInThread)
        self.checker = BundleChecker(WalrusBundleSource(url), self.certificatesFor,
                                     cloudKey, self.runInThread)
        self.preparer = ImagePreparer(self.db, self.cache,
                                      lambda keys: self.makePartOpener(url, keys))
        self.ready = self.cache.start()
        self.ready.addCallback(lambda _: resumePending(self.db, self.checker, self.preparer))
        self.ready.addErrback(lambda f: log.failure("starting the image services", f))
        return self.ready

    def check(self, caller, keys, location):
        """``BundleChecker.check``: the Cloud's ``bundles``."""
        return self.checker.check(caller, keys, location)

    def prepare(self, imageId, bundle, keys):
        """``ImagePreparer.prepare``: the Cloud's ``imagePreparer``."""
        return self.preparer.prepare(imageId, bundle, keys)
