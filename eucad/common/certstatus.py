"""Whose certificate a failed TLS link refused, for the verbose zone listing.

The guide's ``euca-describe-availability-zones verbose`` shows, per node,
``certs[cc=true,nc=true]``: whether the cluster's and the node's certificates
check out.  On the mutual-TLS link from a CC to an NC both do when a call went
through; when the link breaks, the reason OpenSSL gives says which side
refused which certificate:

- the dialling side refused the peer's certificate (not from the cloud CA,
  wrong role, wrong name): ``certificate verify failed`` on our side;
- the peer refused ours: it sends an alert (``unknown ca``, ``bad
  certificate``, ``certificate unknown`` ...) that we receive.

``LinkClient`` keeps the reason of its last lost connection;
``eucad.cc.nodes`` asks ``certificateVerdict`` about it.
"""

from OpenSSL import SSL

#: What OpenSSL says on the dialling side when it refused the peer's certificate.
PEER_REFUSED_MARKERS = ("certificate verify failed",)

#: Alerts a peer sends when it refused our certificate.  ``decrypt error``
#: is what OpenSSL sends for a certificate whose issuer has the cloud CA's
#: name but whose signature the CA did not make (another cloud's CA).
LOCAL_REFUSED_MARKERS = (
    "alert decrypt error",
    "alert unknown ca", "alert bad certificate", "alert certificate unknown",
    "alert certificate required", "alert certificate expired",
    "alert certificate revoked", "alert unsupported certificate",
    "alert access denied", "peer did not return a certificate",
)


def _opensslText(error):
    """The lower-cased reason strings of an ``SSL.Error``."""
    parts = []
    for entry in error.args[0] if error.args and isinstance(error.args[0], list) else []:
        parts.extend(str(piece) for piece in entry)
    if not parts:
        parts.append(str(error))
    return " ".join(parts).lower()


def certificateVerdict(reason):
    """
    Which certificates a lost connection says did not check out.

    @param reason: the Failure (or exception) a connection was lost with, or
        None.
    @return: ``{"local": bool, "peer": bool}`` when the reason is a refused
        certificate (False for the side that was refused), None otherwise
        (a refused TCP connection, a timeout, a clean close: nothing is known
        about the certificates).
    """
    error = getattr(reason, "value", reason)
    if not isinstance(error, SSL.Error):
        return None
    text = _opensslText(error)
    if any(marker in text for marker in PEER_REFUSED_MARKERS):
        return {"local": True, "peer": False}
    if any(marker in text for marker in LOCAL_REFUSED_MARKERS):
        return {"local": False, "peer": True}
    return None
