"""Cross-origin resource sharing: a bucket's CORS rules, the preflight, the response headers.

A bucket owner sets up to 100 ``CORSRule`` (PutBucketCors): the origins
(each with at most one ``*``), the methods (GET, PUT, POST, DELETE, HEAD),
the request headers a browser may send (one ``*`` each at most), the
response headers it may read (ExposeHeader) and how long it may cache the
answer (MaxAgeSeconds).  The first rule that matches a request decides.

A preflight (``OPTIONS`` with Origin and Access-Control-Request-Method) is
answered from the rules alone: it carries no credentials by nature, so it
is neither authenticated nor allowed a body (eucad.walrus.service refuses
one before reading it), and a bucket without a matching rule, without
rules or without existence all get the same ``403 CORSResponse``: the
preflight tells nothing the rules do not.  An actual request with an Origin
that a rule matches gets the Access-Control-* headers on its answer.
"""

import json

from eucad.walrus import s3xml
from eucad.walrus.errors import S3Error
from eucad.walrus.responses import Response, emptyResponse, xmlResponse

MAX_RULES = 100
MAX_CORS_BYTES = 64 * 1024
MAX_ID_CHARS = 255
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
#: What a browser may cache of the answers, per S3: Origin and the asked method/headers vary it.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


class CorsRule:
    """One CORSRule, validated."""

    def __init__(self, origins, methods, headers=(), expose=(), maxAge=None, ruleId=None):
        self.origins = list(origins)
        self.methods = list(methods)
        self.headers = list(headers)
        self.expose = list(expose)
        self.maxAge = maxAge
        self.ruleId = ruleId
        if not self.origins or not self.methods:
            raise S3Error("MalformedXML")
        for method in self.methods:
            if method not in METHODS:
                raise S3Error("InvalidRequest", "Found unsupported HTTP method in CORS config. "
                              "Unsupported method is %s" % (method,))
        for origin in self.origins:
            if origin.count("*") > 1:
                raise S3Error("InvalidRequest", "AllowedOrigin \"%s\" can not have more than "
                              "one wildcard." % (origin,))
        for header in self.headers:
            if header.count("*") > 1:
                raise S3Error("InvalidRequest", "AllowedHeader \"%s\" can not have more than "
                              "one wildcard." % (header,))
        if ruleId is not None and len(ruleId) > MAX_ID_CHARS:
            raise S3Error("InvalidArgument", "The ID of a CORSRule is longer than %d "
                          "characters." % (MAX_ID_CHARS,), ArgumentName="ID")

    def toDict(self):
        return {"origins": self.origins, "methods": self.methods, "headers": self.headers,
                "expose": self.expose, "maxAge": self.maxAge, "id": self.ruleId}

    @classmethod
    def fromDict(cls, values):
        return cls(values["origins"], values["methods"], values["headers"], values["expose"],
                   values["maxAge"], values["id"])

    def matchingOrigin(self, origin):
        """The AllowedOrigin that admits ``origin``, or None."""
        for pattern in self.origins:
            if _wildcardMatch(pattern, origin, False):
                return pattern
        return None

    def allowsHeaders(self, names):
        return all(any(_wildcardMatch(pattern, name, True) for pattern in self.headers)
                   for name in names)


def _wildcardMatch(pattern, text, ignoreCase):
    """``pattern`` with at most one ``*`` matches ``text``."""
    if ignoreCase:
        pattern, text = pattern.lower(), text.lower()
    if "*" not in pattern:
        return pattern == text
    head, _, tail = pattern.partition("*")
    return len(text) >= len(head) + len(tail) and text.startswith(head) and text.endswith(tail)


def parseCors(body):
    """The rules of a ``CORSConfiguration`` document (bytes)."""
    root = s3xml.parseXml(body, limit=MAX_CORS_BYTES)
    if s3xml.localName(root) != "CORSConfiguration":
        raise S3Error("MalformedXML")
    elements = s3xml.children(root, "CORSRule")
    if not elements:
        raise S3Error("MalformedXML")
    if len(elements) > MAX_RULES:
        raise S3Error("InvalidRequest", "The number of CORS rules should not exceed allowed "
                      "limit of %d rules." % (MAX_RULES,))
    rules = []
    for element in elements:
        def texts(name):
            return [(child.text or "").strip() for child in s3xml.children(element, name)]
        maxAges = texts("MaxAgeSeconds")
        maxAge = None
        if maxAges:
            try:
                maxAge = int(maxAges[0])
            except ValueError:
                raise S3Error("MalformedXML")
            if maxAge < 0:
                raise S3Error("MalformedXML")
        ids = texts("ID")
        rules.append(CorsRule(texts("AllowedOrigin"), texts("AllowedMethod"),
                              texts("AllowedHeader"), texts("ExposeHeader"), maxAge,
                              ids[0] if ids else None))
    return rules


