"""Whether a process of ours is still there, by PID.

A zombie holds nothing and counts as gone (on this kind of machine PID 1
reaps orphans late, so a dead daemon can linger as a zombie for a second);
a process we may not signal still exists.
"""

import os


def pidAlive(pid):
    """True while ``pid`` is a live, non-zombie process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % (pid,), "rb") as f:
            # The command name may hold ")": the state follows the last one.
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False
