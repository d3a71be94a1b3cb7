"""Walrus throughput against references measured in the same run, on this machine.

    .venv/bin/python bench/s3.py [--size-mib 256] [--small-ops 2000] [--list-keys 10000]
                                 [--repeats 7] [--figures large,small,list] [--verbose]

Figures, each printed with its reference and the ratio:
  * 256 MiB PUT (curl, presigned URL)   vs  ``dd bs=1M conv=fsync`` of the same file
  * the same PUT signed as boto3 signs one over plain HTTP (SigV4 header over
    the payload's SHA-256, plus x-amz-checksum-crc32): Walrus then computes
    MD5, SHA-256 and CRC32
  * 256 MiB GET (curl)                  vs  nginx from Debian serving the same blob file
  * 4 KiB PUT ops/s, 8 concurrent clients  vs  8 threads creating+fsyncing 4 KiB files
  * 4 KiB GET ops/s, 8 concurrent clients  vs  the same clients against nginx
    (each request signed as for Walrus, which nginx ignores: the client does
    the same work per request for both, on the same keep-alive connections)
  * 4 KiB PUT, GET and DELETE ops/s, 8 concurrent clients  vs  the same clients
    against moto_server (``pip install 'moto[server]'``), another S3 server
    in Python, as a second reference (target: >= 2 x moto)
  * LIST of 10,000 keys (ListObjectsV2)  vs  nginx's autoindex of a 10,000-file directory
    (the rounds find the pages Walrus keeps in memory, as nginx finds the
    kernel's cached directory; the first listing after the writes, with
    nothing kept, is printed beside them as a note)
  * and, as a note, the Walrus daemon's own CPU time per 4 KiB PUT, GET and DELETE
    (from /proc), which a loaded machine distorts less than the rates do
    (bench/s3cpu.py measures the same without clients or sockets, in one process)

The reference is noisy on this machine, and not because of the disk: dd's
fsync of 256 MiB takes a steady 0.06 s, but its write into the page cache
takes either 0.05 s or 0.3-0.4 s, as the kernel hands it pages the host
still has or pages the host must fault in again (a VM whose free pages are
reported back to the host), so ``dd conv=fsync`` swings between about 2300
and 500 MiB/s.  Every figure is therefore measured ``--repeats`` times
*interleaved* with its reference (reference, Walrus, reference, Walrus...)
after one unmeasured warm-up of each, with the disk settled (sync) before
each large transfer, and the medians are compared; the spread
(lowest-highest) of both is printed, and for PUT also the ratio against
dd's fastest round, the strictest reading.  ``--verbose`` prints every
round.  Extra lines (``note``) give context without changing the ratio:
what MD5 alone does over the same bytes (Walrus must compute it for the
ETag, so it bounds a single PUT stream), and a small-object reference that
also fsyncs the directory after the rename, as a durable create must.

It starts a Walrus daemon (``python -m twisted eucalyptus-walrus``), an
nginx and a moto_server on 127.0.0.1 in a temporary directory, and stops them (by PID) and
removes the directory at the end.  Targets: GET >= 0.8 x nginx, PUT >= 0.7 x dd.
"""

import argparse
import base64
import hashlib
import hmac
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
import zlib
from email.utils import formatdate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from eucad.common import accounts  # noqa: E402
from eucad.common.config import EucaConf, Layout  # noqa: E402
from eucad.common.db import Database, defaultUrl  # noqa: E402

REPEATS = 7
VERBOSE = False
CLIENTS = 8


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


def curlEnv():
    return {k: v for k, v in os.environ.items() if not k.endswith("CA_BUNDLE")}


def curl(argv):
    """Run curl; returns (seconds, http status)."""
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                             "%{time_total} %{http_code}"] + argv, capture_output=True,
                            env=curlEnv(), check=True)
    seconds, status = result.stdout.decode().split()
    if status not in ("200", "204"):
        raise SystemExit("curl %s answered %s" % (argv[-1][:80], status))
    return float(seconds), status


def median(values):
    return statistics.median(values)


def spread(values):
    return "[%.0f-%.0f]" % (min(values), max(values))


def settle():
    """
    Let the disk finish what earlier work left (writeback, the discards of
    deleted files) before a timed run, the same for every contender.
    """
    time.sleep(0.2)
    os.sync()


