"""The administrator's operations behind euca_conf's ``--check``, ``--backup``,
``--restore`` and ``--upgrade-database``.

``euca_conf`` parses the command line and edits the configuration; what an
operation does lives in its own module (``diagnostics``, ``backup``,
``dbupgrade``), and
this one routes the checked flags there and turns results into lines and an
exit status.
"""

import os
import sys

from eucad.common.config import Layout


def runOperations(operations, conf, out=None, err=None):
    """
    Run what ``operations`` (``{"check"|"backup"|"restore": argument}``) asks,
    for the install ``conf`` belongs to.

    @return: the exit status: 0 when all went well, 1 when a check found a
        problem, 2 when an operation was refused.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    layout = Layout(conf.get("EUCALYPTUS") or "/")
    status = 0
    if "check" in operations:
        from eucad.common import diagnostics
        lines, status = diagnostics.report(operations["check"], layout, conf)
        for line in lines:
            out.write(line + "\n")
    if "backup" in operations:
        from eucad.common import backup
        try:
            names = backup.writeBackup(conf, layout, operations["backup"])
        except backup.BackupError as e:
            err.write("euca_conf: %s\n" % (e,))
            return 2
        out.write("euca_conf: backed up %d files to %s\n" % (
            len(names) - 1, operations["backup"]))
    if "restore" in operations:
        from eucad.common import backup
        running = runningDaemons(layout)
        if running:
            err.write("euca_conf: %s still running: stop it first (eucad-ctl stop)\n"
                      % (", ".join(running),))
            return 2
        try:
            names = backup.restoreBackup(conf, layout, operations["restore"])
        except backup.BackupError as e:
            err.write("euca_conf: %s\n" % (e,))
            return 2
        out.write("euca_conf: restored %d files from %s\n" % (
            len(names), operations["restore"]))
    if "upgrade-database" in operations:
        from eucad.common import dbupgrade
        outcome = dbupgrade.upgradeDatabase(conf, layout, operations["upgrade-database"],
                                            runningDaemons(layout))
        stream = out if outcome.status in (dbupgrade.DONE, dbupgrade.DEFERRED) else err
        stream.write("euca_conf: %s\n" % (outcome.line,))
        if outcome.status != dbupgrade.DONE:
            return outcome.status
    return status


def runningDaemons(layout):
    """The plugins of this install's daemons that run now (by their PID files)."""
    from eucad.common.control import daemonsFor
    if not os.path.exists(layout.conf):
        return []
    return [d.plugin for d in daemonsFor(layout.prefix, onlyEnabled=False)
            if d.pid() is not None]
