"""The built packages installed for real: ``dpkg -i`` into a fresh Debian 12 root.

The root is a copy of ``tools/debian-root``'s base (``debootstrap
--variant=minbase`` with the packages' dependencies, made once and kept in
build/), with /proc mounted, entered with ``chroot``.  ``dpkg -i`` runs the
maintainer scripts there as on a real host: postinst makes the eucalyptus
user, the private directories and twistd's plugin cache, and on a
reinstall or upgrade stops the daemons, migrates the database (with a
backup) and starts again what ran.  A chroot has no init system, so
``invoke-rc.d`` would refuse to start anything; the root's
``/usr/sbin/policy-rc.d`` allows it, as on a host where services run.
The daemons share this machine's loopback, so the API is asked from here.
Everything is purged and the root removed at the end.
"""

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import time

import boto3
from botocore.config import Config
from twisted.internet import threads
from twisted.trial import unittest

from eucad.common import schema
from tests.common.test_schema import FIXTURE
from tests.packaging.test_debian import PACKAGES, PROJECT, builtPackages, freePort

#: What the maintainer scripts see: a root's usual environment, no venv.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
              "DEBIAN_FRONTEND": "noninteractive"}
ALICE = ("AKIAALICE00000000001", "alicesecret000000000000000000000000000001")


