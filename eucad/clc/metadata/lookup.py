"""Which instance is asking: the row behind a requester's private address.

Runs in the database's thread pool (``Database.run``); returns a plain dict,
never a row, so that nothing on the reactor thread touches a session.
"""

import ipaddress

from sqlalchemy import select

from eucad.clc.models import LIVE_STATES, Image, Instance, Reservation


def normalAddress(address):
    """
    The IPv4 text of a peer address, unwrapping IPv4-mapped IPv6 (a port
    bound on ``::`` sees ``::ffff:10.0.0.5``); None when it is not an address.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return str(parsed)


def instanceAt(session, address):
    """
    What the metadata service tells the instance at ``address``, or None.

    Only pending and running instances count: a terminated instance's
    address may already belong to someone else.  When two live instances
    claim one address (clusters with overlapping private ranges), neither
    is answered rather than risk handing one the other's data.
    """
    address = normalAddress(address)
    if address is None:
        return None
    rows = session.scalars(select(Instance).where(
        Instance.privateIp == address, Instance.state.in_(LIVE_STATES))).all()
    if len(rows) != 1:
        return None
    row = rows[0]
    reservation = session.get(Reservation, row.reservationId)
    image = session.get(Image, row.imageId)
    record = row.record()
    record["groups"] = reservation.groups.split() if reservation else []
    record["manifestPath"] = image.location if image else None
    return record
