"""The crash test: SIGKILL the Walrus daemon in the middle of PUTs.

A real ``twist eucalyptus-walrus`` process takes overwrites of a few keys
from several clients at once and is killed with SIGKILL while bodies are in
flight.  After a restart every key must read back complete, its MD5 equal to
its ETag and to one of the versions a client sent, and the start-up sweep
must leave no temporary file and no blob that no row names.  The same again
in a versioned bucket with deletes among the writes and small bodies (kept
in their rows) among the large: every version and delete marker a client
was told about is still there, every version whole, and the sweep keeps
exactly the blobs of the versions kept in files.
"""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import accounts
from eucad.common.config import EucaConf, Layout
from eucad.common.db import Database, defaultUrl
from eucad.walrus.blobs import TEMP_PREFIX, BlobDirectory
from eucad.walrus.inline import INLINE_MAX

KEYS = ["key-%d" % i for i in range(8)]
WRITERS = 4


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One ``python -m twisted eucalyptus-walrus`` process, by PID."""

    def __init__(self, prefix, port):
        self.prefix = prefix
        self.port = port
        self.process = None

    def start(self):
        log = open(os.path.join(self.prefix, "daemon-%d.log" % time.time_ns()), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twisted", "eucalyptus-walrus", "--prefix", self.prefix],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.prefix)
        log.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("walrus exited with %s" % (self.process.returncode,))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("walrus did not listen within 60 s")

    def kill(self, sig=signal.SIGKILL):
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def startDaemon(testcase, user, **settings):
    """
    A real Walrus daemon in a fresh install with one user: (prefix, port,
    (access key, secret key), daemon), killed when the test ends.
    """
    prefix = os.path.abspath(testcase.mktemp())
    layout = Layout(prefix)
    port = freePort()
    conf = EucaConf(layout.conf)
    conf.set("WALRUS_PORT", str(port))
    conf.set("WALRUS_LISTEN", "127.0.0.1")
    for key, value in settings.items():
        conf.set(key, value)
    conf.save()
    database = Database(defaultUrl(layout))
    keys = database.transact(
        lambda s: (lambda u: (u.accessKey, u.secretKey))(accounts.createUser(s, user)))
    database.engine.dispose()
    daemon = Daemon(prefix, port)
    testcase.addCleanup(daemon.kill)
    daemon.start()
    return prefix, port, keys, daemon


class CrashTests(unittest.TestCase):
    timeout = 300

    def test_sigkillDuringPuts(self):
        """After SIGKILL mid-PUT and a restart, every object is whole and matches its ETag."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        import boto3
        from botocore.config import Config
        prefix, port, (accessKey, secretKey), daemon = startDaemon(
            self, "crash", LOGLEVEL="INFO")

        def client():
            return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port,
                                aws_access_key_id=accessKey, aws_secret_access_key=secretKey,
                                region_name="us-east-1",
                                config=Config(s3={"addressing_style": "path"},
                                              retries={"max_attempts": 1},
                                              connect_timeout=5, read_timeout=30))
        s3 = client()
        s3.create_bucket(Bucket="crash")
        sent = {key: set() for key in KEYS}
        lock = threading.Lock()
        for key in KEYS:
            data = os.urandom(1024 * 1024)
            sent[key].add(hashlib.md5(data).hexdigest())
            s3.put_object(Bucket="crash", Key=key, Body=data)

        stop = threading.Event()
        completed = [0]
        interrupted = [0]

        def writer(index):
            mine = client()
            round = 0
            while not stop.is_set() and round < 500:
                key = KEYS[(index + round * WRITERS) % len(KEYS)]
                data = os.urandom((1 + (round * 7 + index) % 12) * 1024 * 1024)
                with lock:
                    sent[key].add(hashlib.md5(data).hexdigest())
                try:
                    mine.put_object(Bucket="crash", Key=key, Body=data)
                    with lock:
                        completed[0] += 1
                except Exception:
                    with lock:
                        interrupted[0] += 1
                    return
                round += 1
        workers = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for worker in workers:
            worker.start()
        deadline = time.time() + 30
        while completed[0] < 6 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        daemon.kill(signal.SIGKILL)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        self.assertGreaterEqual(completed[0], 6)
        # The kill cut some uploads short: their clients saw the connection die.
        self.assertGreaterEqual(interrupted[0], 1)

        daemon.start()
        s3 = client()
        for key in KEYS:
            got = s3.get_object(Bucket="crash", Key=key)
            body = got["Body"].read()
            digest = hashlib.md5(body).hexdigest()
            self.assertEqual(len(body), got["ContentLength"], key)
            self.assertEqual('"%s"' % digest, got["ETag"], key)
            self.assertIn(digest, sent[key], key)

        bukkits = Layout(prefix).bukkits
        deadline = time.time() + 30
        while time.time() < deadline:
            temporary = BlobDirectory(bukkits).temporaryFiles()
            blobs = [name for directory in os.listdir(os.path.join(bukkits, "blobs"))
                     for name in os.listdir(os.path.join(bukkits, "blobs", directory))
                     if not name.startswith(TEMP_PREFIX)]
            if not temporary and len(blobs) == len(KEYS):
                break
            time.sleep(0.2)
        self.assertEqual(temporary, [])
        self.assertEqual(len(blobs), len(KEYS))
        daemon.kill(signal.SIGTERM)


