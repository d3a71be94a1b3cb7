"""Reading a bundle's parts from a Walrus over HTTP (boto3), for ``ImageCache``.

Used where the cache and the store are not in one process, or the parts must
be read with a user's rights: ``openPart`` runs in the cache's worker thread
and returns the streaming body of one GET, read chunk by chunk, never whole.
A part Walrus does not have (or will not give) is a ``LookupError``, which
the reader reports as a missing part.
"""

import threading

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


class PartNotFound(LookupError):
    pass


class _PartBody:
    """A GET's streaming body whose transfer failures are ``OSError``s, as a
    file's would be, so the reader reports them as I/O, not as a crash."""

    def __init__(self, body):
        self._body = body

    def read(self, size=-1):
        try:
            return self._body.read(size if size >= 0 else None)
        except BotoCoreError as e:
            raise OSError("reading the part from Walrus failed: %s" % (e,))

    def close(self):
        self._body.close()


class S3PartOpener:
    """
    ``opener(bucket, keyPrefix)`` gives the ``openPart(filename)`` of one
    bundle; one boto3 client (thread-safe) serves every call.  The client is
    made on first use, in the worker thread: making one loads botocore's
    service models, which must not stall the reactor.
    """

    def __init__(self, walrusUrl, keys, region="eucalyptus"):
        self.walrusUrl = walrusUrl
        self.keys = keys
        self.region = region
        self._client = None
        self._lock = threading.Lock()

    def client(self):
        with self._lock:
            if self._client is None:
                self._client = boto3.client(
                    "s3", endpoint_url=self.walrusUrl, aws_access_key_id=self.keys[0],
                    aws_secret_access_key=self.keys[1], region_name=self.region,
                    config=Config(s3={"addressing_style": "path"},
                                  signature_version="s3v4", retries={"max_attempts": 2}))
            return self._client

    def __call__(self, bucket, keyPrefix):
        def openPart(filename):
            key = "%s/%s" % (keyPrefix, filename) if keyPrefix else filename
            try:
                return _PartBody(self.client().get_object(Bucket=bucket, Key=key)["Body"])
            except ClientError as e:
                raise PartNotFound("%s/%s: %s" % (bucket, key,
                                                  e.response.get("Error", {}).get("Code")))
            except BotoCoreError as e:
                raise PartNotFound("%s/%s: %s" % (bucket, key, e))
        return openPart
