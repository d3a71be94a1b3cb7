"""What versioning costs Walrus, against the same Walrus without it, in the same run.

    .venv/bin/python bench/versioning.py [--ops 2000] [--repeats 5] [--verbose]

Figures, each as ops/s of 8 concurrent clients (4 KiB bodies, keep-alive
connections, SigV2) with the unversioned bucket as the reference:
  * PUT over 200 keys again and again: in a versioned bucket every PUT keeps
    the previous version (one more row moved, one more blob kept), in the
    reference it replaces it;
  * DELETE: in a versioned bucket a delete marker is written (the object's
    row moves), in the reference the row and its blob go;
  * ListObjectVersions of 1,000 versions against ListObjectsV2 of 1,000 keys.

Rounds are interleaved (reference, versioned, ...) after an unmeasured warm-up
and the medians compared, as bench/s3.py does (its client loop and helpers are
used).  It starts a Walrus daemon on 127.0.0.1 in a temporary directory and
stops it (by PID) and removes the directory at the end.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import s3 as s3bench  # noqa: E402

KEYS = 200
BODY = b"v" * 4096
VERSIONING = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
              b'<Status>Enabled</Status></VersioningConfiguration>')


class VersioningBench(s3bench.Bench):
    def bucket(self, name, versioned):
        connection = s3bench.http.client.HTTPConnection("127.0.0.1", self.walrusPort,
                                                        timeout=60)
        self.request(connection, "PUT", "/" + name)
        if versioned:
            self.request(connection, "PUT", "/%s?versioning" % (name,), VERSIONING)
        connection.close()

    def puts(self, bucket, count):
        def work(connection, index):
            self.request(connection, "PUT", "/%s/k%d" % (bucket, index % KEYS), BODY)
        return s3bench.runClients(self.walrusPort, work, count)

    def deletes(self, bucket, count, round):
        # Fresh keys for each round so the unversioned DELETE removes a real object.
        def fill(connection, index):
            self.request(connection, "PUT", "/%s/d%s-%d" % (bucket, round, index), BODY)
        s3bench.runClients(self.walrusPort, fill, count)
        s3bench.settle()

        def work(connection, index):
            self.request(connection, "DELETE", "/%s/d%s-%d" % (bucket, round, index))
        return s3bench.runClients(self.walrusPort, work, count)

    def lists(self, resource, query, count):
        """GETs of ``resource + query``, signed (SigV2) over the resource alone."""
        subresource = "?versions" if query.startswith("?versions") else ""

        def work(connection, index):
            connection.request("GET", resource + query, headers=self.signer.headers(
                "GET", resource + subresource))
            body = s3bench.expectStatus(connection.getresponse())
            if len(body) < 100000:
                raise RuntimeError("a listing of %d bytes is not 1,000 entries" % len(body))
        return s3bench.runClients(self.walrusPort, work, count)

    def run(self):
        args = self.args
        self.bucket("plain", False)
        self.bucket("versioned", True)
        ops = args.ops

        def plainPut(round):
            s3bench.settle()
            return self.puts("plain", ops)

        def versionedPut(round):
            s3bench.settle()
            return self.puts("versioned", ops)
        plain, versioned = s3bench.interleaved(args.repeats, plainPut, versionedPut)
        self.report("4 KiB PUT versioned", versioned, "ops/s", "unversioned", plain)
        deletes = max(ops // 4, 100)
        plain, versioned = s3bench.interleaved(
            args.repeats, lambda r: self.deletes("plain", deletes, "p%d" % r),
            lambda r: self.deletes("versioned", deletes, "v%d" % r))
        self.report("4 KiB DELETE versioned", versioned, "ops/s", "unversioned", plain)
        # 1,000 entries each: the versioned bucket holds the versions and
        # markers written above (at least 1,000), the plain one gets 1,000 keys.
        def fill(connection, index):
            self.request(connection, "PUT", "/plain/f/%04d" % (index,), BODY)
        s3bench.runClients(self.walrusPort, fill, 1000)
        plain, versioned = s3bench.interleaved(
            args.repeats, lambda r: self.lists("/plain", "?list-type=2&prefix=f/", 50),
            lambda r: self.lists("/versioned", "?versions&max-keys=1000", 50))
        self.report("LIST 1000 versions", versioned, "ops/s", "ListObjectsV2 1000", plain)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    s3bench.VERBOSE = args.verbose
    bench = VersioningBench(args)
    try:
        bench.startWalrus()
        bench.run()
    finally:
        bench.stopAll()


if __name__ == "__main__":
    main()
