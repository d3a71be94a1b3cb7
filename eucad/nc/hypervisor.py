"""The node controller's only door to libvirt.

libvirt-python calls block (a createXML on a real host takes 0.3 s, a
broken daemon can hang much longer), so every call runs in this module's own
thread pool and comes back as a Deferred; the reactor never waits on libvirt.
The connection is opened lazily in a pool thread and reopened when libvirt
says it broke, so a restarted libvirtd costs the NC one failed call, not a
restart.  The rest of the NC sees plain data: domain names, eucad states and
domain XML strings, never libvirt objects.
"""

import threading

import libvirt
from twisted.application.service import Service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from eucad.nc.domainevents import DomainStopWatch, ensureEventLoop

log = Logger()

# libvirt otherwise prints every error (including "domain not found", which
# we expect) on stderr.
libvirt.registerErrorHandler(lambda *args: None, None)

#: Error codes meaning the connection itself is gone, not the request.
_CONNECTION_ERRORS = frozenset([
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_AUTH_FAILED,
])

#: libvirt domain states as the instance states eucad reports.
_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "pending",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "running",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "running",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down",
    libvirt.VIR_DOMAIN_SHUTOFF: "terminated",
    libvirt.VIR_DOMAIN_CRASHED: "terminated",
}


def instanceState(libvirtState):
    """The eucad instance state for a libvirt ``virDomainState`` code."""
    return _STATES.get(libvirtState, "pending")


class HypervisorUnavailable(Exception):
    """libvirt cannot be reached; the next call will try to reconnect."""


class HypervisorError(Exception):
    """libvirt refused a request; ``code`` is libvirt's error code."""

    def __init__(self, message, code=None):
        Exception.__init__(self, message)
        self.code = code


class DomainInfo:
    """What the NC needs to know about one libvirt domain."""

    def __init__(self, name, state, xml):
        self.name = name
        self.state = state
        self.xml = xml

    def __repr__(self):
        return "<DomainInfo %s %s>" % (self.name, self.state)


