"""A process the lab started, recognisable again from another process.

``eucad-lab up`` starts daemons and exits; ``eucad-lab down`` (a different
process) must stop exactly those.  A PID alone could by then name someone
else's process, so each is remembered as (pid, start time in clock ticks
since boot, from /proc/PID/stat) and only signalled while both still match.
A zombie counts as gone: on this machine PID 1 reaps orphans late.
"""

import os
import signal
import subprocess
import time


def _statFields(pid):
    try:
        with open("/proc/%d/stat" % (pid,)) as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name: state is the first.
    return stat[stat.rfind(")") + 2:].split()


def startTime(pid):
    """The process's start time (clock ticks after boot), or None if gone."""
    fields = _statFields(pid)
    return int(fields[19]) if fields else None


class OwnedProcess:
    """
    A started process, by PID and start time.

    @ivar popen: the subprocess.Popen when this process started it (so it
        can be reaped here); None when loaded from saved state.
    """

    def __init__(self, pid, started, popen=None):
        self.pid = pid
        self.started = started
        self.popen = popen

    @classmethod
    def fromPopen(cls, popen):
        return cls(popen.pid, startTime(popen.pid), popen)

    @classmethod
    def fromJson(cls, data):
        return cls(int(data["pid"]), data.get("started"))

    def toJson(self):
        return {"pid": self.pid, "started": self.started}

    def alive(self):
        """True while the same process runs (not a zombie, not a reused PID)."""
        if self.popen is not None and self.popen.poll() is not None:
            return False
        fields = _statFields(self.pid)
        if not fields or fields[0] in ("Z", "X"):
            return False
        return self.started is None or int(fields[19]) == self.started

    def signal(self, signum):
        """Send ``signum`` if the process is still ours; True if sent."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def waitGone(self, timeout):
        """Wait up to ``timeout`` seconds for the process to end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None:
                try:
                    self.popen.wait(timeout=min(0.05, max(0.0, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    pass
            if not self.alive():
                return True
            time.sleep(0.02)
        return not self.alive()

    def terminate(self, timeout=20.0):
        """SIGTERM, then SIGKILL after ``timeout``; True once it is gone."""
        if self.signal(signal.SIGTERM) and not self.waitGone(timeout):
            self.signal(signal.SIGKILL)
            return self.waitGone(5.0)
        return not self.alive()
