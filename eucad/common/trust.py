"""The cloud's certificate authority and the mutually authenticated TLS of its links.

``euca_conf --setup`` (or a daemon's first start) makes a cloud CA and one
certificate + key per role, in ``var/lib/eucalyptus/keys/`` under the names
the guide uses (``cloud-cert.pem``/``cloud-pk.pem``, ``cluster-*``,
``node-*``) plus ``cacert.pem`` (and ``cacert-pk.pem``, which never leaves the
front end).  ``euca_sync_key`` copies what nodes need.

A link is refused unless the peer shows a certificate signed by the cloud CA
whose role (the certificate's organizational unit) is the one expected: the CC
takes connections from ``cloud`` only, the NC from ``cluster`` only, and each
client checks the server's role and, through ``service_identity``, that the
certificate names the host it dialled.  The cloud key is RSA because bundle
decryption (ec2-bundle-image) needs it; the others follow for uniformity.
"""

import datetime
import ipaddress
import os
import socket

import service_identity
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL, crypto
from service_identity.cryptography import (verify_certificate_hostname,
                                           verify_certificate_ip_address)
from twisted.internet.interfaces import (IOpenSSLClientConnectionCreator,
                                         IOpenSSLContextFactory)
from twisted.logger import Logger
from zope.interface import implementer

from eucad.common.atomicfile import writeAtomically

log = Logger()

ROLES = ("cloud", "cluster", "node")
CA_CERT = "cacert.pem"
CA_KEY = "cacert-pk.pem"
#: What every node needs: euca_sync_key copies exactly these.
NODE_FILES = (CA_CERT, "node-cert.pem", "node-pk.pem")
#: What a cluster controller's host needs: ``euca_sync_key --cluster`` copies these.
CLUSTER_FILES = (CA_CERT, "cluster-cert.pem", "cluster-pk.pem")
_VALIDITY = datetime.timedelta(days=3650)


def certPath(keysDir, role):
    return os.path.join(keysDir, "%s-cert.pem" % (role,))


def keyPath(keysDir, role):
    return os.path.join(keysDir, "%s-pk.pem" % (role,))


def _newKey():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(commonName, role):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eucad"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, commonName),
    ])


def defaultSubjectNames():
    """Names every role certificate carries: this host and loopback."""
    names = {"localhost", "127.0.0.1", "::1"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name)
    return names


