"""The shapes of the ids and user names that travel from the CLC to the nodes.

The CLC hands out ids (``eucad.clc.ids``: a prefix and 8 lowercase hex
digits, as Eucalyptus 1.4) and user names; the CC checks a run request before
it allocates addresses and DHCP entries, and the NC checks it again before it
makes files named after them.  Both check against this one module, so a
request the CC accepts is never refused by the node afterwards for its ids.

Owners are CLC user names (``eucad.common.accounts``: at most 64 characters).
On a node an owner names a directory under ``INSTANCE_PATH``, so only
letters, digits and ``_ . @ -`` are allowed and a name of dots alone (``.``,
``..``) is not.

Each ``is*`` function takes any value and answers a bool; callers raise their
own errors with their own EC2 codes.
"""

import re

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}$")
RESERVATION_ID = re.compile(r"^r-[0-9a-f]{8}$")
#: Machine images, kernels and ramdisks.
IMAGE_ID = re.compile(r"^e[mkr]i-[0-9a-f]{8}$")
OWNER = re.compile(r"^(?!\.+$)[A-Za-z0-9_.@-]{1,64}$")


def _matches(pattern, value):
    # fullmatch: "$" alone would also accept a trailing newline.
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def isInstanceId(value):
    """Whether ``value`` is an instance id: ``i-`` and 8 lowercase hex digits."""
    return _matches(INSTANCE_ID, value)


def isReservationId(value):
    """Whether ``value`` is a reservation id: ``r-`` and 8 lowercase hex digits."""
    return _matches(RESERVATION_ID, value)


def isImageId(value):
    """Whether ``value`` is an ``emi-``, ``eki-`` or ``eri-`` id with 8 lowercase hex digits."""
    return _matches(IMAGE_ID, value)


def isOwner(value):
    """Whether ``value`` is a user name that may own instances (see the module docstring)."""
    return _matches(OWNER, value)
