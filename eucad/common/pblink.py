"""Perspective Broker over mutual TLS: the connection under each link's facade.

``LinkClient`` is the calling side of a link: a service that keeps one
connection up (reconnecting with backoff through ``ClientService``) and
offers ``callRemote``, which fails at once with ``CloudError("Unavailable")``
while the link is down and turns every remote failure back into a
``CloudError``.  The facades of ``eucad.common.links`` subclass it, one
method per remote operation; nothing else calls ``callRemote``.

``LinkRoot`` is the base of the PB roots that publish a tier (its
``remote_*`` methods, one per operation, in ``eucad.common.links``): it sends
a ``CloudError`` raised below as it is and any other exception as an
``InternalError``, logged here rather than sent as a traceback.
``LinkServer`` listens with TLS and serves a root.
"""

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService, Service
from twisted.internet import defer, endpoints, protocol
from twisted.logger import Logger
from twisted.spread import pb

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


def _remoteTypeName(failure):
    remoteType = failure.type
    if isinstance(remoteType, bytes):
        remoteType = remoteType.decode("utf-8", "replace")
    return remoteType if isinstance(remoteType, str) else ""


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
    remoteType = _remoteTypeName(failure)
    if remoteType.endswith("CloudError"):
        text = failure.value if isinstance(failure.value, (str, bytes)) else str(
            failure.value)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        code, _, message = text.partition(": ")
        raise CloudError(code, message, _STATUS_BY_CODE.get(code, 400))
    if remoteType.endswith("NoSuchMethod"):
        raise CloudError("InvalidAction", "the peer has no such operation")
    if failure.check(pb.PBConnectionLost):
        raise CloudError("Unavailable", "lost the connection during the call", 503)
    raise CloudError("InternalError", failure.getErrorMessage(), 500)


class _LinkBroker(pb.Broker):
    """A client broker that tells its LinkClient why its connection ended."""

    def connectionLost(self, reason):
        self.factory.client.lastDisconnectReason = reason
        pb.Broker.connectionLost(self, reason)


class _LinkFactory(protocol.Factory):
    """Builds client brokers and tells the LinkClient when one is ready."""

    def __init__(self, client):
        self.client = client

    def buildProtocol(self, addr):
        broker = _LinkBroker(isClient=True)
        broker.factory = self
        return broker

    def clientConnectionMade(self, broker):
        self.client.brokerReady(broker)


def reconnectBackoff():
    """Reconnect quickly at first, then back off to every 5 seconds."""
    return backoffPolicy(initialDelay=0.2, maxDelay=5.0, factor=1.5)


