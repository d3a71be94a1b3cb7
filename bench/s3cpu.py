"""Walrus's own CPU per small request, in one process, without sockets or clients.

    .venv/bin/python bench/s3cpu.py [--requests 20000] [--ops get,head,put,delete]
                                    [--scheme v2|v4] [--profile get] [--sort tottime]

What the 4 KiB figures of bench/s3.py cost the server alone: a real Walrus
(SQLite database and blob files in a temporary directory, the daemon's
Site, channel and HTTP guard) is fed the raw bytes of signed keep-alive
requests on one in-memory connection, and answers into it.  Database and
file work run in the calling thread, so a request is answered before its
bytes are handed back and the process's CPU time per request is all of
Walrus's work for it: parsing, authentication, policy and ACL checks, the
store, the answer.  The clients, the kernel's sockets and the thread hops
of the daemon are left out, which makes the figure steady enough to
compare two versions of the code on a loaded machine (run one, then the
other, alternately: ``PYTHONPATH=/some/other/tree python bench/s3cpu.py``).

``bare`` is the floor: the same GETs answered with 4 KiB by a plain
twisted.web Site whose one leaf resource returns them (no Walrus at all).
``get`` and ``head`` read 4 KiB objects that the object cache
(eucad.walrus.objectcache) holds, as a client repeating GETs finds them;
``put`` writes new 4 KiB objects (durably: the fsyncs count in wall time,
not in CPU) and ``delete`` removes them.  ``--profile OP`` prints
cProfile's table for that operation.  Requests are SigV2-signed as
bench/s3.py's clients sign them, or SigV4-signed (header, payload hash) as
boto3 signs them.
"""

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, ROOT)

from twisted.internet import defer, task  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from eucad.common import accounts  # noqa: E402
from eucad.common.config import EucaConf  # noqa: E402
from eucad.common.db import Database  # noqa: E402
from eucad.common.httpguard import guardSite  # noqa: E402
from eucad.walrus.app import buildWalrus  # noqa: E402
from eucad.walrus.refusals import s3Limits  # noqa: E402
from eucad.walrus.service import makeSite  # noqa: E402

HOST = "127.0.0.1:8773"
PAYLOAD = os.urandom(4096)


class CallerDatabase(Database):
    """The real Database, its transactions run in the caller's thread."""

    def run(self, fn, *args, **kwargs):
        return defer.maybeDeferred(self.transact, fn, *args, **kwargs)


def callerIo(fn, *args, **kwargs):
    return defer.maybeDeferred(fn, *args, **kwargs)


class Signer:
    """Request bytes signed as bench/s3.py (SigV2) or boto3 (SigV4) signs them."""

    def __init__(self, accessKey, secret, scheme):
        self.accessKey = accessKey
        self.secret = secret
        self.scheme = scheme

    def request(self, method, path, body=b"", contentType=""):
        headers = self._signed(method, path, body, contentType)
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + HOST,
                 "Accept-Encoding: identity"]
        if body or method in ("PUT", "POST"):
            lines.append("Content-Length: %d" % len(body))
        lines += ["%s: %s" % item for item in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _signed(self, method, path, body, contentType):
        """The headers botocore signs the request with (SigV2, or SigV4 as boto3 sends it)."""
        from botocore.auth import HmacV1Auth, S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        headers = {"Content-Type": contentType} if contentType else {}
        request = AWSRequest(method=method, url="http://%s%s" % (HOST, path), data=body,
                             headers=headers)
        credentials = Credentials(self.accessKey, self.secret)
        if self.scheme == "v2":
            HmacV1Auth(credentials).add_auth(request)
        else:
            request.headers["User-Agent"] = "Boto3/1.34 md/Botocore#1.34 Python/3.11"
            request.headers["amz-sdk-invocation-id"] = "8a4b4b52-9f7a-4d6c-a1a3-6d1c2f4f0e57"
            request.headers["amz-sdk-request"] = "attempt=1"
            S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() != "host"}

class Connection:
    """One keep-alive connection to the daemon's Site, in memory."""

    def __init__(self, site):
        self.transport = StringTransport(hostAddress=IPv4Address("TCP", "127.0.0.1", 8773),
                                         peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        self.protocol = site.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def send(self, raw):
        """The raw answer to ``raw`` (one request)."""
        self.transport.clear()
        self.protocol.dataReceived(raw)
        return self.transport.value()


def bareSite():
    """A plain twisted.web Site answering every GET with the same 4 KiB."""
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    class Leaf(Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"Content-Type", b"application/octet-stream")
            return PAYLOAD
    return Site(Leaf())


def expect(answer, status, bodyLength=None):
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 %d " % status) or (
            bodyLength is not None and len(body) != bodyLength):
        raise SystemExit("unexpected answer: %r" % (answer[:300],))


