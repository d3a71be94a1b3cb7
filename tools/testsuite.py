"""Runs the trial suite for tools/run-tests and ends with one plain summary line.

Named tests (``tools/run-tests tests/cc``) run in one trial process.  The
whole suite runs two trial processes at a time, because much of its time is
spent waiting (for VMs to boot, daemons to start, packages to build) while
a core could run other tests.  The suite is cut into parts (each
end-to-end module, each other package) handed out longest first to
whichever process is free, so the two end close together; a module never
spans two processes, so a module's shared cloud stays one.  Each process
has its own temporary directory, and each part's log is kept.
Set-up that both could need at once is done before they start: the test
image is built once here (two builds into one directory would race).  The
packaging tests' slow set-up, the Debian root (debootstrap) and the Debian
packages (dpkg-buildpackage, lintian), starts in the background from the
first second, beside the other tests; ``tools/debian-root`` and
``tools/build-debs`` hold a lock while they work, so a test that needs
their result waits for it instead of making its own.

Each process reports per-test times (trial's timing reporter); the
slowest tests of the run are listed before the summary line
``tests: N passed, N failed, N skipped``.
"""

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(PROJECT, ".venv", "bin", "python")
BUILD = os.path.join(PROJECT, "build")

#: Seconds each part of the suite took in one measured run (on a loaded
#: machine: only their order matters).  The parts are handed out longest
#: first; a part not named here is taken for an end-to-end module's
#: length if it is one, else for a small package's.
ESTIMATES = {
    "tests.e2e.test_sidebyside": 350, "tests.e2e.test_boot": 310,
    "tests.e2e.test_system": 305, "tests.e2e.test_poweroff": 200,
    "tests.e2e.test_managed": 190, "tests.e2e.test_userstory": 180,
    "tests.e2e.test_makerun": 145, "tests.e2e.test_images": 145,
    "tests.e2e.test_static": 140, "tests.e2e.test_ncrestart": 130,
    "tests.e2e.test_powersave": 80,
    "tests.clc": 600, "tests.walrus": 300, "tests.common": 100, "tests.frontend": 60,
    "tests.lab": 60, "tests.nc": 30, "tests.cc": 25, "tests.bundle": 5,
}
E2E_MODULE_ESTIMATE = 200
PACKAGE_ESTIMATE = 30

#: Its slow set-up is made in the background from the start: it is handed
#: out after the end-to-end modules, when that set-up is done.
PACKAGING = "tests.packaging"

WORKERS = 2

SLOWEST = 20

_SUMMARY = re.compile(r"^(PASSED|FAILED) \((.*)\)\s*$", re.MULTILINE)
_TIMED = re.compile(r"^(\S+) \.\.\. .*?\[\w+\]\s*\n\((\d+\.\d+) secs\)", re.MULTILINE | re.DOTALL)


def allTestPackages():
    """Every package directly under tests/ (tests/*/ with an __init__.py), dotted."""
    found = []
    for name in sorted(os.listdir(os.path.join(PROJECT, "tests"))):
        if os.path.exists(os.path.join(PROJECT, "tests", name, "__init__.py")):
            found.append("tests." + name)
    return found


def parts():
    """
    The whole suite in the order it is handed out, longest first: each
    end-to-end module alone (each brings its own cloud up) and every other
    package whole; the packaging tests right after the last end-to-end
    module.
    """
    e2eDir = os.path.join(PROJECT, "tests", "e2e")
    e2e = ["tests.e2e." + name[:-3] for name in os.listdir(e2eDir)
           if name.startswith("test_") and name.endswith(".py")]
    packages = [name for name in allTestPackages() if name not in ("tests.e2e", PACKAGING)]

    def estimate(name):
        return ESTIMATES.get(name, E2E_MODULE_ESTIMATE if name in e2e else PACKAGE_ESTIMATE)
    order = sorted(e2e + packages, key=lambda name: (-estimate(name), name))
    lastE2e = max(order.index(name) for name in e2e) if e2e else -1
    return order[:lastE2e + 1] + [PACKAGING] + order[lastE2e + 1:]


def trialArgv(tempName, tests):
    return [PYTHON, "-m", "twisted.trial", "--reporter=timing",
            "--temp-directory=" + os.path.join(BUILD, tempName)] + list(tests)


def counts(log):
    """(passed, failed, skipped) from trial's last PASSED/FAILED line in ``log``."""
    found = _SUMMARY.findall(log)
    fields = dict(re.findall(r"(\w+)=(\d+)", found[-1][1])) if found else {}
    number = lambda key: int(fields.get(key, 0))
    return (number("successes"),
            number("failures") + number("errors") + number("unexpectedSuccesses"),
            number("skips"))


def timings(log):
    """[(seconds, test id)] of every test the timing reporter timed in ``log``."""
    return [(float(seconds), name) for name, seconds in _TIMED.findall(log)]


def isRoot():
    return os.geteuid() == 0


