"""Runs the trial suite for tools/run-tests and ends with one plain summary line.

Named tests (``tools/run-tests tests/cc``) run in one trial process.  The
whole suite runs as two trial processes side by side, because most of its
time is spent waiting: the end-to-end and packaging tests wait for VMs to
boot, daemons to start and packages to build, while the rest keeps a core
busy with Python.  Each process has its own temporary directory and log;
a test module never spans the two, so a module's shared cloud stays one.
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

#: Test packages that spend their time waiting on VMs, daemons and package
#: builds: they run in one process, everything else in the other.
WAITING = ("tests.e2e", "tests.packaging")

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


def groups():
    """The whole suite as two lists of packages: the waiting ones and the rest."""
    everything = allTestPackages()
    waiting = [name for name in everything if name in WAITING]
    rest = [name for name in everything if name not in WAITING]
    return [("waiting", waiting), ("rest", rest)]


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


def runWhole():
    """The whole suite as two trial processes; each one's output when it ends."""
    logDir = os.path.join(BUILD, "test-logs")
    os.makedirs(logDir, exist_ok=True)
    running = []
    for name, tests in groups():
        path = os.path.join(logDir, name + ".log")
        out = open(path, "w")
        process = subprocess.Popen(trialArgv("_trial_temp_" + name, tests), cwd=PROJECT,
                                   stdout=out, stderr=subprocess.STDOUT)
        out.close()
        print("run-tests: %s: %s (log %s)" % (name, " ".join(tests),
                                               os.path.relpath(path, PROJECT)), flush=True)
        running.append((name, process, path, time.monotonic()))
    status, logs = 0, []
    while running:
        for entry in list(running):
            name, process, path, started = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            with open(path) as f:
                log = f.read()
            sys.stdout.write(log)
            print("run-tests: %s ended (exit %d) after %.0f s" % (
                name, process.returncode, time.monotonic() - started), flush=True)
            status = status or process.returncode
            logs.append(log)
        time.sleep(0.5)
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
