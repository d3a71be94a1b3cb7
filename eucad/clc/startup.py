"""What the CLC does once its database is open, before serving requests.

It writes the default VM types into an empty table and finishes launches
that were in flight when the CLC last stopped (they never got an answer, so
they are marked terminated and their clusters are asked to drop them).  The
EC2 API asks ``isReady`` and answers 503 ServiceUnavailable until recovery
has succeeded (``tap`` wires the two together).
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from eucad.clc import instancestore
from eucad.clc.vmtypes import ensureDefaults
from eucad.common.errors import CloudError

log = Logger()


class CloudStartup(Service):
    """
    Runs ``recover`` when started; ``ready`` fires when it is done, and
    ``isReady()`` is true once it succeeded.  After a failed recovery the API
    stays closed (the log says why): serving on a half-recovered database
    would answer from state the recovery was meant to fix.
    """

    def __init__(self, cloud):
        self.cloud = cloud
        self.ready = None
        self.recovered = False

    def startService(self):
        Service.startService(self)
        self.ready = self.recover()
        self.ready.addCallbacks(self._recovered, lambda f: log.failure(
            "CLC start-up recovery failed; the EC2 API stays unavailable", f))

    def _recovered(self, _):
        self.recovered = True

    def isReady(self):
        """Whether recovery has finished and requests may be served."""
        return self.recovered

    @defer.inlineCallbacks
    def recover(self):
        cloud = self.cloud
        yield cloud.db.run(ensureDefaults)
        interrupted = yield cloud.db.run(instancestore.abandonUnplaced, cloud.now())
        for zone, instanceIds in interrupted.items():
            log.warn("launch of {ids} in {zone} was interrupted; terminating",
                     ids=" ".join(instanceIds), zone=zone)
            if zone not in cloud.clusters:
                continue
            try:
                yield cloud.clusters[zone].terminateInstances(instanceIds)
            except CloudError as e:
                log.warn("{zone} unreachable ({error}); the poller will retry",
                         zone=zone, error=e)
