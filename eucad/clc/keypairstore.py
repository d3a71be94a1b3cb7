"""Key pair rows: each user's named public keys and their fingerprints.

The private half of a created key is handed to the caller once and never
stored.  Functions run inside ``Database.run`` and return plain dicts; names
are per user, so one user's ``mykey`` never meets another's.
"""

import time

from sqlalchemy import Float, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from eucad.clc import ids, sshkeys
from eucad.common.db import Base
from eucad.common.errors import CloudError

KEY_PAIR = "key"

#: EC2's limit on key pair names (ASCII, up to 255 characters).
MAX_NAME_LENGTH = 255


class KeyPair(Base):
    __tablename__ = "keypairs"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(128))
    #: The OpenSSH ``ssh-rsa AAAA...`` line handed to instances.
    publicKey: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)

    def record(self):
        return {"id": self.id, "owner": self.owner, "name": self.name,
                "kind": self.kind, "fingerprint": self.fingerprint,
                "publicKey": self.publicKey, "created": self.created}


def checkName(name):
    if not name:
        raise CloudError("MissingParameter",
                         "The request must contain the parameter KeyName")
    if len(name) > MAX_NAME_LENGTH or not name.isascii() or not name.isprintable():
        raise CloudError("InvalidParameterValue",
                         "Key pair names are up to %d printable ASCII characters"
                         % (MAX_NAME_LENGTH,))


def _find(session, owner, name):
    return session.scalars(select(KeyPair).where(KeyPair.owner == owner)
                           .where(KeyPair.name == name)).first()


def _add(session, owner, name, kind, fingerprint, publicLine, now):
    checkName(name)
    if _find(session, owner, name) is not None:
        raise CloudError("InvalidKeyPair.Duplicate",
                         "The keypair '%s' already exists." % (name,))
    row = KeyPair(id=ids.newUniqueId(session, KeyPair, KEY_PAIR), owner=owner,
                  name=name, kind=kind, fingerprint=fingerprint,
                  publicKey=publicLine, created=time.time() if now is None else now)
    session.add(row)
    session.flush()
    return row.record()


def addCreatedKey(session, owner, name, newKey, now=None):
    """Store the public half of ``newKey`` (an ``sshkeys.NewKey``) as ``name``."""
    return _add(session, owner, name, newKey.kind, newKey.fingerprint,
                newKey.publicLine, now)


def addImportedKey(session, owner, name, imported, now=None):
    """Store an ``sshkeys.ImportedKey`` as ``name``."""
    return _add(session, owner, name, imported.kind, imported.fingerprint,
                imported.publicLine, now)


def deleteKeyPair(session, owner, name=None, keyPairId=None):
    """
    Remove ``owner``'s key pair by name or id; as EC2, a key pair that does
    not exist is no error (and another user's is simply not found).
    """
    query = select(KeyPair).where(KeyPair.owner == owner)
    if keyPairId:
        query = query.where(KeyPair.id == keyPairId)
    else:
        checkName(name)
        query = query.where(KeyPair.name == name)
    row = session.scalars(query).first()
    if row is not None:
        session.delete(row)
        session.flush()
    return row is not None


def listKeyPairs(session, owner, seeAll=False, names=(), keyPairIds=()):
    """
    Records of ``owner``'s key pairs (everybody's with ``seeAll``) by name;
    naming one that does not exist is InvalidKeyPair.NotFound.
    """
    query = select(KeyPair).order_by(KeyPair.owner, KeyPair.name)
    if not seeAll:
        query = query.where(KeyPair.owner == owner)
    if names:
        query = query.where(KeyPair.name.in_(list(names)))
    if keyPairIds:
        query = query.where(KeyPair.id.in_(list(keyPairIds)))
    records = [row.record() for row in session.scalars(query)]
    missing = ([n for n in names if n not in {r["name"] for r in records}]
               + [i for i in keyPairIds if i not in {r["id"] for r in records}])
    if missing:
        raise CloudError("InvalidKeyPair.NotFound",
                         "The key pair '%s' does not exist" % (missing[0],))
    return records


def publicKeyOf(session, owner, name):
    """The OpenSSH public key of ``owner``'s key pair ``name`` (for a launch)."""
    row = _find(session, owner, name)
    if row is None:
        raise CloudError("InvalidKeyPair.NotFound",
                         "The key pair '%s' does not exist" % (name,))
    return row.publicKey
