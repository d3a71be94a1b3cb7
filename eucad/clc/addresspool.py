"""The public addresses users may allocate: ``VNET_PUBLICIPS`` and the
per-user limit, read once from eucalyptus.conf.

``VNET_PUBLICIPS`` lists single addresses and ranges separated by spaces
(or commas): ``192.0.2.10 192.0.2.20-192.0.2.29`` or the short form
``192.0.2.20-29`` that Eucalyptus's configuration used.
"""

import ipaddress

#: Default of ``ADDRESSES_PER_USER`` (as Eucalyptus's maxUserPublicAddresses).
DEFAULT_ADDRESSES_PER_USER = 5

#: Largest pool accepted (a /16): the pool is kept in memory as a list.
MAX_POOL_SIZE = 65536


class AddressPool:
    """
    The ordered public addresses and how many one user may hold.

    @param addresses: ``[str]`` in allocation order, no duplicates.
    @param perUser: limit per user (0: no allocations at all).
    """

    def __init__(self, addresses, perUser=DEFAULT_ADDRESSES_PER_USER):
        self.addresses = list(dict.fromkeys(addresses))
        self.members = frozenset(self.addresses)
        self.perUser = perUser

    def __contains__(self, address):
        return address in self.members

    def __len__(self):
        return len(self.addresses)


def _range(text):
    first, _, last = text.partition("-")
    start = ipaddress.IPv4Address(first.strip())
    last = last.strip()
    if "." not in last:
        # 192.0.2.20-29: the last octet of the end of the range.
        last = "%s.%s" % (str(start).rsplit(".", 1)[0], last)
    end = ipaddress.IPv4Address(last)
    if end < start:
        raise ValueError("range %s ends before it starts" % (text,))
    if int(end) - int(start) >= MAX_POOL_SIZE:
        raise ValueError("range %s is larger than %d addresses" % (text, MAX_POOL_SIZE))
    return [str(ipaddress.IPv4Address(n)) for n in range(int(start), int(end) + 1)]


def parsePublicIps(text):
    """
    The addresses ``VNET_PUBLICIPS`` names, in order.

    @raise ValueError: naming the entry that is not an IPv4 address or range.
    """
    addresses = []
    for entry in (text or "").replace(",", " ").split():
        try:
            if "-" in entry:
                addresses.extend(_range(entry))
            else:
                addresses.append(str(ipaddress.IPv4Address(entry)))
        except ValueError as e:
            raise ValueError("VNET_PUBLICIPS: %r is not an address or a range (%s)"
                             % (entry, e))
        if len(addresses) > MAX_POOL_SIZE:
            raise ValueError("VNET_PUBLICIPS names more than %d addresses"
                             % (MAX_POOL_SIZE,))
    return addresses


def poolFromConf(conf):
    """The ``AddressPool`` of an ``eucad.common.config`` eucalyptus.conf."""
    raw = conf.get("ADDRESSES_PER_USER")
    try:
        perUser = int(raw) if raw not in (None, "") else DEFAULT_ADDRESSES_PER_USER
    except ValueError:
        raise ValueError("ADDRESSES_PER_USER: %r is not a number" % (raw,))
    if perUser < 0:
        raise ValueError("ADDRESSES_PER_USER may not be negative")
    return AddressPool(parsePublicIps(conf.get("VNET_PUBLICIPS")), perUser)
