"""DescribeInstances throughput of the CLC against moto_server, same run.

    .venv/bin/python bench/ec2.py [--sizes 1000,10000] [--clients 8]
                                  [--seconds 10] [--verbose]

For each size, the CLC's database and a moto_server both hold that many
running instances (the CLC's rows are written straight into its database,
one instance per reservation as launches one by one make them; moto's are
made with RunInstances).  Then ``--clients`` threads, each with its own
kept-alive HTTP connection, send SigV4-signed DescribeInstances requests
(signed by botocore, as boto3 would) for ``--seconds`` to one server, then
the other, and the bench prints requests/s, p50 and p99 latency of each and
the ratio of requests/s.  Every answer is checked to list every instance.
A client finishes the request it has begun when the time is up, so a
server slower than ``--seconds`` per answer (moto at 10,000 instances) is
measured over one request per client and the time they all took.

It starts the CLC (``python -m twisted eucalyptus-clc``, no clusters) and
moto_server on 127.0.0.1 in a temporary directory, stops both by PID and
removes the directory at the end.  Target: >= 5 x moto's requests/s at 1,000
instances and a p99 under 100 ms.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from eucad.common import accounts, trust  # noqa: E402
from eucad.common.config import EucaConf, Layout  # noqa: E402
from eucad.common.db import Database, defaultUrl  # noqa: E402

REGION = "us-east-1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
DESCRIBE = {"Action": "DescribeInstances", "Version": "2016-11-15"}
REQUEST_TIMEOUT_SECONDS = 1800


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitForPort(port, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("a server exited early (status %s)" % (process.returncode,))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nothing listened on port %d" % (port,))


def stop(process, sig=signal.SIGTERM):
    if process is not None and process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def signedDescribe(keys, port, path):
    """``(headers, body)`` of a SigV4-signed DescribeInstances POST."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = urlencode(DESCRIBE).encode("ascii")
    request = AWSRequest(method="POST", url="http://127.0.0.1:%d%s" % (port, path),
                         data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(*keys), "ec2", REGION).add_auth(request)
    return dict(request.headers.items()), body


class Target:
    """One server under test: where it listens and whose keys sign for it."""

    def __init__(self, name, port, path, keys):
        self.name = name
        self.port = port
        self.path = path
        self.keys = keys


