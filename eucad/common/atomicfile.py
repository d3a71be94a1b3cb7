"""Writing a file so that readers and crashes see the old or the new one, never half.

Keys, configuration, credentials and state files all go through
``writeAtomically``: the data goes to a temporary file in the same directory,
created with its final permissions (a private key is never readable by others,
not even for a moment), is fsynced, renamed over the target, and the
directory is fsynced so that the rename itself survives a crash.
"""

import os
import tempfile


def writeAtomically(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (bytes or str) in one step."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory,
                                     prefix="." + os.path.basename(path) + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directoryFd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directoryFd)
    finally:
        os.close(directoryFd)
    return path
