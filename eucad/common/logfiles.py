"""Log files only their owner can read: 0600 from the first byte, in 0700 directories.

A daemon's log holds user names, request paths and the stderr of the
commands it runs; none of it is for other local users.  Every eucad log
(the daemons' own, the error logs of external commands, twistd's) is
opened here: created with mode 0600 (not whatever the umask allows), an
existing file narrowed to 0600, and a directory made for it created 0700.
"""

import os

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def ensurePrivateFile(path):
    """Create ``path`` empty if missing, and make it 0600 either way."""
    openPrivateLog(path, binary=True).close()


def openPrivateLog(path, binary=False):
    """``path`` opened for appending (text, line-buffered; or unbuffered bytes), 0600."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if binary:
            return os.fdopen(fd, "ab", buffering=0)
        return os.fdopen(fd, "a", encoding="utf-8", buffering=1)
    except BaseException:
        os.close(fd)
        raise