def client(target, expected, until, latencies, errors):
    """One client: signed requests on a kept-alive connection until ``until``."""
    # moto takes minutes per answer at 10,000 instances: wait for it.
    connection = http.client.HTTPConnection("127.0.0.1", target.port,
                                            timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        while time.monotonic() < until:
            headers, body = signedDescribe(target.keys, target.port, target.path)
            started = time.monotonic()
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            latencies.append(time.monotonic() - started)
            if response.status != 200:
                errors.append("status %d: %r" % (response.status, answer[:200]))
                return
            listed = answer.count(b"<instanceId>")
            if listed != expected:
                errors.append("%s listed %d instances, not %d" % (
                    target.name, listed, expected))
                return
    except OSError as e:
        errors.append("%s: %s" % (target.name, e))
    finally:
        connection.close()


def measure(target, expected, clients, seconds):
    """``(requests/s, p50 s, p99 s, count)`` of ``clients`` for ``seconds``."""
    latencies, errors = [], []
    started = time.monotonic()
    until = started + seconds
    threads = [threading.Thread(target=client, args=(target, expected, until,
                                                     latencies, errors))
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit("%s: %s" % (target.name, errors[0]))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies), p99, len(latencies)


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="eucad-bench-ec2-")
        self.clc = self.moto = None
        self.instances = 0
        self.motoInstances = 0

    # -- servers ------------------------------------------------------------------
    def startClc(self):
        prefix = os.path.join(self.dir, "prefix")
        self.layout = Layout(prefix)
        self.clcPort = freePort()
        conf = EucaConf(self.layout.conf)
        conf.set("CLOUD_PORT", str(self.clcPort))
        conf.set("CLOUD_LISTEN", "127.0.0.1")
        # Walrus on a port of its own, so the CLC serves EC2 alone.
        conf.set("WALRUS_PORT", str(freePort()))
        # The metadata site on a free port too (the bench runs beside any
        # cloud); no web pages nor image delivery.
        conf.set("METADATA_PORT", str(freePort()))
        conf.set("WEB_PORT", "0")
        conf.set("WALRUS_IMAGE_PORT", "0")
        conf.set("CLUSTERS", "")
        conf.set("LOGLEVEL", "WARN")
        conf.save()
        # The cloud's keys, as ``euca_conf --setup`` makes them (the CLC reads
        # the cloud key at start for image bundles).
        trust.setup(self.layout.keys)
        self.database = Database(defaultUrl(self.layout))
        import eucad.clc.tables  # noqa: F401 (the CLC's tables exist before it starts)
        self.database.open()
        keys = self.database.transact(
            lambda s: (lambda u: (u.accessKey, u.secretKey))(accounts.createUser(s, "bench")))
        log = open(os.path.join(self.dir, "clc.out"), "wb")
        self.clc = subprocess.Popen(
            [sys.executable, "-m", "twisted", "eucalyptus-clc", "--prefix", prefix],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        waitForPort(self.clcPort, self.clc)
        self.clcTarget = Target("eucad CLC", self.clcPort, "/services/Eucalyptus", keys)

    def startMoto(self):
        self.motoPort = freePort()
        log = open(os.path.join(self.dir, "moto.out"), "wb")
        self.moto = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "moto_server"),
             "-H", "127.0.0.1", "-p", str(self.motoPort)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        waitForPort(self.motoPort, self.moto)
        self.motoTarget = Target("moto_server", self.motoPort, "/",
                                 ("AKIDBENCHMOTO", "bench-secret"))

    def stopAll(self):
        stop(self.clc)
        stop(self.moto)
        if getattr(self, "database", None) is not None and self.database.engine:
            self.database.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- instances ----------------------------------------------------------------
    def fillClc(self, total):
        """Running instances in the CLC's DB, one per reservation, up to ``total``."""
        from eucad.clc import ids
        from eucad.clc.models import RUNNING, Instance, Reservation

        def add(session, start, count):
            now = time.time()
            for n in range(start, start + count):
                session.add(Reservation(
                    id="r-%08x" % (n,), owner="bench", cluster="zone1",
                    groups="default", created=now + n * 1e-3))
            # No ORM relationship orders the inserts: reservations go first.
            session.flush()
            for n in range(start, start + count):
                session.add(Instance(
                    id="%s-%08x" % (ids.INSTANCE, n), reservationId="r-%08x" % (n,),
                    owner="bench", imageId="emi-00000001", kernelId="eki-00000001",
                    ramdiskId="eri-00000001", vmType="m1.small", state=RUNNING,
                    privateIp="10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255),
                    publicIp="10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255),
                    macAddress="d0:0d:00:%02x:%02x:%02x" % (
                        n >> 16 & 255, n >> 8 & 255, n & 255),
                    cluster="zone1", node="node1", launchTime=now + n * 1e-3,
                    launchIndex=0, keyName=None, userData=None, reason="",
                    stateChanged=now, placedAt=now))
        while self.instances < total:
            count = min(1000, total - self.instances)
            self.database.transact(add, self.instances, count)
            self.instances += count

    def fillMoto(self, total):
        import boto3
        ec2 = boto3.client("ec2", endpoint_url="http://127.0.0.1:%d" % (self.motoPort,),
                           region_name=REGION, aws_access_key_id=self.motoTarget.keys[0],
                           aws_secret_access_key=self.motoTarget.keys[1])
        image = ec2.describe_images()["Images"][0]["ImageId"]
        while self.motoInstances < total:
            count = min(500, total - self.motoInstances)
            ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count,
                              InstanceType="t2.micro")
            self.motoInstances += count

    # -- figures ------------------------------------------------------------------
    def run(self):
        args = self.args
        self.startClc()
        self.startMoto()
        print("DescribeInstances, %d concurrent clients, %.0f s per figure (SigV4 POST, "
              "kept-alive connections)" % (args.clients, args.seconds), flush=True)
        for size in args.sizes:
            self.fillClc(size)
            self.fillMoto(size)
            # One unmeasured round each: caches, connections, imports.
            measure(self.motoTarget, size, 1, 0.1)
            measure(self.clcTarget, size, 1, 0.1)
            motoFigures = measure(self.motoTarget, size, args.clients, args.seconds)
            clcFigures = measure(self.clcTarget, size, args.clients, args.seconds)
            for name, (rate, p50, p99, count) in (("eucad CLC", clcFigures),
                                                  ("moto_server", motoFigures)):
                print("  %6d instances  %-12s %8.2f req/s  p50 %8.1f ms  p99 %8.1f ms"
                      "  (%d requests)" % (size, name, rate, p50 * 1000, p99 * 1000,
                                           count), flush=True)
            print("  %6d instances  ratio eucad/moto requests/s: %.2f" % (
                size, clcFigures[0] / motoFigures[0]), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000",
                        type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.stopAll()


if __name__ == "__main__":
    main()