def _subjectAltNames(names):
    entries = []
    for name in sorted(set(names)):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _pemKey(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pemCert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def makeCA(keysDir):
    """Create the cloud CA in ``keysDir`` unless it exists; return (cert, key)."""
    os.makedirs(keysDir, mode=0o700, exist_ok=True)
    certFile, keyFile = os.path.join(keysDir, CA_CERT), os.path.join(keysDir, CA_KEY)
    if os.path.exists(certFile) and os.path.exists(keyFile):
        return loadCert(certFile), loadKey(keyFile)
    key = _newKey()
    name = _name("eucad cloud CA", "ca")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    writeAtomically(keyFile, _pemKey(key), 0o600)
    writeAtomically(certFile, _pemCert(cert), 0o644)
    return cert, key


def makeRoleCertificate(keysDir, role, names=(), force=False):
    """
    Create ``<role>-cert.pem``/``<role>-pk.pem`` signed by the CA, naming this
    host, loopback and ``names`` (hostnames or IPs) in subjectAltName.
    Existing files are kept unless ``force``.
    """
    if role not in ROLES:
        raise ValueError("unknown role %r" % (role,))
    certFile, keyFile = certPath(keysDir, role), keyPath(keysDir, role)
    if not force and os.path.exists(certFile) and os.path.exists(keyFile):
        return loadCert(certFile)
    caCert, caKey = makeCA(keysDir)
    key = _newKey()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name("eucad %s" % (role,), role))
            .issuer_name(caCert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_subjectAltNames(defaultSubjectNames() | set(names)),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([
                ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
            .sign(caKey, hashes.SHA256()))
    writeAtomically(keyFile, _pemKey(key), 0o600)
    writeAtomically(certFile, _pemCert(cert), 0o644)
    return cert


#: How long a user's certificate is valid (rotation revokes it sooner).
USER_CERT_VALIDITY = datetime.timedelta(days=5 * 365)


def issueUserCertificate(keysDir, userName, accountNumber):
    """
    A fresh key and a certificate for a user, signed by the cloud CA; return
    ``(certificate, key)``.  Its role (organizational unit) is ``user``, which
    no link accepts, so a user's certificate never opens a tier's port; it
    is what euca2ools sign image bundles with.
    """
    caCert, caKey = loadCert(os.path.join(keysDir, CA_CERT)), loadKey(
        os.path.join(keysDir, CA_KEY))
    key = _newKey()
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eucad"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "user"),
        x509.NameAttribute(NameOID.USER_ID, accountNumber),
        x509.NameAttribute(NameOID.COMMON_NAME, userName),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(caCert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + USER_CERT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True,
                key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(caKey, hashes.SHA256()))
    return cert, key


def pemCertificate(cert):
    """A certificate as PEM bytes."""
    return _pemCert(cert)


def pemPrivateKey(key):
    """A private key as unencrypted PEM bytes (for the user's credentials only)."""
    return _pemKey(key)


def setup(keysDir, names=()):
    """The CA and every role's certificate (what ``euca_conf --setup`` does)."""
    makeCA(keysDir)
    for role in ROLES:
        makeRoleCertificate(keysDir, role, names)


def loadCert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def loadKey(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def roleOf(cert):
    """The role a certificate was issued for (its organizational unit)."""
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return units[0].value if units else None


def certificateNames(cert, host):
    """Whether ``cert`` names ``host`` (a host name or an IP address) as a client checks it."""
    try:
        try:
            ipaddress.ip_address(host)
            verify_certificate_ip_address(cert, host)
        except ValueError:
            verify_certificate_hostname(cert, host)
    except service_identity.VerificationError:
        return False
    return True


class _Verifier:
    """
    OpenSSL's verify callback: the chain must already be good (OpenSSL checked
    it against the cloud CA alone), the leaf must carry the expected role and,
    on the client side, name the host we dialled.
    """

    def __init__(self, expectRole, hostname=None):
        self.expectRole = expectRole
        self.hostname = hostname

    def __call__(self, connection, certificate, errno, depth, ok):
        if not ok:
            log.warn("TLS peer refused: certificate does not chain to the cloud CA "
                     "(error {errno})", errno=errno)
            return False
        if depth != 0:
            return True
        cert = certificate.to_cryptography()
        role = roleOf(cert)
        accepted = ((self.expectRole,) if isinstance(self.expectRole, str)
                    else tuple(self.expectRole))
        if role not in accepted:
            log.warn("TLS peer refused: role {role!r}, expected {expected!r}",
                     role=role, expected=self.expectRole)
            return False
        if self.hostname is not None and not certificateNames(cert, self.hostname):
            log.warn("TLS peer refused: certificate does not name {host}",
                     host=self.hostname)
            return False
        return True


class Credentials:
    """One role's certificate and key plus the cloud CA, as TLS options."""

    def __init__(self, role, cert, key, caCert):
        self.role = role
        self.cert = cert
        self.key = key
        self.caCert = caCert

    @classmethod
    def load(cls, layout, role):
        keysDir = layout.keys
        return cls(role, loadCert(certPath(keysDir, role)),
                   loadKey(keyPath(keysDir, role)),
                   loadCert(os.path.join(keysDir, CA_CERT)))

    def _context(self, verifier):
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.set_options(SSL.OP_NO_COMPRESSION)
        context.use_certificate(crypto.X509.from_cryptography(self.cert))
        context.use_privatekey(crypto.PKey.from_cryptography_key(self.key))
        context.check_privatekey()
        context.get_cert_store().add_cert(crypto.X509.from_cryptography(self.caCert))
        context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, verifier)
        context.set_verify_depth(2)
        return context

    def serverOptions(self, acceptRole):
        """Server-side TLS that requires a client certificate of ``acceptRole``
        (a role, or a tuple of roles)."""
        return _ServerOptions(self._context(_Verifier(acceptRole)))

    def clientOptions(self, hostname, expectRole):
        """Client-side TLS that presents our certificate and checks the server."""
        return _ClientOptions(self._context(_Verifier(expectRole, hostname)), hostname)


@implementer(IOpenSSLContextFactory)
class _ServerOptions:
    """A context factory for ``SSL4ServerEndpoint`` (the getContext protocol)."""

    def __init__(self, context):
        self._context = context

    def getContext(self):
        return self._context


@implementer(IOpenSSLClientConnectionCreator)
class _ClientOptions:
    """A client connection creator for ``SSL4ClientEndpoint``, with SNI."""

    def __init__(self, context, hostname):
        self._context = context
        self.hostname = hostname

    def clientConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        try:
            ipaddress.ip_address(self.hostname)
        except ValueError:
            connection.set_tlsext_host_name(self.hostname.encode("idna"))
        return connection


class LazyCredentials:
    """
    A role's credentials read the first time TLS needs them: when a link
    connects or a server accepts its first connection, which is after
    ``startService``.  A daemon's service tree can so be built (and
    ``twistd`` can parse its options) before ``euca_conf --setup`` ran.
    Same methods as ``Credentials``.
    """

    def __init__(self, layout, role, load=None):
        self.layout = layout
        self.role = role
        self._load = load or Credentials.load
        self._credentials = None

    def credentials(self):
        if self._credentials is None:
            self._credentials = self._load(self.layout, self.role)
        return self._credentials

    def serverOptions(self, acceptRole):
        return _LazyServerOptions(self, acceptRole)

    def clientOptions(self, hostname, expectRole):
        return _LazyClientOptions(self, hostname, expectRole)


@implementer(IOpenSSLContextFactory)
class _LazyServerOptions:
    """Server options built from the credentials on the first handshake."""

    def __init__(self, source, acceptRole):
        self.source = source
        self.acceptRole = acceptRole
        self._options = None

    def getContext(self):
        if self._options is None:
            self._options = self.source.credentials().serverOptions(self.acceptRole)
        return self._options.getContext()


@implementer(IOpenSSLClientConnectionCreator)
class _LazyClientOptions:
    """Client options built from the credentials on the first connection."""

    def __init__(self, source, hostname, expectRole):
        self.source = source
        self.hostname = hostname
        self.expectRole = expectRole
        self._options = None

    def clientConnectionForTLS(self, tlsProtocol):
        if self._options is None:
            self._options = self.source.credentials().clientOptions(
                self.hostname, self.expectRole)
        return self._options.clientConnectionForTLS(tlsProtocol)