def baseRoot():
    """The cached base root's path (made by debootstrap on the first run)."""
    result = subprocess.run([os.path.join(PROJECT, "tools", "debian-root"),
                             os.path.join(PROJECT, "build", "debian-root")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError("tools/debian-root failed: %s" % (result.stderr[-3000:],))
    return result.stdout.strip()


def daemonPids(root):
    """PIDs of processes whose root is ``root`` and that a PID file there names."""
    found = []
    # var/run is a link to /run: followed from here it would be this host's.
    piddir = os.path.join(root, "run", "eucalyptus")
    if not os.path.isdir(piddir):
        return found
    for name in os.listdir(piddir):
        if not name.endswith(".pid"):
            continue
        try:
            with open(os.path.join(piddir, name)) as f:
                pid = int(f.read().strip())
            if os.path.realpath("/proc/%d/root" % (pid,)) == os.path.realpath(root):
                found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % (pid,)) as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def readEucarc(path):
    credentials = {}
    with open(path) as f:
        for line in f:
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                credentials[key] = value.strip("'\"")
    return credentials


class DpkgInstallTests(unittest.TestCase):

    timeout = 900

    def setUp(self):
        self.debs = builtPackages()
        base = baseRoot()
        self.root = os.path.abspath(self.mktemp())
        subprocess.run(["cp", "-a", base, self.root], check=True)
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        proc = os.path.join(self.root, "proc")
        subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", proc])
        self.addCleanup(self.killLeftovers)
        policy = os.path.join(self.root, "usr", "sbin", "policy-rc.d")
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# services may start in this root\nexit 0\n")
        os.chmod(policy, 0o755)
        os.makedirs(os.path.join(self.root, "tmp", "debs"))
        for package in PACKAGES:
            shutil.copy(self.debs[package], os.path.join(self.root, "tmp", "debs"))

    def killLeftovers(self):
        """Only this root's daemons, by their PIDs, if a step failed before purge."""
        for pid in daemonPids(self.root):
            os.kill(pid, signal.SIGKILL)

    def inRoot(self, *argv, expect=0):
        result = subprocess.run(["chroot", self.root] + list(argv), env=CHROOT_ENV,
                                capture_output=True, text=True)
        if expect is not None:
            self.assertEqual(result.returncode, expect,
                             (argv, result.stdout[-4000:], result.stderr[-4000:]))
        return result

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def ec2(self, url, credentials):
        return boto3.client("ec2", endpoint_url=url, aws_access_key_id=credentials[0],
                            aws_secret_access_key=credentials[1], region_name="eucalyptus",
                            config=Config(retries={"max_attempts": 10, "mode": "standard"}))

    def debPath(self, package):
        return "/tmp/debs/" + os.path.basename(self.debs[package])

    def test_installUpgradeAndPurge(self):
        """dpkg -i installs all five packages (user, 0700 directories, plugin cache); the
        init script starts a cloud that answers DescribeAvailabilityZones; reinstalling
        stops and restarts it; a 0.1 database is backed up and migrated by postinst and
        alice's old key then reads her instance; dpkg --purge stops and removes all."""
        def scenario():
            result = self.inRoot("dpkg", "-i", *[self.debPath(p) for p in PACKAGES])
            for package in PACKAGES:
                status = self.inRoot("dpkg-query", "-W", "-f", "${Status}", package).stdout
                self.assertEqual(status, "install ok installed", package)
            self.assertIn("no database at /var/lib/eucalyptus/db/eucalyptus.db yet",
                          result.stdout)

            # What postinst made.
            user = self.inRoot("getent", "passwd", "eucalyptus").stdout.strip().split(":")
            self.assertLess(int(user[2]), 1000)
            self.assertEqual((user[5], user[6]), ("/var/lib/eucalyptus", "/usr/sbin/nologin"))
            self.inRoot("getent", "group", "eucalyptus")
            for directory in ("var/lib/eucalyptus", "var/lib/eucalyptus/keys",
                              "var/lib/eucalyptus/db", "var/lib/eucalyptus/backups",
                              "var/log/eucalyptus", "run/eucalyptus"):
                info = os.stat(self.path(directory))
                self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid), (0o700, 0),
                                 directory)
            self.assertTrue(os.path.exists(self.path(
                "usr/lib/eucad/site/twisted/plugins/dropin.cache")))
            self.assertIn("Bundle, upload and register images.",
                          self.inRoot("eucad-image", "--help").stdout)
            self.assertTrue(os.path.exists(self.path("etc/rc2.d/S01eucalyptus")))

            # A cloud configured and started through the init script.
            cloudPort, ccPort = freePort(), freePort()
            self.inRoot("euca_conf", "-cloud", "Y", "-cc", "Y",
                        "CLOUD_PORT=%d" % cloudPort, "CLOUD_LISTEN=127.0.0.1",
                        "WALRUS_PORT=%d" % cloudPort, "WALRUS_LISTEN=127.0.0.1",
                        "WEB_PORT=0", "WALRUS_IMAGE_PORT=0", "METADATA_PORT=%d" % freePort(),
                        "METADATA_LISTEN=127.0.0.1", "CC_PORT=%d" % ccPort,
                        "CC_LISTEN=127.0.0.1", "CLUSTERS=zone1@127.0.0.1:%d" % ccPort,
                        "--setup", "--get-credentials", "/root/creds")
            out = self.inRoot("/etc/init.d/eucalyptus", "start").stdout
            self.assertIn("started eucalyptus-clc", out)
            self.assertIn("started eucalyptus-cc", out)
            self.assertEqual(self.inRoot("euca_conf", "--check", "cc").stdout, "cc: ok\n")
            credentials = readEucarc(self.path("root", "creds", "eucarc"))
            url = credentials["EC2_URL"]
            admin = self.ec2(url, (credentials["AWS_ACCESS_KEY_ID"],
                                   credentials["AWS_SECRET_ACCESS_KEY"]))
            zones = admin.describe_availability_zones()["AvailabilityZones"]
            self.assertEqual([zone["ZoneName"] for zone in zones], ["zone1"])

            # Reinstalling is an upgrade to dpkg: prerm stops, postinst restarts.
            before = sorted(daemonPids(self.root))
            self.assertEqual(len(before), 2)
            result = self.inRoot("dpkg", "-i", self.debPath("eucalyptus-common"))
            self.assertIn("the database is at revision %s, this release's newest"
                          % (schema.headRevision(),), result.stdout)
            after = sorted(daemonPids(self.root))
            self.assertEqual(len(after), 2)
            self.assertEqual(set(before) & set(after), set())
            self.assertFalse([pid for pid in before if alive(pid)])
            zones = admin.describe_availability_zones()["AvailabilityZones"]
            self.assertEqual([zone["ZoneName"] for zone in zones], ["zone1"])

            # The database an older release left: postinst backs it up, migrates it.
            self.inRoot("/etc/init.d/eucalyptus", "stop")
            database = self.path("var", "lib", "eucalyptus", "db", "eucalyptus.db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(database + suffix):
                    os.unlink(database + suffix)
            connection = sqlite3.connect(database)
            with open(FIXTURE, encoding="utf-8") as f:
                connection.executescript(f.read())
            connection.close()
            os.chmod(database, 0o600)
            result = self.inRoot("dpkg", "-i", self.debPath("eucalyptus-common"))
            [backupName] = os.listdir(self.path("var", "lib", "eucalyptus", "backups"))
            self.assertIn("upgraded the database from 0.1 (before revisions) to %s "
                          "(backup: /var/lib/eucalyptus/backups/%s)"
                          % (schema.headRevision(), backupName), result.stdout)
            backupInfo = os.stat(self.path("var", "lib", "eucalyptus", "backups",
                                           backupName))
            self.assertEqual(stat.S_IMODE(backupInfo.st_mode), 0o600)
            self.assertEqual(daemonPids(self.root), [])  # they were stopped: stay so
            self.inRoot("/etc/init.d/eucalyptus", "start")
            [reservation] = self.ec2(url, ALICE).describe_instances()["Reservations"]
            self.assertEqual([i["InstanceId"] for i in reservation["Instances"]],
                             ["i-00000001"])

            # Purging stops the running daemons (prerm) and removes the packages.
            running = daemonPids(self.root)
            self.assertEqual(len(running), 2)
            self.inRoot("dpkg", "--purge", *reversed(PACKAGES))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(alive(pid) for pid in running):
                time.sleep(0.1)
            self.assertFalse([pid for pid in running if alive(pid)])
            for package in PACKAGES:
                self.inRoot("dpkg-query", "-W", package, expect=1)
            self.assertFalse(os.path.exists(self.path("usr", "lib", "eucad")))
            # The cloud's data is kept: purging the code is not losing the cloud.
            self.assertTrue(os.path.exists(database))
            self.assertTrue(os.path.exists(self.path("var", "lib", "eucalyptus", "backups",
                                                     backupName)))
        return threads.deferToThread(scenario)