def corsDocument(rules):
    root = s3xml.document("CORSConfiguration")
    for rule in rules:
        element = s3xml.add(root, "CORSRule")
        if rule.ruleId is not None:
            s3xml.add(element, "ID", rule.ruleId)
        for header in rule.headers:
            s3xml.add(element, "AllowedHeader", header)
        for method in rule.methods:
            s3xml.add(element, "AllowedMethod", method)
        for origin in rule.origins:
            s3xml.add(element, "AllowedOrigin", origin)
        for header in rule.expose:
            s3xml.add(element, "ExposeHeader", header)
        if rule.maxAge is not None:
            s3xml.add(element, "MaxAgeSeconds", str(rule.maxAge))
    return root


def loadRules(document):
    """The rules of a stored CORS document (JSON text)."""
    return [CorsRule.fromDict(values) for values in json.loads(document)]


def dumpRules(rules):
    return json.dumps([rule.toDict() for rule in rules])


# -- the configuration operations -------------------------------------------------
async def putBucketCors(call):
    rules = parseCors(await call.readBody(MAX_CORS_BYTES))
    await call.store.putBucketConfig(call.s3.bucket, "cors", dumpRules(rules),
                                     call.ownerCheck())
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(200)


async def getBucketCors(call):
    document = await call.store.getBucketConfig(call.s3.bucket, "cors", call.ownerCheck())
    if document is None:
        raise S3Error("NoSuchCORSConfiguration", BucketName=call.s3.bucket)
    return xmlResponse(corsDocument(loadRules(document)))


async def deleteBucketCors(call):
    await call.store.deleteBucketConfig(call.s3.bucket, "cors", call.ownerCheck())
    call.walrus.bucketConfigs.forget(call.s3.bucket)
    return emptyResponse(204)


# -- requests from browsers -------------------------------------------------------
def _requestedHeaders(s3):
    text = ",".join(s3.headers.get("access-control-request-headers", []))
    return [name.strip().lower() for name in text.split(",") if name.strip()]


def _allowHeaders(rule, pattern, origin):
    headers = {"Access-Control-Allow-Origin": "*" if pattern == "*" else origin,
               "Access-Control-Allow-Methods": ", ".join(rule.methods),
               "Vary": VARY}
    if pattern != "*":
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.expose:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose)
    if rule.maxAge is not None:
        headers["Access-Control-Max-Age"] = str(rule.maxAge)
    return headers


async def preflight(walrus, s3):
    """The answer to an OPTIONS request: from the bucket's rules only."""
    origin = s3.header("origin")
    method = s3.header("access-control-request-method")
    if not origin:
        raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
    if not method:
        raise S3Error("BadRequest", "Invalid Access-Control-Request-Method: null")
    if not s3.bucket:
        raise S3Error("CORSResponse", "CORS is not enabled for this endpoint.")
    wanted = _requestedHeaders(s3)
    configs = await walrus.bucketConfigs.get(s3.bucket)
    for rule in configs.cors or ():
        pattern = rule.matchingOrigin(origin)
        if pattern is None or method not in rule.methods or not rule.allowsHeaders(wanted):
            continue
        headers = _allowHeaders(rule, pattern, origin)
        if wanted:
            headers["Access-Control-Allow-Headers"] = ", ".join(wanted)
        return Response(200, headers, b"")
    raise S3Error("CORSResponse")


async def actualRequestHeaders(walrus, s3):
    """The Access-Control-* headers for a request with an Origin a rule admits, else {}."""
    origin = s3.header("origin")
    if not origin or not s3.bucket:
        return {}
    configs = await walrus.bucketConfigs.get(s3.bucket)
    for rule in configs.cors or ():
        pattern = rule.matchingOrigin(origin)
        if pattern is not None and s3.method in rule.methods:
            return _allowHeaders(rule, pattern, origin)
    return {}
