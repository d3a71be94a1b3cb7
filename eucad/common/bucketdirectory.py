"""Where Walrus's blobs are, as rows of ``cloud_settings`` both tiers read.

The web pages (CLC) ask for a new bucket directory and Walrus moves its
blobs there (``eucad.walrus.bucketmove``); they share only these rows:

- ``WALRUS_BUCKET_DIRECTORY``: where the administrator wants the blobs (the
  pages write it, after ``checkNewRoot``);
- ``walrus.bukkits.active``: where every blob is, written by Walrus only,
  in the transaction that ends a move;
- ``walrus.bukkits.leftover``: an old root whose copies are still to be
  deleted (written with the switch, removed once they are).

Missing rows mean the install's ``var/lib/eucalyptus/bukkits``.  The
checks of a new directory touch the disk: run them in a worker thread.
"""

import os

from eucad.common.cloudsettings import CloudSetting

WANTED = "WALRUS_BUCKET_DIRECTORY"
ACTIVE = "walrus.bukkits.active"
LEFTOVER = "walrus.bukkits.leftover"


def _get(session, key):
    row = session.get(CloudSetting, key)
    return row.value if row is not None and row.value else None


def _put(session, key, value):
    row = session.get(CloudSetting, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(CloudSetting(key=key, value=value))
    else:
        row.value = value
    session.flush()


def bucketRoots(session, default):
    """``(wanted, active, leftover)`` as stored; the first two default to ``default``."""
    return (_get(session, WANTED) or default, _get(session, ACTIVE) or default,
            _get(session, LEFTOVER))


def moveUnderWay(session, default):
    """
    ``(from, to)`` of the move Walrus has not finished (its old copies
    deleted included), or None.
    """
    wanted, active, leftover = bucketRoots(session, default)
    if wanted != active:
        return active, wanted
    if leftover and leftover != active:
        return leftover, active
    return None


def askForMove(session, path):
    """Store ``path`` as the wanted bucket directory (the page checked it)."""
    _put(session, WANTED, path)


def switchRoots(session, old, new):
    """The move is done: ``new`` is active, ``old``'s copies are leftovers."""
    _put(session, ACTIVE, new)
    _put(session, LEFTOVER, old)


def clearLeftover(session):
    """The old root's copies are deleted."""
    _put(session, LEFTOVER, None)


def checkNewRoot(path, current):
    """
    Why ``path`` cannot become the bucket directory instead of ``current``
    (one line), or None: it must be an absolute, normalised path of an
    existing, empty directory the daemon can write, neither inside the
    current one nor containing it.
    """
    if not path or not os.path.isabs(path) or os.path.normpath(path) != path or path == "/":
        return "Bucket directory: an absolute path like /srv/walrus, without '..' or a trailing '/'."
    if path == current:
        return None
    real, here = os.path.realpath(path), os.path.realpath(current)
    if real == here or real.startswith(here + os.sep) or here.startswith(real + os.sep):
        return "Bucket directory: %s overlaps the current one (%s)." % (path, current)
    if not os.path.isdir(path):
        return "Bucket directory: %s is not an existing directory." % (path,)
    if not os.access(path, os.W_OK | os.X_OK):
        return "Bucket directory: Walrus cannot write to %s." % (path,)
    if os.listdir(path):
        return "Bucket directory: %s is not empty (Walrus moves its data only into an empty directory)." % (path,)
    return None
