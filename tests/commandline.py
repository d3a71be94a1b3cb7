"""Running a console script's ``main`` in-process, as a shell would see it."""

import io
from contextlib import redirect_stderr, redirect_stdout


def run(main, argv):
    """``(exit status, stdout, stderr)`` of ``main(argv)``."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()
