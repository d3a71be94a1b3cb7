"""What a bucket policy on object tags costs a small GET, against the same GET without it.

    .venv/bin/python bench/s3tags.py [--ops 2000] [--repeats 5] [--verbose]

Figures, each as ops/s of 8 concurrent clients (4 KiB objects, keep-alive
connections, SigV2), medians of interleaved rounds after a warm-up:
  * GET under a policy that tests s3:ExistingObjectTag (Walrus reads the
    object's tags in the policy decision, one more database trip), against
    GET of the same objects in a bucket without a policy (the reference);
  * GET under a policy without tag conditions, against the same reference
    (the policy evaluation alone).

It starts a Walrus daemon on 127.0.0.1 in a temporary directory (bench/s3.py's
harness) and stops it (by PID) and removes the directory at the end.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import s3 as s3bench  # noqa: E402

KEYS = 200
BODY = b"t" * 4096
TAGGING = (b'<Tagging><TagSet><Tag><Key>class</Key><Value>public</Value></Tag></TagSet>'
           b'</Tagging>')


def policyOf(bucket, condition):
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::%s/*" % (bucket,)}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}).encode()


class TagPolicyBench(s3bench.Bench):
    def bucket(self, name, condition=None, policy=True):
        connection = s3bench.http.client.HTTPConnection("127.0.0.1", self.walrusPort,
                                                        timeout=60)
        self.request(connection, "PUT", "/" + name)
        if policy:
            self.request(connection, "PUT", "/%s?policy" % (name,), policyOf(name, condition))
        connection.close()

        def fill(connection, index):
            self.request(connection, "PUT", "/%s/k%d" % (name, index), BODY)
            self.request(connection, "PUT", "/%s/k%d?tagging" % (name, index), TAGGING)
        s3bench.runClients(self.walrusPort, fill, KEYS)

    def gets(self, bucket, count):
        def work(connection, index):
            self.request(connection, "GET", "/%s/k%d" % (bucket, index % KEYS))
        return s3bench.runClients(self.walrusPort, work, count)

    def run(self):
        args = self.args
        self.bucket("plain", policy=False)
        self.bucket("policied")
        self.bucket("tagpolicied", {"StringEquals": {"s3:ExistingObjectTag/class": "public"}})
        ops = args.ops

        def measured(bucket):
            def round(_):
                s3bench.settle()
                return self.gets(bucket, ops)
            return round
        plain, policied, tagged = s3bench.interleaved(
            args.repeats, measured("plain"), measured("policied"), measured("tagpolicied"))
        self.report("4 KiB GET tag policy", tagged, "ops/s", "no policy", plain)
        self.report("4 KiB GET plain policy", policied, "ops/s", "no policy", plain)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    s3bench.VERBOSE = args.verbose
    bench = TagPolicyBench(args)
    try:
        bench.startWalrus()
        bench.run()
    finally:
        bench.stopAll()


if __name__ == "__main__":
    main()
