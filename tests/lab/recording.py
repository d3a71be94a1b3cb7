"""A command runner for tests: records argv instead of running it.

It keeps a simulated set of namespaces (``ip netns add``/``delete`` change
it) so that the lab's decisions about what exists can be tested too.
"""

from eucad.lab.commands import CommandFailed


class FakeProcess:
    """What spawn() returns: a pid that belongs to no process of ours."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        return 0


class RecordingRunner:
    """Records every argv; answers from ``outputs`` (argv tuple -> stdout)."""

    def __init__(self, namespaces=(), failOn=None):
        self.commands = []
        self.spawned = []
        self.existing = set(namespaces)
        self.outputs = {}
        self.failOn = failOn

    def run(self, argv, check=True, timeout=60):
        argv = [str(a) for a in argv]
        self.commands.append(argv)
        if self.failOn is not None and self.failOn(argv):
            if check:
                raise CommandFailed(argv, 2, "recorded failure")
            return 2, "", "recorded failure"
        if argv[:3] == ["ip", "netns", "add"]:
            self.existing.add(argv[3])
        elif argv[:3] == ["ip", "netns", "delete"]:
            self.existing.discard(argv[3])
        return 0, self.outputs.get(tuple(argv), ""), ""

    def spawn(self, argv, logPath):
        self.spawned.append([str(a) for a in argv])
        return FakeProcess(999999999)

    def namespaces(self):
        return set(self.existing)