class Hypervisor(Service):
    """
    A libvirt connection used only from its own thread pool.

    @param uri: the libvirt URI (LIBVIRT_URI), e.g. ``test:///default`` or
        ``qemu+unix:///system?socket=/x/run/libvirt-sock``.
    @param opener: opens a connection (``libvirt.open``); injectable so a
        test can make the connection break.
    """

    def __init__(self, uri, reactor=None, maxThreads=4, opener=None):
        self.uri = uri
        self.reactor = reactor
        self.opener = opener or libvirt.open
        self.pool = ThreadPool(minthreads=0, maxthreads=maxThreads,
                               name="libvirt")
        self._connection = None
        self._connectionLock = threading.Lock()
        self._stopWatch = None
        self._stopWatchId = None

    def watchDomainStops(self, callback):
        """
        Have ``callback(name, reason)`` called on the reactor thread whenever
        a domain stops or crashes (``eucad.nc.domainevents``), on this and
        every later connection.
        """
        self._stopWatch = DomainStopWatch(callback, self._reactor())
        if self.running:
            ensureEventLoop()

    def __repr__(self):
        return "<Hypervisor %s>" % (self.uri,)

    def startService(self):
        Service.startService(self)
        if self._stopWatch is not None:
            ensureEventLoop()
        self.pool.start()

    def stopService(self):
        Service.stopService(self)
        # Stopping joins the pool's threads: do it off the reactor thread.
        return threads.deferToThread(self._stopPool)

    def _stopPool(self):
        self.pool.stop()
        with self._connectionLock:
            self._dropConnection()

    # -- plumbing -----------------------------------------------------------

    def _reactor(self):
        if self.reactor is None:
            from twisted.internet import reactor
            self.reactor = reactor
        return self.reactor

    def _connect(self):
        """The live connection, (re)opened if needed.  Pool threads only."""
        with self._connectionLock:
            if self._connection is not None:
                try:
                    if self._connection.isAlive():
                        return self._connection
                except libvirt.libvirtError:
                    pass
                log.warn("libvirt connection to {uri} broke; reconnecting",
                         uri=self.uri)
                self._dropConnection()
            try:
                self._connection = self.opener(self.uri)
            except libvirt.libvirtError as e:
                raise HypervisorUnavailable("cannot connect to %s: %s" % (
                    self.uri, e.get_error_message()))
            if self._stopWatch is not None:
                try:
                    self._stopWatchId = self._stopWatch.register(self._connection)
                except libvirt.libvirtError as e:
                    # Describes still notice stopped domains, only later.
                    log.warn("no domain events from {uri}: {e}", uri=self.uri,
                             e=e.get_error_message())
            return self._connection

    def _dropConnection(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._stopWatchId is not None:
                self._stopWatch.unregister(connection, self._stopWatchId)
                self._stopWatchId = None
            try:
                connection.close()
            except libvirt.libvirtError:
                pass

    def _inPool(self, connection, function, args):
        try:
            return function(connection, *args)
        except libvirt.libvirtError as e:
            code = e.get_error_code()
            if code in _CONNECTION_ERRORS:
                with self._connectionLock:
                    if self._connection is connection:
                        self._dropConnection()
                raise HypervisorUnavailable("libvirt at %s: %s" % (
                    self.uri, e.get_error_message()))
            raise HypervisorError(e.get_error_message(), code)

    def call(self, function, *args):
        """
        Run ``function(connection, *args)`` in the pool.

        @return: Deferred with its result; failing with HypervisorUnavailable
            when the connection is down (it is reopened on the next call) or
            HypervisorError for anything else libvirt refused.
        """
        if not self.pool.started:
            return defer.fail(HypervisorUnavailable("hypervisor not started"))

        def work():
            return self._inPool(self._connect(), function, args)
        return threads.deferToThreadPool(self._reactor(), self.pool, work)

    # -- operations ---------------------------------------------------------

    def driverType(self):
        """libvirt's driver name for this connection: ``QEMU``, ``TEST``..."""
        return self.call(lambda connection: connection.getType())

    def domainCapabilities(self, virtType):
        """
        The domain capabilities XML for ``virtType`` (``kvm`` or ``qemu``),
        or None when the driver does not offer that type (or the call).
        """
        def capabilities(connection):
            try:
                return connection.getDomainCapabilities(None, None, None, virtType, 0)
            except libvirt.libvirtError as e:
                if e.get_error_code() in _CONNECTION_ERRORS:
                    raise
                return None
        return self.call(capabilities)

    def createDomain(self, xml):
        """Start a transient domain; fire with its eucad state."""
        def create(connection):
            domain = connection.createXML(xml, 0)
            return instanceState(domain.state()[0])
        return self.call(create)

    def domainState(self, name):
        """The eucad state of domain ``name``, or None when it does not exist."""
        def state(connection):
            try:
                return instanceState(connection.lookupByName(name).state()[0])
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return None
                raise
        return self.call(state)

    def destroyDomain(self, name):
        """Stop domain ``name`` at once; fire True if it existed, else False."""
        def destroy(connection):
            try:
                connection.lookupByName(name).destroy()
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return False
                raise
            return True
        return self.call(destroy)

    def resetDomain(self, name):
        """
        Restart domain ``name`` in place, as a reset button does: the same
        domain and disks, no cooperation asked of the guest (an ACPI reboot
        request is ignored by a guest without an ACPI daemon, as the test
        image is).  Fire True if it existed, else False.
        """
        def reset(connection):
            try:
                connection.lookupByName(name).reset(0)
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return False
                raise
            return True
        return self.call(reset)

    def listDomains(self, withXml=False):
        """
        Every active domain as a DomainInfo (``xml`` is None unless asked
        for).  A domain that disappears while being listed is left out.
        """
        def listing(connection):
            found = []
            flags = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
            for domain in connection.listAllDomains(flags):
                try:
                    state = instanceState(domain.state()[0])
                    xml = domain.XMLDesc(0) if withXml else None
                except libvirt.libvirtError as e:
                    if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        continue
                    raise
                found.append(DomainInfo(domain.name(), state, xml))
            return found
        return self.call(listing)