class LinkClient(MultiService):
    """
    The calling side of a link: keeps a PB connection to ``host:port`` over
    TLS.  While disconnected every call fails at once with
    ``CloudError("Unavailable")``, so that a CC or NC that is down never
    hangs its caller; a call in flight when the connection drops fails the
    same way.

    @param endpoint: where to connect; by default TLS to ``host:port`` with
        ``tlsOptions`` (tests pass an in-memory endpoint).
    @ivar lastDisconnectReason: the Failure the last connection ended with
        (None before any ended): a refused certificate shows there
        (``eucad.common.certstatus``).
    """

    def __init__(self, host, port, tlsOptions, reactor=None, retryPolicy=None,
                 endpoint=None):
        MultiService.__init__(self)
        if reactor is None:
            from twisted.internet import reactor
        self.host = host
        self.port = int(port)
        self.reactor = reactor
        self.root = None
        self.broker = None
        self._waiters = []
        self._inFlight = set()
        self.lastDisconnectReason = None
        #: How many connections were made so far: a caller that must resend
        #: state after a reconnect compares it with the count it last saw.
        self.connectionCount = 0
        if endpoint is None:
            endpoint = endpoints.SSL4ClientEndpoint(self.reactor, host, self.port,
                                                    tlsOptions, timeout=10)
        self.clientService = ClientService(
            endpoint, _LinkFactory(self),
            retryPolicy=retryPolicy if retryPolicy is not None else reconnectBackoff(),
            clock=self.reactor)
        self.clientService.setServiceParent(self)

    def __repr__(self):
        return "<%s %s:%s>" % (type(self).__name__, self.host, self.port)

    @property
    def connected(self):
        return self.root is not None

    def brokerReady(self, broker):
        """A connection is up (called by the factory): calls go through it from now."""
        self.broker = broker
        self.root = broker.remoteForName("root")
        self.connectionCount += 1
        broker.notifyOnDisconnect(lambda: self._lost(broker))
        log.info("link to {host}:{port} ({kind}) is up", host=self.host,
                 port=self.port, kind=type(self).__name__)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(self)

    def _lost(self, broker):
        if self.broker is not broker:
            return
        self.broker = None
        self.root = None
        log.info("link to {host}:{port} is down", host=self.host, port=self.port)
        inFlight, self._inFlight = self._inFlight, set()
        for answer in inFlight:
            if not answer.called:
                answer.errback(CloudError(
                    "Unavailable", "lost the connection during the call", 503))

    def whenConnected(self):
        """A Deferred that fires with this client once a root is reachable."""
        if self.root is not None:
            return defer.succeed(self)
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def disconnect(self):
        """Drop the current connection (the client service dials again)."""
        if self.broker is not None and self.broker.transport is not None:
            self.broker.transport.loseConnection()

    def callRemote(self, operation, *args):
        """
        Call ``operation`` on the peer's root.

        @return: a Deferred firing with the answer, or failing with a
            ``CloudError`` (a cancellation by the caller stays one).
        """
        if self.root is None:
            return defer.fail(CloudError(
                "Unavailable", "%s:%s is not connected" % (self.host, self.port), 503))
        answer = defer.Deferred(lambda d: call.cancel())
        self._inFlight.add(answer)

        def settle(result):
            self._inFlight.discard(answer)
            if not answer.called:
                answer.callback(result)
        call = self.root.callRemote(operation, *args)
        call.addBoth(settle)
        return answer.addErrback(rebuildCloudError)

    def stopService(self):
        self.disconnect()
        return MultiService.stopService(self)


class LinkRoot(pb.Root):
    """
    Base of the PB roots that publish a tier; subclasses define one
    ``remote_*`` method per operation, each returning ``self.answer(...)``.
    """

    def answer(self, operation, function, *args):
        """
        Run ``function(*args)`` for the remote ``operation``; a CloudError is
        sent as it is, anything else is logged and sent as InternalError.
        """
        d = defer.maybeDeferred(function, *args)

        def unexpected(failure):
            if failure.check(CloudError):
                return failure
            log.failure("{op} failed", failure, op=operation)
            raise CloudError("InternalError", "%s failed: %s" % (
                operation, failure.getErrorMessage()), 500)
        return d.addErrback(unexpected)


class LinkServer(Service):
    """
    Listens on ``host:port`` with ``tlsOptions`` and serves ``root`` (a
    ``LinkRoot``).  A port that cannot be bound fails ``startService`` at
    once, so the daemon does not run deaf.

    @ivar listeningPort: the IListeningPort once started (tests read the
        port number from it).
    """

    def __init__(self, root, port, host, tlsOptions, reactor=None, endpoint=None):
        if reactor is None:
            from twisted.internet import reactor
        if endpoint is None:
            endpoint = endpoints.SSL4ServerEndpoint(reactor, int(port), tlsOptions,
                                                    interface=host)
        self.root = root
        self.endpoint = endpoint
        self.factory = pb.PBServerFactory(root)
        self.listeningPort = None

    def startService(self):
        Service.startService(self)
        failures, starting = [], [True]

        def listened(port):
            self.listeningPort = port

        def failed(failure):
            if not starting[0]:
                log.failure("cannot listen for the link", failure)
            failures.append(failure)
        self.endpoint.listen(self.factory).addCallbacks(listened, failed)
        starting[0] = False
        if failures:
            # Bound (or not) at once, as TCP and TLS endpoints are.
            Service.stopService(self)
            failures[0].raiseException()

    def stopService(self):
        Service.stopService(self)
        if self.listeningPort is not None:
            port, self.listeningPort = self.listeningPort, None
            return defer.maybeDeferred(port.stopListening)
        return defer.succeed(None)