def interleaved(repeats, *contenders):
    """
    Run each contender once unmeasured, then ``repeats`` rounds of all of
    them in turn; the lists of what each returned in the measured rounds.
    """
    for run in contenders:
        run(-1)
    results = [[] for _ in contenders]
    for attempt in range(repeats):
        for index, run in enumerate(contenders):
            results[index].append(run(attempt))
    if VERBOSE:
        print("  rounds: " + " | ".join(" ".join("%.0f" % v for v in values)
                                        for values in results), flush=True)
    return results


def processCpuSeconds(pid):
    """User plus system CPU seconds process ``pid`` has used (from /proc)."""
    with open("/proc/%d/stat" % (pid,)) as f:
        fields = f.read().rpartition(")")[2].split()
    # Fields 14 and 15 of stat(5), counted after the command's closing ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def md5Seconds(path):
    """Seconds hashlib's MD5 takes over the file (read from the page cache)."""
    digest = hashlib.md5()
    buffer = bytearray(8 * 1024 * 1024)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        start = time.perf_counter()
        while True:
            count = f.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
        return time.perf_counter() - start


class SigV2:
    """Just enough S3 SigV2 header signing for the small-request clients."""

    def __init__(self, accessKey, secret):
        self.accessKey = accessKey
        self.secret = secret.encode()

    def headers(self, method, resource, contentType=""):
        date = formatdate(usegmt=True)
        text = "%s\n\n%s\n%s\n%s" % (method, contentType, date, resource)
        signature = base64.b64encode(hmac.new(self.secret, text.encode(), hashlib.sha1)
                                     .digest()).decode()
        headers = {"Date": date, "Authorization": "AWS %s:%s" % (self.accessKey, signature)}
        if contentType:
            headers["Content-Type"] = contentType
        return headers


