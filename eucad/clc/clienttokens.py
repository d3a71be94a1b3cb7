"""RunInstances' ``ClientToken``: the same request twice launches once.

A token is per user.  The first request with a token launches and records
``token -> reservation`` (with a digest of its parameters); a repeat answers
that reservation again, and a repeat with other parameters is
IdempotentParameterMismatch, as in EC2.  A repeat arriving while the first is
still launching waits for it instead of launching twice.  A launch that
failed records nothing, so the client may retry it.
"""

import hashlib

from sqlalchemy import Float, String, select
from sqlalchemy.orm import Mapped, mapped_column
from twisted.internet import defer

from eucad.clc import instancestore
from eucad.clc.models import Reservation
from eucad.common.db import Base
from eucad.common.errors import CloudError

MAX_TOKEN_LENGTH = 64

#: Parameters that differ between two sends of the same request.
_TRANSPORT_PARAMS = frozenset((
    "Signature", "SignatureMethod", "SignatureVersion", "AWSAccessKeyId",
    "Timestamp", "Expires", "Version", "ClientToken", "Action"))


class ClientToken(Base):
    __tablename__ = "clienttokens"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(MAX_TOKEN_LENGTH), primary_key=True)
    reservationId: Mapped[str] = mapped_column(String(16))
    paramsDigest: Mapped[str] = mapped_column(String(64))
    created: Mapped[float] = mapped_column(Float)


def checkToken(token):
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise CloudError("InvalidParameterValue",
                         "ClientToken is up to %d printable ASCII characters"
                         % (MAX_TOKEN_LENGTH,))


def paramsDigest(params):
    """A digest of what the request asks for (not of how it was signed)."""
    kept = sorted((name, value) for name, value in params.items()
                  if name not in _TRANSPORT_PARAMS and not name.startswith("X-Amz-"))
    text = "\n".join("%s=%s" % pair for pair in kept)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def earlierLaunch(session, owner, token, digest):
    """The view of the reservation this token launched, or None."""
    row = session.get(ClientToken, (owner, token))
    if row is None:
        return None
    if row.paramsDigest != digest:
        raise CloudError("IdempotentParameterMismatch",
                         "The client token '%s' was used with other parameters"
                         % (token,))
    if session.get(Reservation, row.reservationId) is None:
        return None
    return instancestore.reservationView(session, row.reservationId)


def recordLaunch(session, owner, token, digest, reservationId, now):
    row = session.get(ClientToken, (owner, token))
    if row is None:
        session.add(ClientToken(owner=owner, token=token, reservationId=reservationId,
                                paramsDigest=digest, created=now))
    else:
        row.reservationId, row.paramsDigest = reservationId, digest
    session.flush()


class ClientTokens:
    """The tokens whose launch is running now, in this process."""

    def __init__(self):
        self._running = {}

    @defer.inlineCallbacks
    def launchOnce(self, cloud, owner, token, digest, launch):
        """
        ``launch()``'s ``(reservation, records)``, or the earlier answer
        of the same token.
        """
        checkToken(token)
        key = (owner, token)
        while key in self._running:
            waiter = defer.Deferred()
            self._running[key].append(waiter)
            yield waiter
        earlier = yield cloud.db.run(earlierLaunch, owner, token, digest)
        if earlier is not None:
            return earlier
        self._running[key] = []
        try:
            reservation, records = yield launch()
            yield cloud.db.run(recordLaunch, owner, token, digest, reservation["id"],
                               cloud.now())
        finally:
            for waiter in self._running.pop(key):
                waiter.callback(None)
        return reservation, records
