"""Bundle decryption throughput against ``openssl | gunzip | tar`` in the same run.

    .venv/bin/python bench/images.py [--size-mib 256] [--repeats 3] [--random-percent 50]

Makes a ``--size-mib`` image (``--random-percent`` of its MiB blocks random,
the rest zeros, so it compresses as a real disk image does), bundles it with
``eucad.bundle.writer`` (10 MiB parts, fresh RSA keys) in a temporary
directory, then measures, interleaved ``--repeats`` times after one
unmeasured warm-up of each:

  * Walrus's image cache (``eucad.walrus.imagecache.ImageCache``) decrypting
    the bundle into an empty cache: parts -> SHA1 -> AES-128-CBC -> gunzip ->
    untar -> file, with the result's SHA1, in its thread pool, from ``fetch``
    to the cached image;
  * the reference: ``cat parts | openssl enc -d -aes-128-cbc -K .. -iv .. |
    gunzip | tar -xO > file`` on the same parts (four processes in parallel,
    checking no part SHA1 and hashing nothing).

Prints both medians in MiB/s of image, their spread, and the ratio (target
>= 0.8).  The first-boot figure of issue 8 (a 64 MiB image booted through
Walrus, cold against warm cache) needs the NC's delivery path, which is not
wired yet; it is not measured here.
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from twisted.internet import defer, task
from twisted.python.threadpool import ThreadPool

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from eucad.bundle import crypto, writer  # noqa: E402
from eucad.bundle.manifest import parseManifest  # noqa: E402
from eucad.walrus.imagecache import ImageCache  # noqa: E402

MIB = 1024 * 1024


def keyPair(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


def makeImage(path, sizeMib, randomPercent):
    with open(path, "wb") as f:
        for index in range(sizeMib):
            # Spread evenly: block i is random when i*p mod 100 < p.
            if (index * randomPercent) % 100 < randomPercent:
                f.write(os.urandom(MIB))
            else:
                f.write(bytes(MIB))


def reference(workdir, manifest, key, iv, output):
    """The openssl | gunzip | tar pipeline, argv lists joined by pipes."""
    parts = [os.path.join(workdir, part.filename) for part in manifest.parts]
    with open(output, "wb") as out:
        cat = subprocess.Popen(["cat"] + parts, stdout=subprocess.PIPE)
        openssl = subprocess.Popen(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key.hex(),
                                    "-iv", iv.hex()], stdin=cat.stdout,
                                   stdout=subprocess.PIPE)
        cat.stdout.close()
        gunzip = subprocess.Popen(["gunzip"], stdin=openssl.stdout, stdout=subprocess.PIPE)
        openssl.stdout.close()
        tar = subprocess.Popen(["tar", "-xO"], stdin=gunzip.stdout, stdout=out)
        gunzip.stdout.close()
        codes = [p.wait() for p in (tar, gunzip, openssl, cat)]
    if any(codes):
        raise SystemExit("reference pipeline failed: %r" % (codes,))


@defer.inlineCallbacks
def ours(reactor, pool, workdir, manifestBytes, cloudKey, cacheDir):
    cache = ImageCache.withThreadPool(cacheDir, 1 << 40, cloudKey, reactor, pool)
    yield cache.start()

    def openPart(name):
        return open(os.path.join(workdir, name), "rb")
    opened = yield cache.fetch(manifestBytes, openPart)
    opened.file.close()
    return opened.image


def settle():
    os.sync()


@defer.inlineCallbacks
def main(reactor, args):
    workdir = tempfile.mkdtemp(prefix="eucad-bench-images-")
    pool = ThreadPool(1, 2, name="bench-image-cache")
    pool.start()
    try:
        userKey, userCert = keyPair("bench-user")
        cloudKey, cloudCert = keyPair("bench-cloud")
        imagePath = os.path.join(workdir, "bench.img")
        makeImage(imagePath, args.size_mib, args.random_percent)
        started = time.monotonic()
        manifestPath, manifest = writer.bundleImage(imagePath, workdir, userCert, userKey,
                                                    cloudCert)
        print("bundled %d MiB into %d parts (%.1f MiB) in %.1f s" % (
            args.size_mib, len(manifest.parts), manifest.bundledSize / MIB,
            time.monotonic() - started))
        with open(manifestPath, "rb") as f:
            manifestBytes = f.read()
        parsed = parseManifest(manifestBytes)
        key = crypto.decryptSecret(cloudKey, parsed.ec2EncryptedKey)
        iv = crypto.decryptSecret(cloudKey, parsed.ec2EncryptedIv)
        refOutput = os.path.join(workdir, "reference.out")
        oursTimes, refTimes = [], []
        for round_ in range(args.repeats + 1):
            settle()
            t0 = time.monotonic()
            reference(workdir, parsed, key, iv, refOutput)
            refTime = time.monotonic() - t0
            os.remove(refOutput)
            cacheDir = os.path.join(workdir, "cache-%d" % (round_,))
            settle()
            t0 = time.monotonic()
            image = yield ours(reactor, pool, workdir, manifestBytes, cloudKey, cacheDir)
            oursTime = time.monotonic() - t0
            if image.size != args.size_mib * MIB:
                raise SystemExit("decrypted %d bytes, expected %d" % (
                    image.size, args.size_mib * MIB))
            shutil.rmtree(cacheDir)
            if round_ == 0:
                continue
            refTimes.append(refTime)
            oursTimes.append(oursTime)
            if args.verbose:
                print("round %d: walrus %.2f s, reference %.2f s" % (round_, oursTime, refTime))
        size = args.size_mib
        oursRate = size / statistics.median(oursTimes)
        refRate = size / statistics.median(refTimes)
        print("walrus image cache decrypt: %.0f MiB/s (%.0f-%.0f)" % (
            oursRate, size / max(oursTimes), size / min(oursTimes)))
        print("reference openssl|gunzip|tar: %.0f MiB/s (%.0f-%.0f)" % (
            refRate, size / max(refTimes), size / min(refTimes)))
        print("ratio: %.2f (target >= 0.8)" % (oursRate / refRate,))
    finally:
        pool.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def parseArguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--random-percent", type=int, default=50)
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    task.react(main, (parseArguments(sys.argv[1:]),))