class Sampler:
    """
    Where the main thread spends its time, by sampling its stack from
    another thread every ``interval`` seconds: unlike cProfile, it does not
    slow small functions down more than large ones.  ``report()`` prints
    the share of samples each function (file:line name) was on the stack
    for (inclusive) and at the top of (exclusive).
    """

    def __init__(self, interval=0.0002):
        import collections
        import threading
        self.interval = interval
        self.inclusive = collections.Counter()
        self.exclusive = collections.Counter()
        self.samples = 0
        self.target = threading.get_ident()
        self.running = False
        self.thread = None

    def _run(self):
        frames = sys._current_frames
        while self.running:
            time.sleep(self.interval)
            frame = frames().get(self.target)
            if frame is None:
                continue
            self.samples += 1
            seen = set()
            top = True
            while frame is not None:
                code = frame.f_code
                name = "%s:%d %s" % (os.path.relpath(code.co_filename, ROOT)
                                     if code.co_filename.startswith(ROOT)
                                     else os.path.basename(code.co_filename),
                                     code.co_firstlineno, code.co_name)
                if top:
                    self.exclusive[name] += 1
                    top = False
                if name not in seen:
                    seen.add(name)
                    self.inclusive[name] += 1
                frame = frame.f_back

    def enable(self):
        import threading
        # The sampler runs when the main thread lets go of the GIL: asked
        # to every 50 us, it does so at its next function call or loop.
        self.switchInterval = sys.getswitchinterval()
        sys.setswitchinterval(0.00005)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def disable(self):
        self.running = False
        self.thread.join()
        sys.setswitchinterval(self.switchInterval)

    def report(self, lines):
        print("%d samples" % (self.samples,))
        for title, counter in (("inclusive", self.inclusive), ("exclusive", self.exclusive)):
            print("-- %s" % (title,))
            for name, count in counter.most_common(lines):
                print("%5.1f%%  %s" % (100.0 * count / self.samples, name))


class Harness:
    def __init__(self, directory, scheme):
        self.directory = directory
        self.database = CallerDatabase("sqlite:///" + os.path.join(directory, "walrus.db"))
        self.database.open()
        conf = EucaConf(os.path.join(directory, "eucalyptus.conf"))
        conf.set("WALRUS_MAX_BUCKET_SIZE_MB", "0")
        self.walrus = buildWalrus(self.database, os.path.join(directory, "bukkits"), conf,
                                  callerIo)
        self.walrus.blobs.prepare()
        self.clock = task.Clock()
        self.site = guardSite(makeSite(self.walrus), s3Limits(self.clock))
        keys = self.database.transact(
            lambda s: (lambda u: (u.accessKey, u.secretKey))(accounts.createUser(s, "bench")))
        self.signer = Signer(*keys, scheme)
        self.connection = Connection(self.site)
        expect(self.connection.send(self.signer.request("PUT", "/bench")), 200)

    def requests(self, method, count, prefix, body=b"", contentType=""):
        return [self.signer.request(method, "/bench/%s%06d" % (prefix, index), body,
                                    contentType) for index in range(count)]

    def timed(self, raws, status, bodyLength=None, profiler=None):
        """CPU seconds per request to answer ``raws``."""
        send = self.connection.send
        if profiler is not None:
            profiler.enable()
        start = time.process_time()
        for raw in raws:
            expect(send(raw), status, bodyLength)
        elapsed = time.process_time() - start
        if profiler is not None:
            profiler.disable()
        return elapsed / len(raws)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--objects", type=int, default=2000,
                        help="distinct 4 KiB objects the GETs and HEADs cycle over")
    parser.add_argument("--ops", default="bare,get,head,put,delete")
    parser.add_argument("--scheme", default="v2", choices=("v2", "v4"))
    parser.add_argument("--profile", default=None, help="print cProfile's table for this op")
    parser.add_argument("--sample", default=None,
                        help="print where a sampling of the stack found this op's time")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds of the GETs and HEADs: the fastest is printed "
                             "(other work on the machine only ever adds)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--lines", type=int, default=45)
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="eucad-s3cpu-")
    try:
        harness = Harness(directory, args.scheme)
        ops = args.ops.split(",")
        objects = min(args.objects, args.requests)
        for raw in harness.requests("PUT", objects, "r", PAYLOAD, "application/octet-stream"):
            expect(harness.connection.send(raw), 200)
        figures = []
        for op in ops:
            profiler = cProfile.Profile() if args.profile == op else None
            if args.sample == op:
                profiler = Sampler()
            if op == "bare":
                connection = Connection(bareSite())
                raws = harness.requests("GET", objects, "r")
                raws = (raws * (args.requests // objects + 1))[:args.requests]
                send = harness.connection
                harness.connection = connection
                try:
                    harness.timed(raws[:objects], 200, 4096)
                    seconds = min(harness.timed(raws, 200, 4096, profiler)
                                  for _ in range(args.rounds))
                finally:
                    harness.connection = send
            elif op in ("get", "head"):
                method = op.upper()
                raws = harness.requests(method, objects, "r")
                raws = (raws * (args.requests // objects + 1))[:args.requests]
                harness.timed(raws[:objects], 200, 4096 if op == "get" else 0)  # warm
                seconds = min(harness.timed(raws, 200, 4096 if op == "get" else 0, profiler)
                              for _ in range(args.rounds))
            elif op == "put":
                raws = harness.requests("PUT", args.requests, "w", PAYLOAD,
                                        "application/octet-stream")
                seconds = harness.timed(raws, 200, 0, profiler)
            elif op == "delete":
                if "put" not in ops[:ops.index(op)]:
                    for raw in harness.requests("PUT", args.requests, "w", PAYLOAD,
                                                "application/octet-stream"):
                        expect(harness.connection.send(raw), 200)
                raws = harness.requests("DELETE", args.requests, "w")
                seconds = harness.timed(raws, 204, 0, profiler)
            else:
                raise SystemExit("unknown op %r" % (op,))
            figures.append("%s %.0f us" % (op.upper(), seconds * 1e6))
            if isinstance(profiler, Sampler):
                profiler.report(args.lines)
            elif profiler is not None:
                stats = pstats.Stats(profiler)
                stats.sort_stats(args.sort).print_stats(args.lines)
        print("Walrus CPU per 4 KiB request (%s, %d requests, load %.2f): %s"
              % (args.scheme, args.requests, os.getloadavg()[0], ", ".join(figures)),
              flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
