"""The administrator's operations behind euca_conf's ``--check``, ``--backup`` and ``--restore``.

``euca_conf`` parses the command line and edits the configuration; what an
operation does lives in its own module (``diagnostics``, ``backup``), and
this one routes the checked flags there and turns results into lines and an
exit status.
"""

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
    return status
