"""Where a daemon listens: strports descriptions, with eucalyptus.conf's ports as defaults.

Each tier's ``tap.py`` takes ``--port`` as a strports description, as
``twistd web --listen`` does (``tcp:8773:interface=127.0.0.1``,
``unix:/run/eucad.sock``, ...); without it the daemon listens where its
configuration says (``CLOUD_LISTEN``:``CLOUD_PORT`` and so on).  The CC's and
NC's links always speak mutual TLS: their ``--port`` names the stream
underneath, and ``MutualTlsEndpoint`` puts the link's TLS on it.

``ListeningService`` binds when it starts, and a port that cannot be bound
fails the start there and then, so ``twistd`` exits with the reason instead
of running a daemon that listens nowhere.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer


def tcpDescription(port, interface=""):
    """The strports description of TCP ``port`` on ``interface`` (all addresses when empty)."""
    description = "tcp:%d" % (int(port),)
    if interface.strip():
        description += ":interface=" + quoteStringArgument(interface.strip())
    return description


def portOption(portKey, interfaceKey):
    """A tap's ``--port`` option (a usage.Options optParameters row)."""
    return ["port", None, None,
            "Listen here instead of %s:%s (a strports description, e.g. "
            "tcp:8773:interface=127.0.0.1)" % (interfaceKey, portKey)]


class ListeningService(Service):
    """
    Listens on ``description`` with ``factory`` from start to stop.

    @ivar port: the IListeningPort once listening, else None.
    """

    def __init__(self, description, factory, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.description = description
        self.factory = factory
        self.endpoint = serverFromString(reactor, description)
        self.port = None

    def privilegedStartService(self):
        """Bind (ports below 1024 need this before twistd drops privileges)."""
        Service.privilegedStartService(self)
        outcome = []
        self.endpoint.listen(self.factory).addBoth(outcome.append)
        if not outcome:
            raise ValueError("%s does not bind at once; eucad daemons take tcp:, "
                             "ssl: or unix: descriptions" % (self.description,))
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        self.port = outcome[0]

    def startService(self):
        if self.port is None:
            self.privilegedStartService()
        Service.startService(self)

    def stopService(self):
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return defer.maybeDeferred(port.stopListening)
        return None


@implementer(IStreamServerEndpoint)
class MutualTlsEndpoint:
    """
    ``endpoint`` (any stream server endpoint) with ``tlsOptions`` applied to
    every connection: the link's own certificate checks, whatever the
    stream underneath.  The options are used from ``listen`` on, so keys are
    read when the service starts, not when it is built.
    """

    def __init__(self, endpoint, tlsOptions):
        self.endpoint = endpoint
        self.tlsOptions = tlsOptions

    def listen(self, factory):
        return self.endpoint.listen(TLSMemoryBIOFactory(self.tlsOptions, False, factory))


def linkEndpoint(options, tlsOptions, reactor=None):
    """
    The endpoint a PB link server listens on when the tap's ``--port``
    names one (TLS applied), or None for the conf's port.
    """
    if not options["port"]:
        return None
    if reactor is None:
        from twisted.internet import reactor
    return MutualTlsEndpoint(serverFromString(reactor, options["port"]), tlsOptions)


def listeningService(options, portKey, interfaceKey, factory, reactor=None):
    """
    A ListeningService where the tap's ``--port`` says, or else on the
    conf's ``interfaceKey``:``portKey``.  Nothing is bound until it starts.
    """
    description = options["port"] or tcpDescription(
        options.conf.get(portKey), options.conf.get(interfaceKey))
    return ListeningService(description, factory, reactor=reactor)
