"""Run one command as a child subreaper, and clean up after it.

The lab starts each node's libvirtd through this program.  libvirtd
double-forks its qemu processes; without a subreaper those orphans go to PID
1, which on this kind of machine reaps only every second or two, so a dead
qemu looks alive for a while and libvirt waits on it.  Here the orphans come
back to us and are reaped at once.  When the command exits, whatever it left
behind (a qemu still running) is terminated, then killed after a grace
period, so that stopping the node stops everything it started.

Before running the command it can bind-mount directories (``--bind SRC DST``):
the caller runs it under ``unshare -m --propagation private`` so those mounts
are the command's private view (a node's own ``/etc/libvirt`` and friends).

Stand-alone on purpose (standard library only): it is run by file path with
any Python, inside ``ip netns exec``, before the eucad package is importable.

Usage: subreaper.py [--grace SECONDS] [--bind SRC DST]... -- COMMAND [ARG]...
"""

import ctypes
import errno
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MS_BIND = 4096

_libc = ctypes.CDLL(None, use_errno=True)


def becomeSubreaper():
    """Make orphaned descendants our children instead of PID 1's."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, "prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(code))


def bindMount(source, target):
    """mount --bind SOURCE TARGET, creating an empty TARGET if it is missing."""
    os.makedirs(target, exist_ok=True)
    if _libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, "mount --bind %s %s: %s" % (source, target, os.strerror(code)))


def childrenOf(pid):
    """PIDs whose parent is ``pid`` (read from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % (entry,)) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: parse after it.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return children


def reapAvailable():
    """Reap every child that has already exited; return how many."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def terminateLeftovers(grace):
    """TERM the children still here, KILL them after ``grace`` seconds."""
    me = os.getpid()
    deadline = time.monotonic() + grace
    signalled = set()
    while time.monotonic() < deadline:
        reapAvailable()
        left = childrenOf(me)
        if not left:
            return
        for pid in left:
            if pid not in signalled:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                signalled.add(pid)
        time.sleep(0.05)
    for _ in range(100):
        left = childrenOf(me)
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reapAvailable()


def exitCode(status):
    """A shell-style exit code for a wait status."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run(argv, binds=(), grace=5.0):
    """Run ``argv`` as our child; return its exit code once all is reaped."""
    becomeSubreaper()
    for source, target in binds:
        bindMount(source, target)
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    def forward(signum, frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)

    status = None
    while status is None:
        try:
            pid, waitStatus = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except OSError as e:
            if e.errno == errno.EINTR:
                continue
            raise
        if pid == child:
            status = waitStatus
    terminateLeftovers(grace)
    return exitCode(status) if status is not None else 1


def parseArguments(args):
    """(binds, grace, argv) from our command line."""
    binds = []
    grace = 5.0
    i = 0
    while i < len(args) and args[i] != "--":
        if args[i] == "--bind" and i + 2 < len(args):
            binds.append((args[i + 1], args[i + 2]))
            i += 3
        elif args[i] == "--grace" and i + 1 < len(args):
            grace = float(args[i + 1])
            i += 2
        else:
            raise SystemExit("subreaper: unknown argument %r\n%s" % (args[i], __doc__))
    argv = args[i + 1:]
    if not argv:
        raise SystemExit("subreaper: no command given\n" + __doc__)
    return binds, grace, argv


def main(args=None):
    binds, grace, argv = parseArguments(sys.argv[1:] if args is None else args)
    return run(argv, binds, grace)


if __name__ == "__main__":
    sys.exit(main())
