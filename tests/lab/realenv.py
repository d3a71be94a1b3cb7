"""Helpers for the lab tests that run real namespaces, qemu and libvirtd."""

import os
import shutil
import subprocess
import sys

from eucad.common.polling import PollTimeout, pollUntil

from twisted.trial import unittest

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

HTTP_GET = (
    "import sys, urllib.request\n"
    "try:\n"
    "    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())\n"
    "except Exception as e:\n"
    "    print('error: %s' % (e,), file=sys.stderr); sys.exit(1)\n")


def skipUnlessReal(*tools):
    """Raise SkipTest unless we are root and every tool is installed."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespaces, qemu, libvirtd)")
    for tool in tools:
        if shutil.which(tool, path=SBIN_PATH) is None:
            raise unittest.SkipTest("%s is not installed" % (tool,))


def uniqueName(prefix):
    """A short lab name unlikely to clash with a concurrent run."""
    return "%s%d" % (prefix, os.getpid() % 100000)


def waitFor(what, predicate, timeout, interval=0.1):
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    try:
        return pollUntil(what, predicate, timeout, interval)
    except PollTimeout as e:
        raise AssertionError(str(e))


def httpGet(netns, url, timeout=2.0):
    """The body at ``url`` fetched from inside ``netns``, or None."""
    result = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", HTTP_GET,
                             url, str(timeout)],
                            capture_output=True, text=True, timeout=timeout + 10)
    return result.stdout if result.returncode == 0 else None


def readText(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def labNamespaces(prefix):
    """Namespaces that exist now whose name starts with ``prefix-``."""
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix + "-"))
    except FileNotFoundError:
        return []


def stopPopen(process, timeout=10):
    """End a process this test started (by its Popen) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
