"""Web passwords, stored as scrypt hashes (memory-hard, from ``cryptography``).

A stored hash is ``scrypt$N$r$p$SALT$KEY`` (salt and key base64), so the
cost can be raised later without invalidating older hashes.  Hashing takes
tens of milliseconds and tens of MiB on purpose: callers run it in the
database's thread pool, never on the reactor thread.
"""

import base64
import hmac
import os

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

#: scrypt cost: 2**14 rounds with r=8 use 16 MiB per hash.
N, R, P = 2 ** 14, 8, 1
_KEY_BYTES = 32


def _derive(password, salt, n, r, p):
    return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(
        password.encode("utf-8"))


def hashPassword(password):
    """The stored form of ``password`` (a new random salt each time)."""
    salt = os.urandom(16)
    key = _derive(password, salt, N, R, P)
    return "scrypt$%d$%d$%d$%s$%s" % (
        N, R, P, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def checkPassword(password, stored):
    """Whether ``password`` matches ``stored`` (a hash from ``hashPassword``)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, base64.b64decode(key))
