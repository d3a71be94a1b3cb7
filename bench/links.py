"""What typed, checked records cost on a PB link, against plain dicts in the same run.

    .venv/bin/python bench/links.py [--instances 200] [--calls 50] [--repeats 7]

Figure: ``describeInstances`` answered with ``--instances`` ``InstanceReport``s
through ``NodeLink`` and ``NodeRoot`` (each report checked when it is made
and again when PB unpacks it, and the answer's kind checked by the facade)
vs the reference: the same reports as plain dicts through a bare ``pb.Root``
and ``callRemote``, what the link sent before it carried records.  Both run
on one in-memory connection each (``twisted.test.iosim``), so the figure is
serialisation and checking, not the network.  Rounds are interleaved
(reference, records, ...) after a warm-up; medians are compared and the
spread printed.  Target: records >= 0.5 x the dict reference.
"""

import argparse
import statistics
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(
    __import__("os").path.abspath(__file__))))

from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint  # noqa: E402
from twisted.internet.testing import MemoryReactorClock  # noqa: E402
from twisted.spread import pb  # noqa: E402
from twisted.test.iosim import ConnectionCompleter  # noqa: E402
from zope.interface import implementer  # noqa: E402

from eucad.common import pblink  # noqa: E402
from eucad.common.interfaces import INode  # noqa: E402
from eucad.common.links import NodeLink, NodeRoot  # noqa: E402
from eucad.common.records import InstanceReport, RunSpec  # noqa: E402


def sampleReports(count):
    spec = RunSpec.fromDict({
        "instanceId": "i-00000000", "reservationId": "r-0000abcd", "owner": "alice",
        "image": {"id": "emi-0000aaaa", "kind": "machine", "location": "/images/m.img"},
        "kernel": {"id": "eki-0000bbbb", "kind": "kernel", "location": "/images/k"},
        "vmType": {"name": "m1.small", "cpu": 1, "ram": 128, "disk": 10},
        "keyName": "alicekey", "network": {"owner": "alice", "macAddress": "d0:0d:00:00:00:01",
                                           "privateIp": "10.77.0.10", "bridge": "br0"}})
    return [InstanceReport.ofSpec(spec.replace(instanceId="i-%08x" % (n,)), "running",
                                  1700000000, node="10.0.0.2:8775", reason="")
            for n in range(count)]


@implementer(INode)
class StaticNode:
    def __init__(self, reports):
        self.reports = reports

    def describeInstances(self):
        return self.reports

    describeResource = runInstance = terminateInstance = waitForChange = None


class DictRoot(pb.Root):
    """The reference: plain dicts through a bare root."""

    def __init__(self, dicts):
        self.dicts = dicts

    def remote_describeInstances(self):
        return self.dicts


def pair(root, clientFactory):
    """A server for ``root`` and a client from ``clientFactory``, paired in memory."""
    reactor = MemoryReactorClock()
    server = pblink.LinkServer(root, 4321, "127.0.0.1", None,
                               endpoint=TCP4ServerEndpoint(reactor, 4321))
    server.startService()
    client = clientFactory(reactor, TCP4ClientEndpoint(reactor, "127.0.0.1", 4321))
    client.startService()
    pump = ConnectionCompleter(reactor).succeedOnce()
    return client, pump


def timeCalls(call, pump, calls):
    started = time.perf_counter()
    for _ in range(calls):
        box = []
        call().addBoth(box.append)
        pump.flush()
        if not box or isinstance(box[0], Exception) or hasattr(box[0], "raiseException"):
            raise SystemExit("a call failed: %r" % (box,))
    return calls / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    reports = sampleReports(args.instances)
    typed, typedPump = pair(NodeRoot(StaticNode(reports)), lambda reactor, endpoint: NodeLink(
        "127.0.0.1", 4321, None, reactor=reactor, endpoint=endpoint))
    plain, plainPump = pair(DictRoot([r.toDict() for r in reports]),
                            lambda reactor, endpoint: pblink.LinkClient(
                                "127.0.0.1", 4321, None, reactor=reactor, endpoint=endpoint))
    runs = {"records": (typed.describeInstances, typedPump),
            "dicts": (lambda: plain.callRemote("describeInstances"), plainPump)}
    for call, pump in runs.values():
        timeCalls(call, pump, max(1, args.calls // 5))
    rates = {"records": [], "dicts": []}
    for _ in range(args.repeats):
        for name in ("dicts", "records"):
            call, pump = runs[name]
            rates[name].append(timeCalls(call, pump, args.calls))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name in ("records", "dicts"):
        print("%-8s describeInstances of %d: %8.1f calls/s (%8.0f reports/s), spread %.1f-%.1f"
              % (name, args.instances, medians[name], medians[name] * args.instances,
                 min(rates[name]), max(rates[name])))
    print("ratio records / dicts: %.2f (target >= 0.5)" % (medians["records"] / medians["dicts"],))


if __name__ == "__main__":
    main()
