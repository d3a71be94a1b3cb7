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
>= 0.8).

    .venv/bin/python bench/images.py --first-boot [--boot-mib 64] [--dir DIR]

The first-boot figure, on an all-in-one cloud of its own (one node, its own
lab name, ports and subnet; taken down at the end): the admin publishes the
test image's root file system grown to ``--boot-mib`` MiB (half the added
MiB random, so it compresses like a used disk) with ``eucad-image``, and the
bench measures, in the same run,

  * first boot: from RegisterImage to the instance answering HTTP, through
    Walrus decrypting the bundle, the node fetching it over the delivery
    port into its empty cache, and the boot;
  * warm boot: a second instance of the same image on the same node, from
    RunInstances to HTTP, the node's cache already holding it;

and prints both and their ratio (first / warm; the difference is what the
bundle path costs a first launch).
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


def grownRootImage(source, path, sizeMib):
    """The test image's root grown to ``sizeMib`` MiB past its file system (it still boots)."""
    shutil.copyfile(source, path)
    added = sizeMib * MIB - os.path.getsize(path)
    with open(path, "ab") as f:
        for index in range(max(added, 0) // MIB):
            f.write(os.urandom(MIB) if index % 2 else b"\0" * MIB)


def firstBoot(args):
    """Blocking: the first-boot figure on a cloud of its own (see the docstring)."""
    from eucad.lab import labimages, testimage
    from eucad.lab.allinone import freeBasePort, openCloud
    runDir = os.path.abspath(args.dir or tempfile.mkdtemp(prefix="eucad-bench-boot-"))
    cloud = openCloud(runDir, choosePort=freeBasePort, log=lambda m: None,
                      defaults={"name": "bimg", "subnet": "10.82.0.0/24", "nodes": 1})
    cloud.checkRoomBeside()
    try:
        started = cloud.up(runInstance=False)
        creds = started["credentials"]
        ec2 = cloud.ec2(creds)
        env = labimages.sourcedEnvironment(os.path.join(creds["EUCA_KEY_DIR"], "eucarc"))
        image = os.path.join(runDir, "boot%d.img" % (args.boot_mib,))
        grownRootImage(testimage.build(log=lambda m: None).path("root.img"), image,
                       args.boot_mib)
        bucket = "bench-boot-%d" % (int(time.time()),)
        manifest = labimages.eucadImage(
            env, "bundle", "-i", image, "-d", runDir, "--kernel",
            started["images"]["kernel"], "--ramdisk", started["images"]["ramdisk"]).strip()
        labimages.eucadImage(env, "upload", "-m", manifest, "-b", bucket)
        t0 = time.monotonic()
        imageId = ec2.register_image(ImageLocation="%s/%s" % (
            bucket, os.path.basename(manifest)), Name="bench-boot")["ImageId"]
        labimages.waitAvailable(ec2, imageId, timeout=600)
        available = time.monotonic() - t0
        first = cloud.runOne(ec2, imageId, timeout=600)
        firstTime = time.monotonic() - t0
        cloud.terminateAll()
        t0 = time.monotonic()
        second = cloud.runOne(ec2, imageId, timeout=600)
        warmTime = time.monotonic() - t0
        if second["instanceId"] == first["instanceId"]:
            raise SystemExit("the first instance was not terminated")
        print("first boot of a %d MiB image after RegisterImage: %.1f s "
              "(available after %.1f s)" % (args.boot_mib, firstTime, available))
        print("boot of the same image from the node's warm cache: %.1f s" % (warmTime,))
        print("ratio first / warm: %.2f" % (firstTime / warmTime,))
    finally:
        cloud.down()
        if not args.dir:
            shutil.rmtree(runDir, ignore_errors=True)


def parseArguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first-boot", action="store_true",
                        help="measure the first boot through Walrus against a warm boot")
    parser.add_argument("--boot-mib", type=int, default=64)
    parser.add_argument("--dir", help="run directory of the first-boot cloud")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--random-percent", type=int, default=50)
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parseArguments(sys.argv[1:])
    if arguments.first_boot:
        firstBoot(arguments)
    else:
        task.react(main, (arguments,))
