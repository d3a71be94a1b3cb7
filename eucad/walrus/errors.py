"""S3 errors: one exception type carrying S3's code, and its XML document.

Every operation raises ``S3Error(code)``; ``eucad.walrus.service`` is the one
place that turns it into ``<Error><Code>...`` with the status S3 gives that
code, so a handler never chooses a status itself.
"""

from xml.sax.saxutils import escape

#: S3's HTTP status and default message for every code Walrus answers.
ERRORS = {
    "AccessDenied": (403, "Access Denied"),
    "AccountProblem": (403, "There is a problem with your account."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "The presigned query parameters are malformed."),
    "BadRequest": (400, "Insufficient information. Origin request header needed."),
    "CORSResponse": (403, "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."),
    "BadDigest": (400, "The Content-MD5 or checksum you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "ExpiredToken": (400, "The provided token has expired."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP header."),
    "IncompleteSignature": (400, "The request signature does not conform to AWS standards."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS access key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 or checksum you specified is not valid."),
    "InvalidPartNumber": (416, "The requested partnumber is not satisfiable"),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidObjectName": (400, "The specified object name is not valid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order."),
    "InvalidPolicyDocument": (400, "The content of the form does not meet the conditions specified in the policy document."),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "KeyTooLongError": (400, "Your key is too long."),
    "MalformedACLError": (400, "The XML you provided was not well-formed or did not validate against our published schema."),
    "MalformedPolicy": (400, "Policies must be valid JSON and the first byte must be '{'"),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed multipart/form-data."),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published schema."),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request was missing a required header."),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist"),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchWebsiteConfiguration": (404, "The specified bucket does not have a website configuration"),
    "ServerSideEncryptionConfigurationNotFoundError": (404, "The server side encryption configuration was not found"),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (501, "A header or operation you provided implies functionality that is not implemented."),
    "PreconditionFailed": (412, "At least one of the preconditions you specified did not hold."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too large."),
    "SlowDown": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you provided."),
    "TooManyBuckets": (400, "You have attempted to create more buckets than allowed."),
    "UnresolvableGrantByEmailAddress": (400, "The email address you provided does not match any account on record."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was computed."),
}


class S3Error(Exception):
    """
    An S3 error answer.  ``extra`` holds additional elements of the error
    document (``BucketName``, ``Key``, ``StringToSign``...), in order.
    """

    def __init__(self, code, message=None, status=None, **extra):
        defaultStatus, defaultMessage = ERRORS.get(code, (400, code))
        self.code = code
        self.message = message or defaultMessage
        self.status = status or defaultStatus
        self.extra = extra
        Exception.__init__(self, code, self.message)

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


def errorDocument(error, resource="", requestId=""):
    """The ``<Error>`` XML body S3 sends with ``error`` (bytes)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
             "<Code>%s</Code>" % escape(error.code),
             "<Message>%s</Message>" % escape(error.message)]
    for name, value in error.extra.items():
        parts.append("<%s>%s</%s>" % (name, escape(str(value)), name))
    if resource:
        parts.append("<Resource>%s</Resource>" % escape(resource))
    parts.append("<RequestId>%s</RequestId></Error>" % escape(requestId))
    return "".join(parts).encode("utf-8")
