"""The CLC's image services joined to Walrus's image cache, for the CLC's daemon.

``eucad.clc`` and ``eucad.walrus`` import nothing of each other, so the
pieces RegisterImage needs are put together here, above both: the CLC's
``ImageServices`` (manifests read and verified as the registering user,
images taken from ``pending`` to ``available``) is handed Walrus's
``ImageCache`` (decrypt once, LRU on disk) and ``S3PartOpener`` (parts read
over S3 as that user), a thread pool for the decryption, and the stored user
certificates (``eucad.common.accounts.validCertificates``) to check
signatures against.  ``eucad.clc.tap.buildCloud`` calls ``makeImageServices``
after the database is in the tree, and hands the result to the ``Cloud``.

The same process then serves the decrypted images to the cloud's nodes:
Walrus's ``ImageDeliveryResource`` over mutual TLS on
``WALRUS_LISTEN``:``WALRUS_IMAGE_PORT`` (0: not served), with the
cloud's certificate, accepting node certificates and the admin's user
certificates (checked against the stored, unrevoked ones).
"""

from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.web.server import Site

from eucad.clc import imagestore
from eucad.clc.imageservices import ImageServices
from eucad.common import accounts, trust
from eucad.common.httpguard import accessLogLine
from eucad.common.listening import ListeningService, tcpDescription
from eucad.walrus.app import IoPool
from eucad.walrus.imagecache import ImageCache
from eucad.walrus.imagecache.delivery import ImageDeliveryResource
from eucad.walrus.imagecache.httpparts import S3PartOpener

#: Threads decrypting bundles and reading images for nodes.
IMAGE_THREADS = 4


class ImageThreads(IoPool):
    """The threads of the image services: decrypting bundles, reading images for nodes."""


def certificatesFor(db):
    """``certificatesFor(userName)`` over the stored, unrevoked user certificates."""
    def certificates(name):
        d = db.run(accounts.validCertificates, name)
        # Stored as text; the bundle code reads PEM bytes.
        return d.addCallback(lambda pems: [
            pem.encode("ascii") if isinstance(pem, str) else pem for pem in pems])
    return certificates


def mayFetchImages(db):
    """
    ``mayFetch(certificate)``: node certificates may (the TLS layer already
    checked they chain to the cloud CA), and user certificates that are the
    admin's and not revoked.
    """
    def mayFetch(cert):
        role = trust.roleOf(cert)
        if role == "node":
            return True
        if role == "user":
            return db.run(imagestore.isAdminCertificate, "%x" % (cert.serial_number,))
        return False
    return mayFetch


def makeImageServices(options, parent, db, reactor=None):
    """
    Add the image threads, the ``ImageServices`` and (unless
    WALRUS_IMAGE_PORT is 0) the image delivery port to ``parent``, in that
    start order; return the ``ImageServices``.
    """
    conf = options.conf
    pool = ImageThreads(IMAGE_THREADS, reactor=reactor)
    pool.setServiceParent(parent)
    services = ImageServices(conf, options.layout, db, certificatesFor(db),
                             pool.run, makeImageCache=ImageCache,
                             makePartOpener=S3PartOpener)
    services.setServiceParent(parent)
    if conf.getInt("WALRUS_IMAGE_PORT"):
        resource = ImageDeliveryResource(services.openImage, mayFetchImages(db), pool.run)
        tls = trust.LazyCredentials(options.layout, "cloud").serverOptions(
            acceptRole=("node", "user"))
        site = Site(resource, logFormatter=accessLogLine)
        description = tcpDescription(conf.getInt("WALRUS_IMAGE_PORT"),
                                     conf.get("WALRUS_LISTEN"))
        ListeningService(description, TLSMemoryBIOFactory(tls, False, site),
                         reactor=reactor).setServiceParent(parent)
    return services
