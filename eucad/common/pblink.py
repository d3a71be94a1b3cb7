"""Perspective Broker over mutual TLS, hidden behind the tier interfaces.

``LinkServer`` publishes an object that provides ``ICluster`` or ``INode`` as a
PB root: only the interface's methods can be called remotely, and a
``CloudError`` raised below reaches the caller as a ``CloudError`` again.
``LinkClient`` is the caller's side: a service that keeps one connection up
(reconnecting with backoff through ``ClientService``) and itself provides the
interface, so the rest of the code never sees ``callRemote``.
"""

from twisted.application.internet import ClientService, StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer, endpoints, protocol
from twisted.internet import reactor as _defaultReactor
from twisted.logger import Logger
from twisted.spread import pb
from zope.interface import alsoProvides

from eucad.common.errors import CloudError

log = Logger()

#: Codes whose HTTP status is not 400 when they reach the EC2 front door.
_STATUS_BY_CODE = {
    "InsufficientInstanceCapacity": 500,
    "InternalError": 500,
    "Unavailable": 503,
}


def interfaceMethods(interface):
    """The names of the operations an interface declares, sorted."""
    return sorted(name for name in interface.names(all=True)
                  if callable(interface[name].getSignatureInfo))


class RemoteRoot(pb.Root):
    """
    A PB root that forwards the interface's methods to ``impl``.

    Anything else a peer asks for is refused, and unexpected exceptions are
    logged here and sent as ``InternalError`` instead of a traceback.
    """

    def __init__(self, impl, interface):
        self.impl = impl
        self.interface = interface
        self.allowed = frozenset(interfaceMethods(interface))

    def remoteMessageReceived(self, broker, message, args, kw):
        if isinstance(message, bytes):
            message = message.decode("ascii", "replace")
        if message not in self.allowed:
            raise CloudError("InvalidAction", "no operation %s" % (message,))
        args = broker.unserialize(args)
        kw = broker.unserialize(kw)
        kw = {(k.decode() if isinstance(k, bytes) else k): v for k, v in kw.items()}
        d = defer.maybeDeferred(getattr(self.impl, message), *args, **kw)

        def unexpected(failure):
            if failure.check(CloudError):
                return failure
            log.failure("{op} failed", failure, op=message)
            raise CloudError("InternalError", "%s failed: %s" % (
                message, failure.getErrorMessage()), 500)
        d.addErrback(unexpected)
        return broker.serialize(d, self.perspective)

    perspective = None


def rebuildCloudError(failure):
    """
    Undo PB's copying of a remote failure: a remote CloudError arrives as a
    ``CopiedFailure`` whose value is ``str(CloudError)`` = "Code: message".
    """
    if isinstance(failure.value, CloudError):
        return failure
    if failure.check(defer.CancelledError):
        # The caller's own timeout (addTimeout) cancelled the call: let it
        # turn that into its TimeoutError.
        return failure
    remoteType = failure.type
    if isinstance(remoteType, bytes):
        remoteType = remoteType.decode("utf-8", "replace")
    if isinstance(remoteType, str) and remoteType.endswith("CloudError"):
        text = failure.value if isinstance(failure.value, (str, bytes)) else str(
            failure.value)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        code, _, message = text.partition(": ")
        raise CloudError(code, message, _STATUS_BY_CODE.get(code, 400))
    if failure.check(pb.PBConnectionLost):
        raise CloudError("Unavailable", "lost the connection during the call", 503)
    raise CloudError("InternalError", failure.getErrorMessage(), 500)


class _LinkFactory(protocol.Factory):
    """Builds client brokers and tells the LinkClient when one is ready."""

    def __init__(self, client):
        self.client = client

    def buildProtocol(self, addr):
        broker = pb.Broker(isClient=True)
        broker.factory = self
        return broker

    def clientConnectionMade(self, broker):
        self.client._brokerReady(broker)


class LinkClient(MultiService):
    """
    The calling side of a link: keeps a PB connection to ``host:port`` over
    TLS and provides ``interface`` itself.  While disconnected every call
    fails at once with ``CloudError("Unavailable")``, so that a CC or NC that
    is down never hangs its caller.
    """

    def __init__(self, interface, host, port, tlsOptions, reactor=None,
                 retryPolicy=None, endpoint=None):
        MultiService.__init__(self)
        self.interface = interface
        self.host = host
        self.port = int(port)
        self.reactor = reactor or _defaultReactor
        self._root = None
        self._broker = None
        self._waiters = []
        if endpoint is None:
            endpoint = endpoints.SSL4ClientEndpoint(self.reactor, host, self.port,
                                                    tlsOptions, timeout=10)
        kwargs = {}
        if retryPolicy is not None:
            kwargs["retryPolicy"] = retryPolicy
        else:
            kwargs["retryPolicy"] = reconnectBackoff()
        self.clientService = ClientService(endpoint, _LinkFactory(self), **kwargs)
        self.clientService.setServiceParent(self)
        for name in interfaceMethods(interface):
            setattr(self, name, self._caller(name))
        alsoProvides(self, interface)

    def __repr__(self):
        return "<LinkClient %s %s:%s>" % (self.interface.__name__, self.host, self.port)

    @property
    def connected(self):
        return self._root is not None

    def _brokerReady(self, broker):
        self._broker = broker
        self._root = broker.remoteForName("root")
        broker.notifyOnDisconnect(lambda: self._lost(broker))
        log.info("link to {host}:{port} ({iface}) is up", host=self.host,
                 port=self.port, iface=self.interface.__name__)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(self)

    def _lost(self, broker):
        if self._broker is broker:
            self._broker = None
            self._root = None
            log.info("link to {host}:{port} is down", host=self.host, port=self.port)

    def whenConnected(self):
        """A Deferred that fires with this client once a root is reachable."""
        if self._root is not None:
            return defer.succeed(self)
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def _caller(self, name):
        def call(*args, **kwargs):
            if self._root is None:
                return defer.fail(CloudError(
                    "Unavailable", "%s:%s is not connected" % (self.host, self.port), 503))
            return self._root.callRemote(name, *args, **kwargs).addErrback(
                rebuildCloudError)
        call.__name__ = name
        return call

    def stopService(self):
        if self._broker is not None and self._broker.transport is not None:
            self._broker.transport.loseConnection()
        return MultiService.stopService(self)


def reconnectBackoff():
    """Reconnect quickly at first, then back off to every 5 seconds."""
    from twisted.application.internet import backoffPolicy
    return backoffPolicy(initialDelay=0.2, maxDelay=5.0, factor=1.5)


def LinkServer(impl, interface, port, host, tlsOptions, reactor=None, endpoint=None):
    """
    A service that listens on ``host:port`` with ``tlsOptions`` (or on
    ``endpoint``, which must apply them itself) and publishes ``impl``
    (which must provide ``interface``) as the PB root.
    """
    if not interface.providedBy(impl):
        raise TypeError("%r does not provide %s" % (impl, interface.__name__))
    reactor = reactor or _defaultReactor
    if endpoint is None:
        endpoint = endpoints.SSL4ServerEndpoint(reactor, int(port), tlsOptions,
                                                interface=host)
    factory = pb.PBServerFactory(RemoteRoot(impl, interface))
    service = StreamServerEndpointService(endpoint, factory)
    service._raiseSynchronously = True
    return service
