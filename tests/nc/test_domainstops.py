"""A domain that stops by itself ends its instance at once, with the reason libvirt gives.

On libvirt's test:///default driver: shutting a domain down from another
connection is what a guest powering itself off looks like to the NC (the
same STOPPED/SHUTDOWN event), destroying it what an admin's ``virsh
destroy`` looks like.
"""

import os

import libvirt
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from eucad.nc.domainevents import stopReason
from eucad.nc.instances import STOP_EVENT_GRACE
from tests.nc.test_node import NodeTestCase, eventually


class StopReasonTests(unittest.TestCase):

    def test_reasons(self):
        """STOPPED events give their cause; a CRASHED event is a crash; other events none."""
        self.assertEqual(stopReason(libvirt.VIR_DOMAIN_EVENT_STOPPED,
                                    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
                         "the guest powered itself off")
        self.assertEqual(stopReason(libvirt.VIR_DOMAIN_EVENT_STOPPED,
                                    libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED),
                         "the domain crashed")
        self.assertEqual(stopReason(libvirt.VIR_DOMAIN_EVENT_CRASHED, 0), "the domain crashed")
        self.assertIsNone(stopReason(libvirt.VIR_DOMAIN_EVENT_STARTED, 0))
        self.assertIsNone(stopReason(libvirt.VIR_DOMAIN_EVENT_SUSPENDED, 0))


class DomainStopTests(NodeTestCase):

    @defer.inlineCallbacks
    def stoppedBehindTheNodesBack(self, stop):
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        instance = node.lifecycle.instances[spec.instanceId]
        generation = node.lifecycle.changes.generation
        stop(self.direct.lookupByName(spec.instanceId))
        # No describe, no poll: the event alone ends the instance.
        yield eventually(lambda: not instance.alive)
        yield eventually(lambda: not os.path.exists(instance.files.directory))
        self.assertNotEqual(node.lifecycle.changes.generation, generation)
        resources = yield node.describeResource()
        self.assertEqual(resources.freeCpu, resources.cpu)
        described = yield self.described(node, spec.instanceId)
        defer.returnValue(described)

    @defer.inlineCallbacks
    def test_guestPowersOff(self):
        """A guest that powers itself off is reported terminated for that reason, its files and room freed."""
        described = yield self.stoppedBehindTheNodesBack(lambda domain: domain.shutdown())
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the guest powered itself off"))

    @defer.inlineCallbacks
    def test_destroyedByHand(self):
        """A domain destroyed outside the NC ends its instance with that reason."""
        described = yield self.stoppedBehindTheNodesBack(lambda domain: domain.destroy())
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the domain was destroyed"))

    def nodeWithHeldEvents(self):
        """A node whose stop events reach it only when the test hands them over."""
        held = []

        class HeldEvents:
            def __init__(self, hypervisor):
                self.hypervisor = hypervisor

            def watchDomainStops(self, callback):
                held.append(callback)

            def __getattr__(self, name):
                return getattr(self.hypervisor, name)
        return self.makeNode(wrapHypervisor=HeldEvents), held

    @defer.inlineCallbacks
    def test_pollBeforeTheEventKeepsTheReason(self):
        """A describe that sees a powered-off domain gone before its stop event leaves the event to give the reason."""
        node, held = self.nodeWithHeldEvents()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        self.direct.lookupByName(spec.instanceId).shutdown()
        polled = yield self.described(node, spec.instanceId)
        self.assertEqual(polled.state, "running")
        self.clock.advance(STOP_EVENT_GRACE / 2)
        yield held[0](spec.instanceId, "the guest powered itself off")
        self.clock.advance(STOP_EVENT_GRACE)
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the guest powered itself off"))
        self.assertFalse(os.path.exists(node.lifecycle.instances[spec.instanceId]
                                        .files.directory))

    @defer.inlineCallbacks
    def test_noEventAfterTheGrace(self):
        """Without a stop event, a domain found gone ends its instance after the grace, as stopped."""
        node, held = self.nodeWithHeldEvents()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        generation = node.lifecycle.changes.generation
        self.direct.lookupByName(spec.instanceId).destroy()
        yield self.described(node, spec.instanceId)
        self.assertTrue(node.lifecycle.instances[spec.instanceId].alive)
        self.clock.advance(STOP_EVENT_GRACE)
        instance = node.lifecycle.instances[spec.instanceId]
        yield eventually(lambda: not os.path.exists(instance.files.directory))
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the domain stopped"))
        self.assertNotEqual(node.lifecycle.changes.generation, generation)

    def nodeSeeingShutdown(self):
        """
        A node whose stop events reach it only when the test hands them over
        (``held``), and whose listings show the domains named in
        ``shuttingDown`` in libvirt's SHUTDOWN state: what a listing taken
        while a powered-off guest's qemu still exits shows.
        """
        held, shuttingDown = [], set()

        class SeesShutdown:
            def __init__(self, hypervisor):
                self.hypervisor = hypervisor

            def watchDomainStops(self, callback):
                held.append(callback)

            @defer.inlineCallbacks
            def listDomains(self, **options):
                domains = yield self.hypervisor.listDomains(**options)
                for domain in domains:
                    if domain.name in shuttingDown:
                        domain.state = "shutting-down"
                defer.returnValue(domains)

            def __getattr__(self, name):
                return getattr(self.hypervisor, name)
        return self.makeNode(wrapHypervisor=SeesShutdown), held, shuttingDown

    @defer.inlineCallbacks
    def guestSeenShuttingDown(self):
        """
        A running instance that a listing saw shutting down, and whose guest
        then stopped: (node, held stop events, its spec).
        """
        node, held, shuttingDown = self.nodeSeeingShutdown()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        shuttingDown.add(spec.instanceId)
        described = yield self.described(node, spec.instanceId)
        self.assertEqual(described.state, "shutting-down")
        self.direct.lookupByName(spec.instanceId).shutdown()
        defer.returnValue((node, held, spec))

    @defer.inlineCallbacks
    def test_seenShuttingDownThenStopped(self):
        """A guest a listing saw shutting down is ended by its stop event, with its reason: it is not the NC's own terminate."""
        node, held, spec = yield self.guestSeenShuttingDown()
        yield held[0](spec.instanceId, "the guest powered itself off")
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the guest powered itself off"))
        self.assertFalse(os.path.exists(node.lifecycle.instances[spec.instanceId]
                                        .files.directory))

    @defer.inlineCallbacks
    def test_seenShuttingDownThenGone(self):
        """A guest a listing saw shutting down, whose stop event never comes, ends once a listing finds its domain gone."""
        node, held, spec = yield self.guestSeenShuttingDown()
        yield self.described(node, spec.instanceId)
        self.clock.advance(STOP_EVENT_GRACE)
        instance = node.lifecycle.instances[spec.instanceId]
        yield eventually(lambda: not os.path.exists(instance.files.directory))
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the domain stopped"))

    def nodeWithLateListing(self):
        """
        A node on the real hypervisor whose createXML and first listing the
        test paces, and whose stop events never reach it: createDomain waits
        for ``createNow``; the first listDomains asked for while it waits is
        taken at once (``listed`` fires with it) but delivered only on
        ``deliver``; the others (the start's restore included) as usual.
        """
        direct = self.direct

        class Paced:
            def __init__(self, real):
                self.real = real
                self.creating = defer.Deferred()
                self.createNow = defer.Deferred()
                self.listed = defer.Deferred()
                self.deliver = defer.Deferred()

            def __getattr__(self, name):
                return getattr(self.real, name)

            def watchDomainStops(self, callback):
                pass

            @defer.inlineCallbacks
            def createDomain(self, xml):
                self.creating.callback(None)
                yield self.createNow
                direct.createXML(xml, 0)
                defer.returnValue("running")

            @defer.inlineCallbacks
            def listDomains(self, **options):
                paced = self.creating.called and not self.createNow.called
                domains = yield self.real.listDomains(**options)
                if paced and not self.listed.called:
                    self.listed.callback(domains)
                    yield self.deliver
                defer.returnValue(domains)
        paced = []
        node = self.makeNode(wrapHypervisor=lambda real: paced.append(Paced(real)) or paced[0])
        return node, paced[0]

    @defer.inlineCallbacks
    def test_listingOlderThanTheDomain(self):
        """A listing asked for during createXML, merged after the launch, does not end the instance; the next one judges it."""
        node, paced = self.nodeWithLateListing()
        spec = self.spec()
        yield node.runInstance(spec)
        yield paced.creating
        describing = self.described(node, spec.instanceId)
        listed = yield paced.listed
        self.assertNotIn(spec.instanceId, [domain.name for domain in listed])
        paced.createNow.callback(None)
        yield node.lifecycle.launched(spec.instanceId)
        instance = node.lifecycle.instances[spec.instanceId]
        self.assertEqual(instance.state, "running")
        paced.deliver.callback(None)
        yield describing
        self.clock.advance(STOP_EVENT_GRACE)
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason), ("running", None))
        self.assertTrue(os.path.exists(instance.files.directory))
        self.assertIsNotNone(self.direct.lookupByName(spec.instanceId))
        # A listing asked for once the launch is over sees the domain gone.
        self.direct.lookupByName(spec.instanceId).destroy()
        yield self.described(node, spec.instanceId)
        self.clock.advance(STOP_EVENT_GRACE)
        yield eventually(lambda: not os.path.exists(instance.files.directory))
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "the domain stopped"))

    @defer.inlineCallbacks
    def test_ownTerminateKeepsItsReason(self):
        """The stop event of the NC's own terminate does not change why the instance ended."""
        node = self.makeNode()
        spec = self.spec()
        yield self.runToEnd(node, spec)
        yield node.terminateInstance(spec.instanceId)
        # Let the event of that destroy arrive.
        yield task.deferLater(reactor, 0.3, lambda: None)
        described = yield self.described(node, spec.instanceId)
        self.assertEqual((described.state, described.reason),
                         ("terminated", "terminated by request"))
