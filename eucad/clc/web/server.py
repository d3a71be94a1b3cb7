"""The web pages' listening service: TLS on WEB_LISTEN:WEB_PORT with the cloud's certificate.

``makeWebServer`` is what ``eucad.clc.tap`` adds to the CLC's tree.  The
certificate and key (``cloud-cert.pem``/``cloud-pk.pem`` in the keys
directory, made by ``euca_conf --setup``) are read when the service starts,
not when it is made.  ``WEB_PORT=0`` turns the pages off.
"""

from twisted.application.service import Service
from twisted.internet import defer, ssl
from twisted.web import server

from eucad.clc.web.mail import Mailer
from eucad.clc.web.pages import WebPages
from eucad.common import trust
from eucad.common.httpguard import RequestLimits, accessLogLine, guardSite


def tlsOptions(keysDir):
    """Server TLS options with the cloud's certificate and key (blocking file reads)."""
    with open(trust.certPath(keysDir, "cloud"), "rb") as f:
        certPem = f.read()
    with open(trust.keyPath(keysDir, "cloud"), "rb") as f:
        keyPem = f.read()
    return ssl.PrivateCertificate.loadPEM(certPem + b"\n" + keyPem).options()


#: The largest form body the pages take (the application form is the largest).
MAX_FORM_BYTES = 64 * 1024


def formBodyLimit(method, target, headers):
    """Every request's body is a form, and a small one."""
    return MAX_FORM_BYTES


def makeSite(pages, clock=None):
    """
    The pages' Site under the shared HTTP guard; its access log leaves out
    query strings, where the e-mailed links carry their tokens.
    """
    site = server.Site(pages, logFormatter=accessLogLine)
    return guardSite(site, RequestLimits(bodyLimit=formBodyLimit, clock=clock))


class WebServer(Service):
    """Listens with ``site`` over TLS from start to stop."""

    def __init__(self, site, port, interface, keysDir, reactor):
        self.site = site
        self.portNumber = port
        self.interface = interface
        self.keysDir = keysDir
        self.reactor = reactor
        self.port = None

    def startService(self):
        Service.startService(self)
        self.port = self.reactor.listenSSL(self.portNumber, self.site,
                                           tlsOptions(self.keysDir),
                                           interface=self.interface)

    def stopService(self):
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return defer.maybeDeferred(port.stopListening)
        return None


def makeWebServer(conf, layout, database, reactor=None, clusters=None, settingChanges=None):
    """
    The web pages of the CLC whose configuration is ``conf``, or None if
    WEB_PORT is 0; ``clusters`` is the CLC's ``ClusterRegistry``, and
    ``settingChanges`` where saved settings are published.
    """
    if reactor is None:
        from twisted.internet import reactor
    port = int(conf.get("WEB_PORT"))
    if port == 0:
        return None
    pages = WebPages(database, Mailer(conf, reactor=reactor), conf, layout.keys,
                     clusters=clusters, reactor=reactor, bucketDirectory=layout.bukkits,
                     settingChanges=settingChanges)
    return WebServer(makeSite(pages, clock=reactor), port, conf.get("WEB_LISTEN"),
                     layout.keys, reactor)
