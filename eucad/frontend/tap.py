"""``twistd eucalyptus-clc``: the cloud controller, with Walrus when they share a port.

When Walrus shares the CLC's port (``walrusSharesCloudPort``: the defaults
put both at 8773), this daemon builds both tiers over one database, in
start order: logging (``cloud-output.log``), the CLC's services
(``eucad.clc.tap.buildCloud``, with RegisterImage's image services joined
to Walrus's image cache by ``eucad.frontend.images``), Walrus's I/O threads and bukkits sweep
(``eucad.walrus.tap.buildWalrusServices``), and last the one port, which
serves EC2 and S3 together (``eucad.frontend.frontdoor``).  Otherwise it is
the CLC alone (``eucad.clc.tap.makeService``).

``--port`` (a strports description) names the listener; by default it is
CLOUD_LISTEN:CLOUD_PORT.  Nothing here opens files or sockets; the services
do when they start.
"""

from eucad.clc import tap as clcTap
from eucad.common.components import walrusSharesCloudPort
from eucad.common.daemon import makeDaemonService
from eucad.common.listening import listeningService
from eucad.frontend import frontdoor
from eucad.frontend.images import makeImageServices
from eucad.walrus import tap as walrusTap


class Options(clcTap.Options):
    """The CLC's options: ``--prefix`` and ``--port``; the rest is in eucalyptus.conf."""


def makeService(options, reactor=None):
    if not walrusSharesCloudPort(options.conf):
        return clcTap.makeService(options, reactor=reactor,
                                  makeImageServices=makeImageServices)
    root = makeDaemonService(options, "cloud-output.log")
    parts = clcTap.buildCloud(options, root, reactor, makeImageServices)
    walrus = walrusTap.buildWalrusServices(options, root, parts.database, reactor)
    site = frontdoor.makeSharedSite(parts.cloud, walrus, isReady=parts.startup.isReady)
    listeningService(options, *clcTap.PORT_KEYS, site, reactor=reactor).setServiceParent(root)
    root.walrus = walrus
    return root
