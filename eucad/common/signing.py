"""Request signatures shared by the EC2 and S3 front doors.

AWS Signature Version 4 is the same algorithm for both services (they differ
only in how the path is canonicalised and where the payload hash comes from);
Signature Version 2 differs per service, so this module has the EC2 Query
flavour and ``eucad.walrus`` builds S3's string-to-sign on the same HMAC.

Nothing here looks up users or reads requests: callers parse the request,
find the secret key, and ask ``verify*`` whether the signature is right.
Signatures are compared with ``hmac.compare_digest``.
"""

import base64
import functools
import hashlib
import hmac
import re
import time
from calendar import timegm
from urllib.parse import quote

V4_ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

#: How far a request's own time may be from ours (AWS allows 15 minutes).
MAX_SKEW_SECONDS = 15 * 60


class SignatureError(Exception):
    """A request's signature or its parts are wrong; ``code`` is the API's."""

    def __init__(self, code, message):
        Exception.__init__(self, code, message)
        self.code = code
        self.message = message


def uriEncode(text, safe="-_.~"):
    """RFC 3986 percent-encoding, as SigV4 and SigV2 both require."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return quote(text, safe=safe)


def canonicalQueryString(pairs):
    """``pairs`` are decoded (name, value) tuples; sorted after encoding."""
    encoded = sorted((uriEncode(k), uriEncode(v)) for k, v in pairs)
    return "&".join("%s=%s" % kv for kv in encoded)


def _trimHeaderValue(value):
    return re.sub(r"\s+", " ", value.strip())


def canonicalHeaders(headers, signedHeaders):
    """
    ``headers`` maps lower-case names to lists of values; only the signed
    ones count.  Repeated headers are joined with commas, as AWS does.
    """
    lines = []
    for name in signedHeaders:
        values = headers.get(name)
        if values is None:
            raise SignatureError("SignatureDoesNotMatch",
                                 "Signed header %s is missing" % (name,))
        lines.append("%s:%s\n" % (name, ",".join(_trimHeaderValue(v) for v in values)))
    return "".join(lines)


def canonicalRequest(method, canonicalPath, queryPairs, headers, signedHeaders,
                     payloadHash):
    return "\n".join([
        method,
        canonicalPath,
        canonicalQueryString(queryPairs),
        canonicalHeaders(headers, signedHeaders),
        ";".join(signedHeaders),
        payloadHash,
    ])


@functools.lru_cache(maxsize=1024)
def v4SigningKey(secret, date, region, service):
    """
    The SigV4 key of one secret for one day, region and service: four
    HMACs, the same for every request a client signs that day, so the last
    ones derived are kept (a re-keyed user's new secret is a new entry).
    """
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def v4StringToSign(amzDate, scope, canonical):
    return "\n".join([
        V4_ALGORITHM, amzDate, scope,
        hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    ])


def v4Signature(signingKey, stringToSign):
    return hmac.new(signingKey, stringToSign.encode("utf-8"),
                    hashlib.sha256).hexdigest()


class V4Credential:
    """The parsed ``Credential=AKID/20260101/region/service/aws4_request``."""

    def __init__(self, text):
        parts = text.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request" or not re.match(
                r"^\d{8}$", parts[1]):
            raise SignatureError("AuthorizationHeaderMalformed",
                                 "Malformed credential scope: %s" % (text,))
        self.accessKey, self.date, self.region, self.service, _ = parts
        self.scope = "/".join(parts[1:])


def parseV4Authorization(header):
    """
    Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``.

    @return: (V4Credential, [signed header names], signature hex)
    """
    if not header.startswith(V4_ALGORITHM + " "):
        raise SignatureError("IncompleteSignature", "Not a SigV4 header")
    fields = {}
    for item in header[len(V4_ALGORITHM) + 1:].split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    try:
        credential = V4Credential(fields["Credential"])
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except KeyError as e:
        raise SignatureError("IncompleteSignature",
                             "Authorization header lacks %s" % (e.args[0],))
    return credential, signed, signature


def parseAmzDate(text):
    """``20260101T120000Z`` to epoch seconds."""
    try:
        return timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))
    except (ValueError, TypeError):
        raise SignatureError("AuthFailure", "Invalid X-Amz-Date: %r" % (text,))


def checkSkew(requestEpoch, now=None, code="RequestTimeTooSkewed"):
    now = time.time() if now is None else now
    if abs(now - requestEpoch) > MAX_SKEW_SECONDS:
        raise SignatureError(
            code, "The difference between the request time and the current "
            "time is too large.")


def verifyV4(secret, credential, amzDate, canonical, signature):
    """Raise SignatureDoesNotMatch unless ``signature`` signs ``canonical``."""
    if not amzDate.startswith(credential.date):
        raise SignatureError("SignatureDoesNotMatch",
                             "Credential date does not match X-Amz-Date")
    key = v4SigningKey(secret, credential.date, credential.region,
                       credential.service)
    expected = v4Signature(key, v4StringToSign(amzDate, credential.scope, canonical))
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature "
            "you provided.")
    return key


def hmacBase64(secret, text, digest):
    return base64.b64encode(hmac.new(
        secret.encode("utf-8"), text.encode("utf-8"), digest).digest()).decode()


def ec2V2StringToSign(method, host, path, params):
    """EC2 Query SignatureVersion 2: every parameter but Signature, sorted."""
    pairs = [(k, v) for k, v in params.items() if k != "Signature"]
    return "\n".join([method.upper(), host.lower(), path or "/",
                      canonicalQueryString(pairs)])


def verifyEc2V2(secret, method, host, path, params):
    """Check a SignatureVersion 2 query; accepts HmacSHA1 and HmacSHA256."""
    methodName = params.get("SignatureMethod", "HmacSHA256")
    digest = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}.get(methodName)
    if digest is None:
        raise SignatureError("InvalidParameterValue",
                             "Unsupported SignatureMethod %s" % (methodName,))
    given = params.get("Signature", "")
    # Clients disagree on whether the port belongs in the signed host.
    hosts = [host]
    if ":" in host:
        hosts.append(host.rsplit(":", 1)[0])
    for candidate in hosts:
        expected = hmacBase64(secret, ec2V2StringToSign(method, candidate, path, params),
                              digest)
        if hmac.compare_digest(expected.encode(), given.encode()):
            return
    raise SignatureError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature "
        "you provided.")
