"""How the lab runs its commands: argv lists, synchronously, checked.

The lab is a tool (a CLI and a test fixture), not a daemon, so it runs
``ip`` and friends with ``subprocess`` and waits; Twisted code that needs a
lab calls it from a thread.  Everything goes through a L{CommandRunner} so
that tests can hand in a recorder and check the exact argv, and so that the
set of namespaces the lab sees can be simulated there too.
"""

import os
import subprocess

from eucad.common.logfiles import openPrivateLog

NETNS_DIR = "/run/netns"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class CommandFailed(Exception):
    """A lab command exited non-zero or timed out."""

    def __init__(self, argv, code, stderr):
        Exception.__init__(self, "%s: exit status %s: %s" % (" ".join(argv), code, stderr.strip()[-400:]))
        self.argv = argv
        self.code = code
        self.stderr = stderr


def _environment():
    env = dict(os.environ)
    env["PATH"] = PATH + (":" + env["PATH"] if env.get("PATH") else "")
    return env


class CommandRunner:
    """Runs the lab's commands on this machine."""

    def run(self, argv, check=True, timeout=60):
        """
        Run ``argv`` to its end.

        @return: (exit code, stdout text, stderr text).
        @raise CommandFailed: if ``check`` and it exits non-zero or times out.
        """
        argv = [str(a) for a in argv]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                    stdin=subprocess.DEVNULL, env=_environment())
        except subprocess.TimeoutExpired as e:
            raise CommandFailed(argv, "timeout after %ss" % (timeout,), str(e.stderr or ""))
        except OSError as e:
            raise CommandFailed(argv, "not started", str(e))
        if check and result.returncode != 0:
            raise CommandFailed(argv, result.returncode, result.stderr)
        return result.returncode, result.stdout, result.stderr

    def spawn(self, argv, logPath):
        """
        Start ``argv`` in the background, in its own session, with its
        output appended to ``logPath`` (0600).

        @return: the subprocess.Popen.
        """
        with openPrivateLog(logPath, binary=True) as log:
            return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True,
                                    env=_environment())

    def namespaces(self):
        """Names of the network namespaces that exist (``ip netns add``ed)."""
        try:
            return set(os.listdir(NETNS_DIR))
        except FileNotFoundError:
            return set()
