"""The Debian packages: built with dpkg-buildpackage, lintian-clean, and a cloud
started from them through their init script.

The packages are built once per run by ``tools/build-debs`` (a clean copy of
the tree, ``dpkg-buildpackage -us -uc -b``, lintian).  Installing them with
``dpkg -i`` would change this machine's own /etc and /usr, so they are
unpacked into a separate root instead and their launchers pointed at it; the
cloud then runs on Debian's python3 and the packaged libraries alone, with
no virtualenv on the path.
"""

import fcntl
import os
import socket
import subprocess
import tempfile

import boto3
from botocore.config import Config
from twisted.trial import unittest

from eucad.common import control

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("eucalyptus-common", "eucalyptus-cloud", "eucalyptus-walrus", "eucalyptus-cc",
            "eucalyptus-nc")
PACKAGED_ROOT = "/usr/lib/eucad"

_BUILT = {}


def builtPackages():
    """``{package: .deb path}`` and lintian's output, built once per test run."""
    if "debs" not in _BUILT:
        # A developer re-running one packaging test may name packages that
        # tools/build-debs made earlier, and tools/run-tests names the ones
        # it is building beside the tests; by default they are built afresh.
        out = os.environ.get("EUCAD_TEST_DEBS")
        if not out:
            out = tempfile.mkdtemp(prefix="debs-", dir=os.getcwd())
            result = subprocess.run([os.path.join(PROJECT, "tools", "build-debs"), out],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise AssertionError("build-debs failed: %s" % (result.stderr[-3000:],))
        else:
            waitForBuild(out)
        debs = {}
        for name in os.listdir(out):
            if name.endswith(".deb"):
                debs[name.split("_")[0]] = os.path.join(out, name)
        with open(os.path.join(out, "lintian.txt")) as f:
            _BUILT["lintian"] = f.read()
        _BUILT["debs"] = debs
    return _BUILT["debs"]


def waitForBuild(out):
    """Wait while tools/build-debs holds ``out``'s lock; fail as it did, if it did."""
    lockPath = os.path.join(out, ".lock")
    if os.path.exists(lockPath):
        with open(lockPath) as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
    if not os.path.exists(os.path.join(out, "lintian.txt")):
        log = os.path.join(out, "build.log")
        tail = open(log, errors="replace").read()[-3000:] if os.path.exists(log) else ""
        raise AssertionError("build-debs left no packages in %s: %s" % (out, tail))


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                          check=True).stdout.strip()


def contents(deb):
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                             check=True).stdout
    return [line.split()[-1].lstrip(".") for line in listing.splitlines()
            if not line.startswith("l")] + [
        line.split()[-3].lstrip(".") for line in listing.splitlines()
        if line.startswith("l")]


