"""Walrus throughput against references measured in the same run, on this machine.

    .venv/bin/python bench/s3.py [--size-mib 256] [--small-ops 2000] [--list-keys 10000]

Figures, each printed with its reference and the ratio:
  * 256 MiB PUT (curl, presigned URL)   vs  ``dd bs=1M conv=fsync`` of the same file
  * 256 MiB GET (curl)                  vs  nginx from Debian serving the same blob file
  * 4 KiB PUT ops/s, 8 concurrent clients  vs  8 threads creating+fsyncing 4 KiB files
  * 4 KiB GET ops/s, 8 concurrent clients  vs  the same clients against nginx
  * LIST of 10,000 keys (ListObjectsV2)  vs  nginx's autoindex of a 10,000-file directory

It starts a Walrus daemon (``python -m twisted eucalyptus-walrus``) and an
nginx on 127.0.0.1 in a temporary directory, and stops both (by PID) and
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
from email.utils import formatdate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from eucad.common import accounts  # noqa: E402
from eucad.common.config import EucaConf, Layout  # noqa: E402
from eucad.common.db import Database, defaultUrl  # noqa: E402

REPEATS = 3
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


def runClients(port, work, count):
    """``count`` requests by CLIENTS threads, each with its own keep-alive
    connection; ``work(connection, index)`` does one.  Returns ops/s."""
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
    if errors:
        raise SystemExit("%d requests failed, first: %r" % (len(errors), errors[0]))
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
        self.rows = []

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

    def stopAll(self):
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

    def request(self, connection, method, resource, body=None, contentType=""):
        connection.request(method, resource, body=body,
                           headers=self.signer.headers(method, resource, contentType))
        return expectStatus(connection.getresponse())

    def report(self, name, value, unit, referenceName, reference, target=None):
        ratio = value / reference if reference else float("nan")
        self.rows.append((name, value, unit, referenceName, reference, ratio, target))
        verdict = ""
        if target is not None:
            verdict = "  (target >= %.1f: %s)" % (target, "met" if ratio >= target else "MISSED")
        print("%-26s %10.1f %-6s  reference %-34s %10.1f %-6s  ratio %.2f%s" % (
            name, value, unit, referenceName, reference, unit, ratio, verdict), flush=True)

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
        connection = http.client.HTTPConnection("127.0.0.1", self.walrusPort, timeout=60)
        self.request(connection, "PUT", "/bench")
        connection.close()

        ddTimes = []
        for attempt in range(REPEATS):
            target = os.path.join(self.layout.bukkits, "dd-reference-%d" % attempt)
            start = time.perf_counter()
            subprocess.run(["dd", "if=" + source, "of=" + target, "bs=1M", "conv=fsync"],
                           check=True, capture_output=True)
            ddTimes.append(time.perf_counter() - start)
            os.unlink(target)
        putTimes = []
        for attempt in range(REPEATS):
            seconds, _ = curl(["-X", "PUT", "-T", source, self.presign("PUT", "large")])
            putTimes.append(seconds)
        mib = size / (1024 * 1024)
        self.report("%d MiB PUT" % self.args.size_mib, mib / median(putTimes), "MiB/s",
                    "dd bs=1M conv=fsync", mib / median(ddTimes), 0.7)

        blobs = os.path.join(self.layout.bukkits, "blobs")
        largest = max((os.path.join(d, n) for d in (os.path.join(blobs, x)
                                                   for x in os.listdir(blobs))
                       for n in os.listdir(d)), key=os.path.getsize)
        self.startNginx(blobs)
        nginxUrl = "http://127.0.0.1:%d/%s" % (self.nginxPort, os.path.relpath(largest, blobs))
        getUrl = self.presign("GET", "large")
        curl([getUrl])
        curl([nginxUrl])
        walrusTimes = [curl([getUrl])[0] for _ in range(REPEATS)]
        nginxTimes = [curl([nginxUrl])[0] for _ in range(REPEATS)]
        self.report("%d MiB GET" % self.args.size_mib, mib / median(walrusTimes), "MiB/s",
                    "nginx, same blob file", mib / median(nginxTimes), 0.8)

    def smallObjects(self):
        count = self.args.small_ops
        payload = os.urandom(4096)

        def put(connection, index):
            self.request(connection, "PUT", "/bench/small/%06d" % index, payload,
                         "application/octet-stream")
        putRate = runClients(self.walrusPort, put, count)

        refDir = os.path.join(self.layout.bukkits, "fsync-reference")
        os.makedirs(refDir)

        def fileWrite(connection, index):
            path = os.path.join(refDir, "%06d" % index)
            with open(path + ".tmp", "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.rename(path + ".tmp", path)
        fileRate = runClients(self.walrusPort, fileWrite, count)
        self.report("4 KiB PUT x%d clients" % CLIENTS, putRate, "ops/s",
                    "4 KiB file write+fsync+rename", fileRate)

        def get(connection, index):
            body = self.request(connection, "GET", "/bench/small/%06d" % (index % count))
            if len(body) != 4096:
                raise RuntimeError("short body")
        getRate = runClients(self.walrusPort, get, count * 2)

        def nginxGet(connection, index):
            connection.request("GET", "/fsync-reference/%06d" % (index % count))
            if len(expectStatus(connection.getresponse())) != 4096:
                raise RuntimeError("short body")
        self.startNginxIfNeeded()
        nginxRate = runClients(self.nginxPort, nginxGet, count * 2)
        self.report("4 KiB GET x%d clients" % CLIENTS, getRate, "ops/s",
                    "nginx, same clients", nginxRate)
        shutil.rmtree(refDir)

    def startNginxIfNeeded(self):
        if self.nginx is None:
            self.startNginx(self.layout.bukkits)
        else:
            stop(self.nginx, signal.SIGQUIT)
            self.startNginx(self.layout.bukkits)

    def listing(self):
        count = self.args.list_keys
        connection = http.client.HTTPConnection("127.0.0.1", self.walrusPort, timeout=60)
        self.request(connection, "PUT", "/listbench")
        connection.close()

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
        self.startNginxIfNeeded()
        nginxUrl = "http://127.0.0.1:%d/list-reference/" % (self.nginxPort,)
        walrusTimes = [timed(listAll) for _ in range(REPEATS)]
        nginxTimes = [curl([nginxUrl])[0] for _ in range(REPEATS)]
        self.report("LIST %d keys" % count, count / median(walrusTimes), "keys/s",
                    "nginx autoindex, %d files" % count, count / median(nginxTimes))
        shutil.rmtree(refDir)

    def run(self):
        try:
            self.startWalrus()
            print("Walrus %s, %d MiB objects, %d small requests, %d keys listed; median of %d"
                  % (self.dir, self.args.size_mib, self.args.small_ops, self.args.list_keys,
                     REPEATS), flush=True)
            self.largeObjects()
            self.smallObjects()
            self.listing()
        finally:
            self.stopAll()
        return self.rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--small-ops", type=int, default=2000)
    parser.add_argument("--list-keys", type=int, default=10000)
    parser.add_argument("--dir", default=None, help="where to put the temporary files")
    args = parser.parse_args(argv)
    for program in ("curl", "nginx", "dd"):
        if shutil.which(program) is None:
            raise SystemExit("%s is needed (apt-get install curl nginx-light coreutils)"
                             % (program,))
    Bench(args).run()


if __name__ == "__main__":
    main()