def startInBackground(argv, logName):
    """``argv`` started in its own process group, its output to build/LOGNAME."""
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, logName), "w") as log:
        try:
            return subprocess.Popen(argv, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            print("run-tests: could not start %s: %s" % (argv[0], e), flush=True)
            return None


def lockHeld(path):
    """Whether another process holds the flock on ``path`` now."""
    try:
        with open(path) as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def startPackageBuild():
    """
    tools/build-debs into a fresh build/debs, in the background; the
    packaging tests find it through EUCAD_TEST_DEBS and wait on its lock.
    Returns the process once it holds the lock (or has ended).
    """
    out = os.path.join(BUILD, "debs")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    process = startInBackground([os.path.join(PROJECT, "tools", "build-debs"), out],
                                "build-debs.log")
    if process is None:
        return None
    os.environ["EUCAD_TEST_DEBS"] = out
    deadline = time.monotonic() + 60
    while (time.monotonic() < deadline and process.poll() is None
           and not lockHeld(os.path.join(out, ".lock"))):
        time.sleep(0.05)
    return process


def prepareSharedSetUp():
    """
    Before the two processes start: the test image built once; the Debian
    root and the Debian packages started in the background (the packaging
    tests wait for them).  Returns the background processes.  A failure
    here is not the run's: the tests that need the artefact report it.
    """
    if not isRoot():
        return []
    built = subprocess.run([PYTHON, "-m", "eucad.lab.testimage"], cwd=PROJECT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if built.returncode != 0:
        print("run-tests: building the test image failed (the tests that need it "
              "will say why):\n" + built.stdout[-2000:], flush=True)
    background = [startInBackground([os.path.join(PROJECT, "tools", "debian-root"),
                                     os.path.join(BUILD, "debian-root")], "debian-root.log")]
    if not os.environ.get("EUCAD_TEST_DEBS"):
        background.append(startPackageBuild())
    return [process for process in background if process is not None]


def runOne(tests):
    """Named tests in one trial process, its output streamed."""
    process = subprocess.Popen(trialArgv("_trial_temp", tests), cwd=PROJECT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
    process.wait()
    return process.returncode, ["".join(lines)]


def startPart(part, slot, path, otherPids):
    """
    One part's trial process.  The end-to-end tests name their labs and
    clouds after their process's PID modulo 1000 (``e2e%d``), so two
    processes whose PIDs agree there would take each other's namespaces:
    such a process is ended at once (by its PID, before it has imported
    anything) and started again, a bounded number of times.
    """
    for _ in range(20):
        with open(path, "w") as out:
            process = subprocess.Popen(trialArgv("_trial_temp_%d" % (slot,), [part]),
                                       cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT)
        if all(process.pid % 1000 != pid % 1000 for pid in otherPids):
            return process
        process.kill()
        process.wait()
    return process


def runWhole():
    """
    The whole suite, part by part, in WORKERS trial processes at a time:
    whenever one ends, the next part starts.  Each part's output is shown
    when it ends (and kept in build/test-logs).
    """
    logDir = os.path.join(BUILD, "test-logs")
    shutil.rmtree(logDir, ignore_errors=True)
    os.makedirs(logDir)
    waiting = parts()
    running = {}
    status, logs = 0, []
    while waiting or running:
        for slot in range(WORKERS):
            if slot in running or not waiting:
                continue
            part = waiting.pop(0)
            path = os.path.join(logDir, part + ".log")
            others = [entry[1].pid for entry in running.values()]
            process = startPart(part, slot, path, others)
            running[slot] = (part, process, path, time.monotonic())
        time.sleep(0.2)
        for slot, (part, process, path, started) in list(running.items()):
            if process.poll() is None:
                continue
            del running[slot]
            with open(path) as f:
                log = f.read()
            sys.stdout.write(log)
            print("run-tests: %s ended (exit %d) after %.0f s" % (
                part, process.returncode, time.monotonic() - started), flush=True)
            if process.returncode and not _SUMMARY.search(log):
                # A trial that died before its summary: its failure counts.
                log += "\nFAILED (errors=1)\n"
            status = status or process.returncode
            logs.append(log)
    return status, logs


def main(argv):
    started = time.monotonic()
    # Named tests run in one process: nothing races, nothing to prepare.
    background = [] if argv else prepareSharedSetUp()
    try:
        status, logs = runOne(argv) if argv else runWhole()
    finally:
        for process in background:
            if process.poll() is None:
                # Still at work though the tests ended (interrupted?): this
                # run's own process group, ended by its id.
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
    slowest = sorted((entry for log in logs for entry in timings(log)), reverse=True)
    slowest = slowest[:SLOWEST]
    if slowest:
        print("\nslowest %d tests:" % (len(slowest),))
        for seconds, name in slowest:
            print("%8.1f s  %s" % (seconds, name))
    print("\nrun-tests: %.0f s in all" % (time.monotonic() - started,))
    passed, failed, skipped = (sum(column) for column in zip(*map(counts, logs)))
    print("tests: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
