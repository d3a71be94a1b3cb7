"""The network side of running instances: allocate, place into the spec, release.

``ClusterController`` hands the records of one request to
``NetworkAllocation.allocate`` (all or none: a failure releases what the
request already took), builds each node's spec with ``placedSpec`` (the
``RunSpec`` with the MAC, addresses, bridge and MTU the mode chose), and
releases an instance's network once its node confirms the termination.  The
mode itself (``eucad.cc.vnet``: SYSTEM, STATIC, and the MANAGED modes as they
come) decides what each instance gets; this module only keeps records and
mode in step.  DHCP is ``eucad.cc.dhcprefresh``'s job.
"""

from twisted.internet import defer
from twisted.logger import Logger

from eucad.common.errors import CloudError

log = Logger()


class NetworkAllocation:
    """
    @param network: the mode's ``VirtualNetwork``.
    @param nodeAddress: ``f(node name) -> address`` of the node on the
        cluster's network (VXLAN endpoints), or None when unknown.
    """

    def __init__(self, network, nodeAddress=None):
        self.network = network
        self.nodeAddress = nodeAddress or (lambda node: None)

    @defer.inlineCallbacks
    def allocate(self, records):
        """
        Allocate the network of every record (``record["network"]``), all or
        none.

        @raise CloudError: the mode's own error (nothing left to give), or
            InternalError for anything unexpected; what the request took is
            released then.
        """
        try:
            for record in records:
                allocation = yield defer.maybeDeferred(
                    self.network.allocate, record["instanceId"],
                    record["group"]["owner"], record["group"]["group"],
                    node=self.nodeAddress(record["node"]))
                record["network"] = dict(allocation)
        except Exception as e:
            for record in records:
                self.release(record["instanceId"])
            if isinstance(e, CloudError):
                raise
            log.failure("allocating the network failed")
            raise CloudError("InternalError", "allocating the network failed: %s" % (e,),
                             500) from None

    def release(self, instanceId):
        """Give back what ``instanceId`` holds; failures are logged, never raised."""
        released = defer.maybeDeferred(self.network.release, instanceId)
        released.addErrback(lambda f: log.failure("releasing {id}'s network", f,
                                                  id=instanceId))
        return released

    def adopt(self, record):
        """Take back a record's allocation after a restart."""
        self.network.adopt(record["instanceId"], record["network"])

    def learn(self, record, privateIp):
        """
        An address found after the launch (SYSTEM mode); True when the
        record's allocation changed with it.
        """
        if self.network.learn(record["instanceId"], privateIp):
            record["network"] = dict(self.network.allocations[record["instanceId"]])
            return True
        return False

    def placedSpec(self, record):
        """The ``RunSpec`` the node gets: the record's spec, its network placed."""
        allocation = record["network"]
        nodeNetwork = self.network.nodeNetwork(allocation, record["group"]["owner"],
                                               record["group"]["group"])
        placed = {key: value for key, value in nodeNetwork.items()
                  if key not in ("owner", "group")}
        return record["spec"].withNetwork(macAddress=allocation["macAddress"], **placed)
