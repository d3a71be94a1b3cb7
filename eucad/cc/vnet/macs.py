"""MAC addresses the CC makes up for instances.

Generated MACs start with a locally administered, unicast prefix (first octet
with bit 0x02 set and bit 0x01 clear), so they cannot collide with a vendor's
burnt-in address on the same ethernet.  Eucalyptus 1.4 used ``d0:0d``, which
is globally administered; ``d2:0d`` keeps its look and fixes that.
"""

import random

MAC_PREFIX = "d2:0d"

#: Bounded retries: with 2**32 suffixes a clash is rare, a loop is never endless.
_ATTEMPTS = 64


def isLocallyAdministered(mac):
    first = int(mac.split(":")[0], 16)
    return bool(first & 0x02) and not first & 0x01


def randomMac(taken=(), rng=None, prefix=MAC_PREFIX):
    """
    A random MAC under ``prefix`` that is not in ``taken``.

    @raise RuntimeError: if no free one turned up in a bounded number of tries.
    """
    rng = rng or random.SystemRandom()
    octets = prefix.lower().split(":")
    if not 0 < len(octets) < 6 or not isLocallyAdministered(prefix + ":00" * (6 - len(octets))):
        raise ValueError("MAC prefix %r is not a locally administered unicast prefix" % (prefix,))
    for _ in range(_ATTEMPTS):
        mac = ":".join(octets + ["%02x" % rng.randrange(256) for _ in range(6 - len(octets))])
        if mac not in taken:
            return mac
    raise RuntimeError("no free MAC address under %s after %d tries" % (prefix, _ATTEMPTS))
