"""EC2 identifiers: a prefix and 8 hex digits (``i-1a2b3c4d``), as Eucalyptus.

New ids are random and checked against their table inside the transaction
that inserts them, so two launches can never hand out the same id.
"""

import re
import secrets

#: Prefixes of the ids this cloud hands out.
INSTANCE, RESERVATION = "i", "r"
MACHINE, KERNEL, RAMDISK = "emi", "eki", "eri"

IMAGE_PREFIX_BY_KIND = {"machine": MACHINE, "kernel": KERNEL, "ramdisk": RAMDISK}
IMAGE_KIND_BY_PREFIX = {prefix: kind for kind, prefix in IMAGE_PREFIX_BY_KIND.items()}

_ID = re.compile(r"^([a-z]+)-([0-9a-f]{8})$")

#: Tries before giving up on finding a free id (2^32 ids: never reached).
_MAX_TRIES = 64


def randomId(prefix):
    return "%s-%s" % (prefix, secrets.token_hex(4))


def prefixOf(text):
    """The prefix of a well-formed id, or None if ``text`` is not one."""
    match = _ID.match(text or "")
    return match.group(1) if match else None


def isId(text, *prefixes):
    """Whether ``text`` is a well-formed id with one of ``prefixes``."""
    return prefixOf(text) in prefixes


def newUniqueId(session, model, prefix, taken=()):
    """A random id of ``prefix`` that is neither in ``model``'s table nor ``taken``."""
    for _ in range(_MAX_TRIES):
        candidate = randomId(prefix)
        if candidate not in taken and session.get(model, candidate) is None:
            return candidate
    raise RuntimeError("no free %s- id after %d tries" % (prefix, _MAX_TRIES))
