"""libvirt's domain lifecycle events, as "this domain stopped, for this reason".

A guest that powers itself off or a domain that crashes disappears (the
instances are transient domains with ``on_poweroff``/``on_crash`` set to
destroy); polling libvirt would notice only at the next describe and could
not say why.  libvirt tells at once, with the cause, through its events, which
need libvirt's default event loop running in a thread of its own: started
here once per process, before the hypervisor opens its connection.

``Hypervisor`` registers ``DomainStopWatch.lifecycleEvent`` on every
connection it opens; the watch hands ``(domain name, reason)`` to its
callback on the reactor thread (``callFromThread``).  Used by
``eucad.nc.hypervisor``; the callback is ``InstanceLifecycle.domainStopped``.
"""

import threading

import libvirt
from twisted.logger import Logger

log = Logger()

#: Why a domain stopped, by the detail of libvirt's STOPPED event.
STOP_REASONS = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "the guest powered itself off",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "the domain was destroyed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "the domain crashed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: "the hypervisor failed the domain",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED: "the domain migrated away",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED: "the domain was saved",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: "the domain was reverted",
}

_loopLock = threading.Lock()
_loopStarted = False


def _runEventLoop():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError as e:
            log.warn("libvirt event loop: {e}", e=e)


def ensureEventLoop():
    """
    Start libvirt's default event loop in a daemon thread, once per process.
    It must run before a connection that wants events is opened.
    """
    global _loopStarted
    with _loopLock:
        if _loopStarted:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_runEventLoop, name="libvirt-events", daemon=True).start()
        _loopStarted = True


def stopReason(event, detail):
    """The reason for a lifecycle event that ends a domain, or None for any other."""
    if event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
        return "the domain crashed"
    if event != libvirt.VIR_DOMAIN_EVENT_STOPPED:
        return None
    return STOP_REASONS.get(detail, "the domain stopped")


class DomainStopWatch:
    """
    Calls ``callback(name, reason)`` on the reactor thread whenever a domain
    stops (or crashes).

    @param reactor: an IReactorThreads (``callFromThread``).
    """

    def __init__(self, callback, reactor):
        self.callback = callback
        self.reactor = reactor

    def register(self, connection):
        """
        Listen on ``connection`` (a pool thread, right after opening it).

        @return: the callback's id, for ``unregister``.
        """
        return connection.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self.lifecycleEvent, None)

    @staticmethod
    def unregister(connection, callbackId):
        """Stop listening on ``connection`` before it is closed; a broken one is let go."""
        try:
            connection.domainEventDeregisterAny(callbackId)
        except libvirt.libvirtError:
            pass

    def lifecycleEvent(self, connection, domain, event, detail, opaque):
        """libvirt's callback, in its event loop thread."""
        reason = stopReason(event, detail)
        if reason is not None:
            self.reactor.callFromThread(self.callback, domain.name(), reason)
