"""Which bucket and key a request names, and its parsed query and headers.

S3 clients address a bucket three ways: path style under the service path
(``/services/Walrus/bucket/key``, euca2ools and boto 2), path style at the
root (``/bucket/key``, awscli with an endpoint URL), and virtual-host style
(``Host: bucket.walrus.example``).  A Host under a configured domain
(WALRUS_DOMAIN) is always virtual-host style; any other name that is not an
IP address, ``localhost`` or one of the server's own names *may* be a bucket
(S3's CNAME style), which the service settles by looking the bucket up.

Everything here works on the raw, percent-encoded request target: keys are
decoded exactly once, so ``%2F``, ``..`` and ``+`` mean what the client sent.
"""

import ipaddress
from urllib.parse import unquote

from eucad.walrus.errors import S3Error

SERVICE_PREFIX = "/services/Walrus"


def _text(raw):
    """Request bytes as text: UTF-8, or Latin-1 for bytes that are not."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decodeComponent(raw):
    """Percent-decode one path or query component as UTF-8 (strictly)."""
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400)


def parseQuery(rawQuery):
    """``a=1&b&c=%20`` -> [("a", "1"), ("b", ""), ("c", " ")] (no ``+`` rule)."""
    pairs = []
    for item in rawQuery.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((decodeComponent(name), decodeComponent(value)))
    return pairs


def headerMap(requestHeaders):
    """Twisted Headers -> {lower-case name: [values as text]}."""
    result = {}
    for name, values in requestHeaders.getAllRawHeaders():
        name = _text(name).lower()
        texts = [_text(v) for v in values]
        if name in result:
            result[name].extend(texts)
        else:
            result[name] = texts
    return result


def hostWithoutPort(host):
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _isAddress(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class Router:
    """
    Settles addressing style from the Host header and path.

    ``domains``: virtual-host domains (``WALRUS_DOMAIN``, space separated);
    ``serverNames``: names of this server that are never bucket names.
    """

    #: Host headers whose answer is kept (a client sends the same one on every request).
    MAX_REMEMBERED = 1024

    def __init__(self, domains=(), serverNames=()):
        self.domains = [d.lower().strip(".") for d in domains if d.strip(".")]
        self.serverNames = {n.lower() for n in serverNames if n} | {"localhost"}
        self.answers = {}

    def hostBucket(self, host):
        """
        (bucket, certain): the bucket a Host header names, if any, and
        whether it certainly does (a configured domain) or only may (CNAME).
        The answer depends on the text alone, so it is kept: parsing an
        address per request cost a few percent of a small request.
        """
        answer = self.answers.get(host)
        if answer is None:
            answer = self._settle(host)
            if len(self.answers) >= self.MAX_REMEMBERED:
                self.answers.clear()
            self.answers[host] = answer
        return answer

    def _settle(self, host):
        host = hostWithoutPort(host or "")
        if not host or _isAddress(host) or host in self.serverNames:
            return None, False
        for domain in self.domains:
            if host == domain:
                return None, False
            if host.endswith("." + domain):
                return host[:-len(domain) - 1], True
        if "." not in host and not self.domains:
            # A bare single-label name is a machine, not a CNAME'd bucket.
            return None, False
        return host, False


class S3Request:
    """
    One request's addressing, query and headers, parsed once.

    ``rawPath`` is the path as sent (percent-encoded, with any service
    prefix); ``bucket``/``key`` are decoded text or None.
    """

    def __init__(self, method, uri, requestHeaders, hostBucket=None, mappedHeaders=None):
        """``mappedHeaders`` is ``headerMap(requestHeaders)`` when the caller made it already."""
        self.method = _text(method).upper()
        uri = _text(uri)
        path, _, self.rawQuery = uri.partition("?")
        self.rawPath = path or "/"
        self.queryPairs = parseQuery(self.rawQuery)
        self.query = {}
        for name, value in self.queryPairs:
            self.query.setdefault(name, value)
        self.headers = mappedHeaders if mappedHeaders is not None else headerMap(requestHeaders)
        self.host = self.header("host", "")
        self.servicePrefix = (self.rawPath == SERVICE_PREFIX
                              or self.rawPath.startswith(SERVICE_PREFIX + "/"))
        self.hostStyle = hostBucket is not None and not self.servicePrefix
        self.addressPath = self.rawPath[len(SERVICE_PREFIX):] if self.servicePrefix else self.rawPath
        if not self.addressPath.startswith("/"):
            self.addressPath = "/" + self.addressPath
        if self.hostStyle:
            self.bucket = hostBucket
            rawKey = self.addressPath[1:]
        else:
            rawBucket, slash, rawKey = self.addressPath[1:].partition("/")
            self.bucket = decodeComponent(rawBucket) or None
        self.key = decodeComponent(rawKey) if self.bucket and rawKey else None

    def header(self, name, default=None):
        values = self.headers.get(name)
        return values[0] if values else default

    def has(self, name):
        return name in self.query

    def resourceName(self):
        """``/bucket/key`` for error documents."""
        if not self.bucket:
            return "/"
        return "/" + self.bucket + ("/" + self.key if self.key else "")