def runClients(port, work, count, failures=None):
    """``count`` requests by CLIENTS threads, each with its own keep-alive
    connection; ``work(connection, index)`` does one.  Returns ops/s.
    A failed request stops the run, unless ``failures`` (a list) is given
    to collect them (a reference server's occasional error)."""
    counter = iter(range(count))
    lock = threading.Lock()
    errors = []

    def loop():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            try:
                work(connection, index)
            except Exception as e:  # report, do not hide
                errors.append(e)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.close()
    threads = [threading.Thread(target=loop) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors and failures is None:
        raise SystemExit("%d requests failed, first: %r" % (len(errors), errors[0]))
    if failures is not None:
        failures.extend(errors)
    return count / elapsed


def expectStatus(response, wanted=(200, 204)):
    body = response.read()
    if response.status not in wanted:
        raise RuntimeError("status %d: %r" % (response.status, body[:200]))
    return body


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="eucad-bench-s3-", dir=args.dir)
        self.walrus = None
        self.nginx = None
        self.moto = None
        self.motoFailures = []
        self.rows = []
        self.cpuPerRequest = {}

    # -- servers ------------------------------------------------------------------
    def startWalrus(self):
        prefix = os.path.join(self.dir, "prefix")
        layout = Layout(prefix)
        self.layout = layout
        self.walrusPort = freePort()
        conf = EucaConf(layout.conf)
        conf.set("WALRUS_PORT", str(self.walrusPort))
        conf.set("WALRUS_LISTEN", "127.0.0.1")
        conf.set("LOGLEVEL", "WARN")
        conf.set("WALRUS_MAX_BUCKET_SIZE_MB", "0")
        conf.save()
        database = Database(defaultUrl(layout))
        self.keys = database.transact(
            lambda s: (lambda u: (u.accessKey, u.secretKey))(accounts.createUser(s, "bench")))
        database.engine.dispose()
        log = open(os.path.join(self.dir, "walrus.out"), "wb")
        self.walrus = subprocess.Popen(
            [sys.executable, "-m", "twisted", "eucalyptus-walrus", "--prefix", prefix],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        waitForPort(self.walrusPort, self.walrus)
        self.signer = SigV2(*self.keys)

    def startNginx(self, root):
        self.nginxPort = freePort()
        home = os.path.join(self.dir, "nginx")
        os.makedirs(os.path.join(home, "logs"), exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(os.path.join(home, "nginx.conf"), "w") as f:
            f.write(
                "daemon off;\n%sworker_processes 1;\npid %s/nginx.pid;\n"
                "error_log %s/logs/error.log;\nevents { worker_connections 256; }\n"
                "http {\n access_log off;\n sendfile on;\n tcp_nopush on;\n"
                " keepalive_requests 100000;\n"
                " client_body_temp_path %s/body; proxy_temp_path %s/proxy;\n"
                " fastcgi_temp_path %s/fastcgi; uwsgi_temp_path %s/uwsgi;"
                " scgi_temp_path %s/scgi;\n"
                " server { listen 127.0.0.1:%d; root %s; autoindex on; }\n}\n"
                % ((user, home, home) + (home,) * 5 + (self.nginxPort, root)))
        self.nginx = subprocess.Popen(["nginx", "-c", os.path.join(home, "nginx.conf"),
                                       "-p", home], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        waitForPort(self.nginxPort, self.nginx)

    def startMoto(self):
        """moto_server on a free port, with the bucket the small figures use."""
        self.motoPort = freePort()
        log = open(os.path.join(self.dir, "moto.out"), "wb")
        self.moto = subprocess.Popen([motoServer(), "-H", "127.0.0.1", "-p", str(self.motoPort)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        waitForPort(self.motoPort, self.moto)
        connection = http.client.HTTPConnection("127.0.0.1", self.motoPort, timeout=60)
        self.request(connection, "PUT", "/bench")
        connection.close()

    def stopAll(self):
        stop(self.moto, signal.SIGTERM)
        stop(self.nginx, signal.SIGQUIT)
        stop(self.walrus, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------
    def presign(self, method, key, expires=3600):
        from botocore.auth import S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        request = AWSRequest(method=method,
                             url="http://127.0.0.1:%d/bench/%s" % (self.walrusPort, key))
        S3SigV4QueryAuth(Credentials(*self.keys), "s3", "us-east-1",
                         expires=expires).add_auth(request)
        return request.url

    def signedPutArgs(self, key, path):
        """
        curl arguments for a PUT of ``path`` signed the way boto3 signs one
        over plain HTTP: SigV4 in the Authorization header over the
        payload's SHA-256, with its CRC32 in ``x-amz-checksum-crc32``.
        """
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        crc = 0
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(8 * 1024 * 1024), b""):
                crc = zlib.crc32(block, crc)
        headers = {"x-amz-checksum-crc32": base64.b64encode(crc.to_bytes(4, "big")).decode(),
                   "Content-Length": str(os.path.getsize(path))}
        url = "http://127.0.0.1:%d/bench/%s" % (self.walrusPort, key)
        with open(path, "rb") as body:   # botocore hashes it for the signature
            request = AWSRequest(method="PUT", url=url, headers=headers, data=body)
            S3SigV4Auth(Credentials(*self.keys), "s3", "us-east-1").add_auth(request)
        argv = []
        for name, value in request.headers.items():
            if name.lower() != "content-length":
                argv += ["-H", "%s: %s" % (name, value)]
        return argv + [url]

    def createBucket(self, resource):
        """PUT a bucket unless this run already made it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.walrusPort, timeout=60)
        connection.request("PUT", resource, headers=self.signer.headers("PUT", resource))
        expectStatus(connection.getresponse(), (200, 409))
        connection.close()

    def blobOf(self, bucket, key):
        """The blob file name of a one-segment object, from Walrus's table."""
        import json
        import sqlite3
        database = sqlite3.connect(defaultUrl(self.layout)[len("sqlite:///"):])
        try:
            (segments,), = database.execute(
                "SELECT segments FROM walrus_objects WHERE bucket = ? AND key = ?",
                (bucket, key)).fetchall()
        finally:
            database.close()
        return json.loads(segments)[0][0]

    def request(self, connection, method, resource, body=None, contentType=""):
        connection.request(method, resource, body=body,
                           headers=self.signer.headers(method, resource, contentType))
        return expectStatus(connection.getresponse())

    def report(self, name, values, unit, referenceName, references, target=None):
        """Print the medians of ``values`` and ``references`` (rates), their
        spreads and the ratio of the medians."""
        value, reference = median(values), median(references)
        ratio = value / reference if reference else float("nan")
        self.rows.append((name, value, unit, referenceName, reference, ratio, target))
        verdict = ""
        if target is not None:
            verdict = "  (target >= %.1f: %s)" % (target, "met" if ratio >= target else "MISSED")
        print("%-24s %9.1f %-6s %-15s reference %-30s %9.1f %-15s ratio %.2f%s" % (
            name, value, unit, spread(values), referenceName, reference, spread(references),
            ratio, verdict), flush=True)

    def note(self, text):
        print("  note: " + text, flush=True)

    def walrusCpu(self, name, rate, count):
        """
        ``rate(attempt)`` (a Walrus round of ``count`` requests), noting the
        daemon's own CPU time per request of each measured round under ``name``.
        """
        def run(attempt):
            before = processCpuSeconds(self.walrus.pid)
            result = rate(attempt)
            if attempt >= 0:
                self.cpuPerRequest.setdefault(name, []).append(
                    (processCpuSeconds(self.walrus.pid) - before) / count * 1e6)
            return result
        return run

    def noteCpu(self):
        """The daemon's CPU per request of each small figure (what load affects least)."""
        if self.cpuPerRequest:
            self.note("Walrus daemon CPU per request (median of rounds, load %.2f): %s"
                      % (os.getloadavg()[0], ", ".join(
                          "%s %.0f us %s" % (name, median(values), spread(values))
                          for name, values in self.cpuPerRequest.items())))

    # -- the figures --------------------------------------------------------------
    def largeObjects(self):
        size = self.args.size_mib * 1024 * 1024
        source = os.path.join(self.dir, "source.bin")
        with open(source, "wb") as f:
            for _ in range(self.args.size_mib):
                f.write(os.urandom(1024 * 1024))
        with open(source, "rb") as f:      # into the page cache for every contender
            while f.read(8 * 1024 * 1024):
                pass
        self.createBucket("/bench")

        mib = size / (1024 * 1024)
        repeats = self.args.repeats

        def dd(attempt):
            target = os.path.join(self.layout.bukkits, "dd-reference")
            settle()
            start = time.perf_counter()
            subprocess.run(["dd", "if=" + source, "of=" + target, "bs=1M", "conv=fsync"],
                           check=True, capture_output=True)
            elapsed = time.perf_counter() - start
            os.unlink(target)
            return mib / elapsed

        def put(attempt):
            # Each PUT replaces the last one, whose blob Walrus unlinks just
            # after answering, as dd's file is unlinked after each run: both
            # then write into freed pages (fresh pages of a VM cost more) and
            # settle() lets the unlink finish outside anyone's time.
            settle()
            seconds, _ = curl(["-X", "PUT", "-T", source, self.presign("PUT", "large")])
            return mib / seconds
        signedArgs = self.signedPutArgs("large", source)

        def signedPut(attempt):
            settle()
            seconds, _ = curl(["-X", "PUT", "-T", source] + signedArgs)
            return mib / seconds
        ddRates, putRates, signedRates = interleaved(repeats, dd, put, signedPut)
        self.report("%d MiB PUT" % self.args.size_mib, putRates, "MiB/s",
                    "dd bs=1M conv=fsync", ddRates, 0.7)
        self.report("%d MiB PUT signed+CRC32" % self.args.size_mib, signedRates, "MiB/s",
                    "dd bs=1M conv=fsync", ddRates)
        self.note("against dd's fastest round (%.0f MiB/s): PUT %.2f, signed PUT %.2f"
                  % (max(ddRates), median(putRates) / max(ddRates),
                     median(signedRates) / max(ddRates)))
        md5Rates = [mib / seconds for seconds in (md5Seconds(source) for _ in range(repeats))]
        self.note("MD5 alone over the same bytes (needed for the ETag): %.0f MiB/s %s, "
                  "so a single PUT stream can reach at most %.2f x dd here"
                  % (median(md5Rates), spread(md5Rates), median(md5Rates) / median(ddRates)))

        blobs = os.path.join(self.layout.bukkits, "blobs")
        getKey = "large"
        blob = self.blobOf("bench", getKey)
        self.startNginx(blobs)
        nginxUrl = "http://127.0.0.1:%d/%s/%s" % (self.nginxPort, blob[:2], blob)
        getUrl = self.presign("GET", getKey)
        nginxRates, getRates = interleaved(
            repeats, lambda attempt: mib / curl([nginxUrl])[0],
            lambda attempt: mib / curl([getUrl])[0])
        self.report("%d MiB GET" % self.args.size_mib, getRates, "MiB/s",
                    "nginx, same blob file", nginxRates, 0.8)
        # The target holds in every round, not only for the medians: each
        # Walrus round against the nginx round just before it.
        rounds = [mine / theirs for mine, theirs in zip(getRates, nginxRates)]
        self.note("GET per round against the nginx round before it: %s; lowest %.2f (target "
                  ">= 0.8 in every round: %s)" % (" ".join("%.2f" % r for r in rounds),
                                                  min(rounds),
                                                  "met" if min(rounds) >= 0.8 else "MISSED"))

    def smallObjects(self):
        self.createBucket("/bench")
        count = self.args.small_ops
        repeats = self.args.repeats
        payload = os.urandom(4096)
        refRoot = os.path.join(self.layout.bukkits, "fsync-reference")

        def walrusPut(attempt):
            def put(connection, index):
                self.request(connection, "PUT", "/bench/small%d/%06d" % (attempt, index),
                             payload, "application/octet-stream")
            return runClients(self.walrusPort, put, count)

        def filePut(durable):
            def run(attempt):
                directory = os.path.join(refRoot, "%s%d" % ("d" if durable else "", attempt))
                os.makedirs(directory)

                def fileWrite(connection, index):
                    path = os.path.join(directory, "%06d" % index)
                    with open(path + ".tmp", "wb") as f:
                        f.write(payload)
                        f.flush()
                        os.fsync(f.fileno())
                    os.rename(path + ".tmp", path)
                    if durable:
                        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
                        try:
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                return runClients(self.walrusPort, fileWrite, count)
            return run
        def motoPut(attempt):
            def put(connection, index):
                self.request(connection, "PUT", "/bench/small%d/%06d" % (attempt, index),
                             payload, "application/octet-stream")
            return runClients(self.motoPort, put, count, self.motoFailures)
        self.startMoto()
        fileRates, putRates, durableRates, motoPutRates = interleaved(
            repeats, filePut(False), self.walrusCpu("PUT", walrusPut, count), filePut(True),
            motoPut)
        self.report("4 KiB PUT x%d clients" % CLIENTS, putRates, "ops/s",
                    "4 KiB write+fsync+rename", fileRates)
        self.report("4 KiB PUT x%d clients" % CLIENTS, putRates, "ops/s",
                    "moto_server, same clients", motoPutRates, 2.0)
        self.note("the same with the directory fsynced after the rename (a durable "
                  "create): %.0f ops/s %s, Walrus at %.2f of it"
                  % (median(durableRates), spread(durableRates),
                     median(putRates) / median(durableRates)))

        def walrusGet(attempt):
            def get(connection, index):
                body = self.request(connection, "GET", "/bench/small%d/%06d"
                                    % (max(attempt, 0), index % count))
                if len(body) != 4096:
                    raise RuntimeError("short body")
            return runClients(self.walrusPort, get, count * 2)

        def nginxGet(attempt):
            # The same client work as for Walrus: each request signed (nginx
            # ignores the headers), on one keep-alive connection per thread.
            def get(connection, index):
                path = "/fsync-reference/%d/%06d" % (max(attempt, 0), index % count)
                if len(self.request(connection, "GET", path)) != 4096:
                    raise RuntimeError("short body")
            return runClients(self.nginxPort, get, count * 2)
        def motoGet(attempt):
            def get(connection, index):
                body = self.request(connection, "GET", "/bench/small%d/%06d"
                                    % (max(attempt, 0), index % count))
                if len(body) != 4096:
                    raise RuntimeError("short body")
            return runClients(self.motoPort, get, count * 2, self.motoFailures)
        self.startNginxIfNeeded()
        nginxRates, getRates, motoGetRates = interleaved(
            repeats, nginxGet, self.walrusCpu("GET", walrusGet, count * 2), motoGet)
        self.report("4 KiB GET x%d clients" % CLIENTS, getRates, "ops/s",
                    "nginx, same clients", nginxRates, 0.5)
        self.report("4 KiB GET x%d clients" % CLIENTS, getRates, "ops/s",
                    "moto_server, same clients", motoGetRates, 2.0)
        shutil.rmtree(refRoot)

        def deleter(port, failures=None):
            def run(attempt):
                def delete(connection, index):
                    self.request(connection, "DELETE", "/bench/small%d/%06d" % (attempt, index))
                return runClients(port, delete, count, failures)
            return run
        # Each round deletes the keys its PUT round made.
        motoDeleteRates, deleteRates = interleaved(
            repeats, deleter(self.motoPort, self.motoFailures),
            self.walrusCpu("DELETE", deleter(self.walrusPort), count))
        self.report("4 KiB DELETE x%d clients" % CLIENTS, deleteRates, "ops/s",
                    "moto_server, same clients", motoDeleteRates, 2.0)
        self.noteCpu()
        if self.motoFailures:
            self.note("moto_server failed %d of its requests (first: %r); its rates count "
                      "them as done" % (len(self.motoFailures), self.motoFailures[0]))

    def startNginxIfNeeded(self):
        if self.nginx is None:
            self.startNginx(self.layout.bukkits)
        else:
            stop(self.nginx, signal.SIGQUIT)
            self.startNginx(self.layout.bukkits)

    def listing(self):
        count = self.args.list_keys
        self.createBucket("/listbench")

        def put(connection, index):
            self.request(connection, "PUT", "/listbench/dir%02d/key-%06d" % (index % 50, index),
                         b"x", "application/octet-stream")
        runClients(self.walrusPort, put, count)
        refDir = os.path.join(self.layout.bukkits, "list-reference")
        os.makedirs(refDir)
        for index in range(count):
            open(os.path.join(refDir, "key-%06d" % index), "wb").close()

        def listAll():
            connection = http.client.HTTPConnection("127.0.0.1", self.walrusPort, timeout=60)
            token, seen = None, 0
            for _ in range(count // 1000 + 2):
                resource = "/listbench"
                query = "?list-type=2&max-keys=1000"
                if token:
                    from urllib.parse import quote
                    query += "&continuation-token=" + quote(token, safe="")
                connection.request("GET", resource + query,
                                   headers=self.signer.headers("GET", resource))
                body = expectStatus(connection.getresponse())
                seen += body.count(b"<Key>")
                if b"<IsTruncated>true</IsTruncated>" not in body:
                    break
                token = body.split(b"<NextContinuationToken>")[1].split(b"<")[0].decode()
            connection.close()
            if seen != count:
                raise SystemExit("listed %d keys, expected %d" % (seen, count))

        def timed(fn):
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        # Right after the writes no page is kept in memory
        # (eucad.walrus.listingcache): this first listing reads every page
        # from the database; the rounds after it find them kept.
        settle()
        coldRate = count / timed(listAll)
        self.startNginxIfNeeded()
        nginxUrl = "http://127.0.0.1:%d/list-reference/" % (self.nginxPort,)
        nginxRates, walrusRates = interleaved(
            self.args.repeats, lambda attempt: count / curl([nginxUrl])[0],
            lambda attempt: count / timed(listAll))
        self.report("LIST %d keys" % count, walrusRates, "keys/s",
                    "nginx autoindex, %d files" % count, nginxRates, 0.5)
        self.note("the first listing after the writes, every page read from the database: "
                  "%.0f keys/s, %.2f of nginx's median" % (coldRate, coldRate / median(nginxRates)))
        shutil.rmtree(refDir)

    def run(self):
        try:
            self.startWalrus()
            print("Walrus %s, %d MiB objects, %d small requests, %d keys listed; medians of %d "
                  "rounds interleaved with the references [lowest-highest]"
                  % (self.dir, self.args.size_mib, self.args.small_ops, self.args.list_keys,
                     self.args.repeats), flush=True)
            if "large" in self.args.figures:
                self.largeObjects()
            if "small" in self.args.figures:
                self.smallObjects()
            if "list" in self.args.figures:
                self.listing()
        finally:
            self.stopAll()
        return self.rows


def motoServer():
    """The moto_server program beside this Python, or on the PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.path.exists(candidate):
        return candidate
    found = shutil.which("moto_server")
    if found is None:
        raise SystemExit("moto_server is needed: pip install 'moto[server]'")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--small-ops", type=int, default=2000)
    parser.add_argument("--list-keys", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="measured rounds of each figure and its reference")
    parser.add_argument("--figures", default="large,small,list",
                        help="which figures to measure (comma-separated: large, small, list)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print every round's figures")
    parser.add_argument("--dir", default=None, help="where to put the temporary files")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    for program in ("curl", "nginx", "dd"):
        if shutil.which(program) is None:
            raise SystemExit("%s is needed (apt-get install curl nginx-light coreutils)"
                             % (program,))
    if "small" in args.figures:
        motoServer()
    Bench(args).run()


if __name__ == "__main__":
    main()