class DebianPackageTests(unittest.TestCase):

    def test_lintianFindsNoErrors(self):
        """All five packages build, and lintian reports no error for any of them."""
        debs = builtPackages()
        self.assertEqual(sorted(debs), sorted(PACKAGES))
        errors = [line for line in _BUILT["lintian"].splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [])

    def test_dependenciesAndFiles(self):
        """Each package depends on what its daemon drives and ships its unit."""
        debs = builtPackages()
        cc = field(debs["eucalyptus-cc"], "Depends")
        for needed in ("isc-dhcp-server", "iptables", "iproute2", "bridge-utils", "vlan"):
            self.assertIn(needed, cc)
        nc = field(debs["eucalyptus-nc"], "Depends")
        for needed in ("libvirt-daemon", "qemu-system-x86", "python3-libvirt"):
            self.assertIn(needed, nc)
        common = contents(debs["eucalyptus-common"])
        for path in ("/usr/sbin/euca_conf", "/usr/sbin/euca_sync_key", "/usr/sbin/eucad-ctl",
                     "/usr/bin/eucad-image",
                     "/etc/init.d/eucalyptus", "/etc/eucalyptus/eucalyptus.conf",
                     "/etc/logrotate.d/eucalyptus",
                     PACKAGED_ROOT + "/site/twisted/plugins/eucad_plugins.py"):
            self.assertTrue(path in common, "%s is not in eucalyptus-common" % (path,))
        for package, unit in (("eucalyptus-cloud", "eucalyptus-clc"),
                              ("eucalyptus-walrus", "eucalyptus-walrus"),
                              ("eucalyptus-cc", "eucalyptus-cc"),
                              ("eucalyptus-nc", "eucalyptus-nc")):
            self.assertTrue("/lib/systemd/system/%s.service" % (unit,)
                            in contents(debs[package]), package)

    def test_cloudStartsFromThePackagesThroughTheInitScript(self):
        """Unpacked into their own root, the packages' init script starts a CLC and a
        CC that answer DescribeAvailabilityZones, and euca_conf --check says ok."""
        debs = builtPackages()
        root = os.path.abspath(self.mktemp())
        for package in PACKAGES:
            subprocess.run(["dpkg-deb", "-x", debs[package], root], check=True)
        packaged = root + PACKAGED_ROOT
        # The launchers name the packaged root: point them at this one.
        for name in os.listdir(os.path.join(packaged, "bin")):
            path = os.path.join(packaged, "bin", name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace(PACKAGED_ROOT, packaged))
        # What postinst does for twistd: the plugin cache.
        subprocess.run(["/usr/bin/python3", "-c", "from twisted.plugin import IPlugin, "
                        "getPlugins; list(getPlugins(IPlugin))"], check=True,
                       env={"PYTHONPATH": packaged + "/site", "PATH": "/usr/bin:/bin"})
        self.assertTrue(os.path.exists(packaged + "/site/twisted/plugins/dropin.cache"))

        prefix = os.path.abspath(self.mktemp())
        env = {"PATH": "%s/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin" % (root,),
               "EUCALYPTUS": prefix, "HOME": prefix}
        cloudPort, ccPort = freePort(), freePort()

        def sh(*argv):
            result = subprocess.run(list(argv), env=env, capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, (argv, result.stdout, result.stderr))
            return result.stdout

        sh("euca_conf", "-d", prefix, "-cloud", "Y", "-cc", "Y",
           "CLOUD_PORT=%d" % cloudPort, "CLOUD_LISTEN=127.0.0.1", "WALRUS_IMAGE_PORT=0",
           "METADATA_PORT=%d" % freePort(), "METADATA_LISTEN=127.0.0.1",
           "CC_PORT=%d" % ccPort, "CC_LISTEN=127.0.0.1",
           "CLUSTERS=zone1@127.0.0.1:%d" % ccPort, "--setup",
           "--get-credentials", os.path.join(prefix, "creds"))
        self.addCleanup(lambda: [d.stop() for d in control.daemonsFor(prefix, False)])
        out = sh(os.path.join(root, "etc", "init.d", "eucalyptus"), "start")
        self.assertIn("started eucalyptus-clc", out)
        self.assertIn("started eucalyptus-cc", out)
        for daemon in control.daemonsFor(prefix):
            with open("/proc/%d/environ" % (daemon.pid(),), "rb") as f:
                self.assertNotIn(b".venv", f.read())
        self.assertEqual(sh("euca_conf", "--check", "cc"), "cc: ok\n")

        credentials = {}
        with open(os.path.join(prefix, "creds", "eucarc")) as f:
            for line in f:
                if line.startswith("export "):
                    key, _, value = line[len("export "):].strip().partition("=")
                    credentials[key] = value.strip("'\"")
        ec2 = boto3.client("ec2", endpoint_url=credentials["EC2_URL"],
                           aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                           region_name="eucalyptus",
                           config=Config(retries={"max_attempts": 10, "mode": "standard"}))
        zones = ec2.describe_availability_zones()["AvailabilityZones"]
        self.assertEqual([zone["ZoneName"] for zone in zones], ["zone1"])

        out = sh(os.path.join(root, "etc", "init.d", "eucalyptus"), "stop")
        self.assertIn("stopped eucalyptus-clc", out)
        self.assertEqual(control.daemonsFor(prefix, False)[1].pid(), None)
