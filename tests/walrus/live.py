"""A real Walrus listening on 127.0.0.1 inside the trial reactor, and client runners.

The Walrus is assembled exactly as the daemon does it (``eucad.walrus.app``)
with its own database and I/O thread pools.  Clients run in threads (boto3,
boto 2) or as subprocesses in threads (awscli, s3cmd, rclone, curl), so the
reactor keeps serving while they wait.
"""

import os
import shutil
import subprocess
import sys

from twisted.internet import defer, threads
from twisted.trial.unittest import SkipTest

from eucad.common import accounts
from eucad.common.config import EucaConf
from eucad.common.db import Database
from eucad.walrus.app import IoPool, StoreStartup, buildWalrus
from eucad.walrus.service import makeSite
from tests.listening import listenClosingConnections

#: Variables of the test machine that would point clients at other CAs or
#: credentials; the clients talk plain HTTP to 127.0.0.1 only.
_DROPPED_ENV = ("AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class LiveWalrus:
    def __init__(self, testcase, conf=None):
        self.testcase = testcase
        self.root = os.path.abspath(testcase.mktemp())
        os.makedirs(self.root)
        self.conf = EucaConf(os.path.join(self.root, "eucalyptus.conf"))
        self.conf.set("WALRUS_MAX_BUCKETS_PER_USER", "50")
        for key, value in (conf or {}).items():
            self.conf.set(key, value)

    @defer.inlineCallbacks
    def start(self):
        self.db = Database("sqlite:///" + os.path.join(self.root, "eucalyptus.db"))
        self.db.startService()
        self.testcase.addCleanup(self.db.stopService)
        self.io = IoPool(8)
        self.io.startService()
        self.testcase.addCleanup(self.io.stopService)
        self.walrus = buildWalrus(self.db, os.path.join(self.root, "bukkits"), self.conf,
                                  self.io.run)
        startup = StoreStartup(self.walrus.store)
        startup.startService()
        yield startup.swept
        site = makeSite(self.walrus)
        self.port = listenClosingConnections(self.testcase, site)
        self.endpoint = "http://127.0.0.1:%d" % (self.port.getHost().port,)

        def users(session):
            return [(u.accessKey, u.secretKey) for u in (
                accounts.createUser(session, "alice"), accounts.createUser(session, "bob"))]
        self.alice, self.bob = yield self.db.run(users)

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update({"AWS_ACCESS_KEY_ID": self.alice[0], "AWS_SECRET_ACCESS_KEY": self.alice[1],
                    "AWS_DEFAULT_REGION": "us-east-1", "HOME": self.root,
                    "AWS_CONFIG_FILE": os.path.join(self.root, "aws-config"),
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.root, "aws-credentials"),
                    "RCLONE_CONFIG": os.path.join(self.root, "rclone.conf")})
        return env

    def run(self, argv, timeout=240, check=True):
        """Deferred CompletedProcess of ``argv`` run in a thread."""
        def call():
            result = subprocess.run(argv, env=self.env(), cwd=self.root, capture_output=True,
                                    timeout=timeout)
            if check and result.returncode != 0:
                raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s" % (
                    argv, result.returncode, result.stdout[-2000:], result.stderr[-3000:]))
            return result
        return threads.deferToThread(call)

    def s3Client(self, endpoint=None, **kwargs):
        """A boto3 S3 client signed as alice, at this Walrus (or ``endpoint``)."""
        import boto3
        return boto3.client("s3", endpoint_url=endpoint or self.endpoint,
                            aws_access_key_id=self.alice[0],
                            aws_secret_access_key=self.alice[1], region_name="us-east-1",
                            **kwargs)

    def inThread(self, fn, *args):
        return threads.deferToThread(fn, *args)

    def path(self, *parts):
        return os.path.join(self.root, *parts)


def requireCommand(name):
    """The path of a client program, or SkipTest naming its package."""
    found = shutil.which(name)
    if found is None:
        raise SkipTest("%s is not installed (Debian package %s)" % (name, name))
    return found


def awsCommand():
    """awscli from the project's virtualenv."""
    candidate = os.path.join(os.path.dirname(sys.executable), "aws")
    if os.path.exists(candidate):
        return [candidate]
    found = shutil.which("aws")
    if found is None:
        raise SkipTest("awscli is not installed (pip install awscli)")
    return [found]