class VersionedCrashTests(unittest.TestCase):
    timeout = 300

    def test_sigkillDuringVersionedPutsAndDeletes(self):
        """After SIGKILL mid-write in a versioned bucket, every acknowledged version and marker survives whole."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        import boto3
        from botocore.config import Config
        prefix, port, (accessKey, secretKey), daemon = startDaemon(
            self, "crash", LOGLEVEL="INFO")

        def client():
            return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port,
                                aws_access_key_id=accessKey, aws_secret_access_key=secretKey,
                                region_name="us-east-1",
                                config=Config(s3={"addressing_style": "path"},
                                              retries={"max_attempts": 1},
                                              connect_timeout=5, read_timeout=30))
        s3 = client()
        s3.create_bucket(Bucket="vcrash")
        s3.put_bucket_versioning(Bucket="vcrash", VersioningConfiguration={"Status": "Enabled"})
        sent = {}           # every body sent: md5 -> key
        acknowledged = {}   # version id -> (key, md5) of each acknowledged PUT
        markers = {}        # version id -> key of each acknowledged delete marker
        lock = threading.Lock()
        stop = threading.Event()
        completed = [0]
        interrupted = [0]

        def writer(index):
            mine = client()
            round = 0
            while not stop.is_set() and round < 500:
                key = KEYS[(index + round * WRITERS) % len(KEYS)]
                try:
                    if round % 4 == 3:
                        reply = mine.delete_object(Bucket="vcrash", Key=key)
                        with lock:
                            markers[reply["VersionId"]] = key
                    else:
                        # Small bodies (the group commit's path) and large ones.
                        size = 4096 if round % 2 else (1 + (round + index) % 6) * 512 * 1024
                        data = os.urandom(size)
                        digest = hashlib.md5(data).hexdigest()
                        with lock:
                            sent[digest] = key
                        reply = mine.put_object(Bucket="vcrash", Key=key, Body=data)
                        with lock:
                            acknowledged[reply["VersionId"]] = (key, digest)
                    with lock:
                        completed[0] += 1
                except Exception:
                    with lock:
                        interrupted[0] += 1
                    return
                round += 1
        workers = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for worker in workers:
            worker.start()
        deadline = time.time() + 30
        while completed[0] < 24 and time.time() < deadline:
            time.sleep(0.05)
        daemon.kill(signal.SIGKILL)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        self.assertGreaterEqual(completed[0], 24)
        self.assertGreaterEqual(len(markers), 1)

        daemon.start()
        s3 = client()
        versions, found = {}, {}
        for page in s3.get_paginator("list_object_versions").paginate(
                Bucket="vcrash", PaginationConfig={"PageSize": 7}):
            for version in page.get("Versions", []):
                versions[version["VersionId"]] = version
            for marker in page.get("DeleteMarkers", []):
                found[marker["VersionId"]] = marker["Key"]
        for versionId, (key, digest) in acknowledged.items():
            self.assertIn(versionId, versions, key)
            self.assertEqual(versions[versionId]["Key"], key)
        for versionId, key in markers.items():
            self.assertEqual(found.get(versionId), key)
        # Every version listed (acknowledged or committed just before the
        # kill) reads back whole, as one of the bodies sent for its key.
        for versionId, version in versions.items():
            got = s3.get_object(Bucket="vcrash", Key=version["Key"], VersionId=versionId)
            body = got["Body"].read()
            digest = hashlib.md5(body).hexdigest()
            self.assertEqual(len(body), version["Size"], versionId)
            self.assertEqual('"%s"' % digest, version["ETag"], versionId)
            self.assertEqual(sent.get(digest), version["Key"], versionId)
            if versionId in acknowledged:
                self.assertEqual(acknowledged[versionId][1], digest)

        # The small versions are kept in their rows (eucad.walrus.inline):
        # exactly the others have a blob file.
        inFiles = [v for v in versions.values() if v["Size"] > INLINE_MAX]
        self.assertLess(len(inFiles), len(versions))
        bukkits = Layout(prefix).bukkits
        deadline = time.time() + 30
        while time.time() < deadline:
            temporary = BlobDirectory(bukkits).temporaryFiles()
            blobs = [name for directory in os.listdir(os.path.join(bukkits, "blobs"))
                     for name in os.listdir(os.path.join(bukkits, "blobs", directory))
                     if not name.startswith(TEMP_PREFIX)]
            if not temporary and len(blobs) == len(inFiles):
                break
            time.sleep(0.2)
        self.assertEqual(temporary, [])
        self.assertEqual(len(blobs), len(inFiles))
        daemon.kill(signal.SIGTERM)


def peakRss(pid):
    """The process's peak resident memory (VmHWM), in bytes."""
    with open("/proc/%d/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % (pid,))


class MemoryTests(unittest.TestCase):
    timeout = 300

    def test_oneGibPutAndGetStayUnder64MiB(self):
        """A 1 GiB PUT and GET grow the daemon's peak memory by less than 64 MiB."""
        return threads.deferToThread(self.scenario)

    def scenario(self):
        from botocore.auth import S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        prefix, port, keys, daemon = startDaemon(self, "mem", WALRUS_MAX_BUCKET_SIZE_MB="0")
        source = os.path.join(prefix, "gib.bin")
        with open(source, "wb") as f:
            block = os.urandom(1024 * 1024)
            for _ in range(1024):
                f.write(block)
        env = {k: v for k, v in os.environ.items() if not k.endswith("CA_BUNDLE")}

        def url(method, path, expires=600):
            request = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (port, path))
            S3SigV4QueryAuth(Credentials(*keys), "s3", "us-east-1",
                             expires=expires).add_auth(request)
            return request.url
        curl = ["curl", "-sS", "-f", "-o", "/dev/null"]
        subprocess.run(curl + ["-X", "PUT", url("PUT", "/membucket")], env=env, check=True)
        before = peakRss(daemon.process.pid)
        subprocess.run(curl + ["-X", "PUT", "-T", source, url("PUT", "/membucket/gib")],
                       env=env, check=True)
        subprocess.run(curl + [url("GET", "/membucket/gib")], env=env, check=True)
        after = peakRss(daemon.process.pid)
        self.assertLess(after - before, 64 * 1024 * 1024, (before, after))
        daemon.kill(signal.SIGTERM)
