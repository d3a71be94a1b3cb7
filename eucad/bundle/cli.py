"""``eucad-image``: bundle, upload, register, delete-bundle and publish images.

For users who have neither euca2ools nor ec2-ami-tools; writes the same
bundles and talks to the cloud with boto3.  Credentials come from a sourced
eucarc (``eucad.bundle.credentials``); every failure is one line on stderr
and exit status 1.
"""

import argparse
import os
import shutil
import sys
import tempfile

from eucad.bundle import transfer, writer
from eucad.bundle.credentials import CredentialError, Credentials, loadBundlingKeys

KERNEL_PREFIXES = ("vmlinuz", "vmlinux")
RAMDISK_PREFIXES = ("initrd", "initramfs")


class CommandError(Exception):
    pass


def partSize(text):
    """``10`` (MiB) or ``64k`` (KiB): a part size in bytes, at least 1 KiB."""
    try:
        size = (int(text[:-1]) * 1024 if text.lower().endswith("k")
                else int(text) * 1024 * 1024)
    except ValueError:
        raise argparse.ArgumentTypeError("not a size: %r" % (text,))
    if size < 1024:
        raise argparse.ArgumentTypeError("a part is at least 1k")
    return size


def _progressBar(total, label, enabled):
    """A tqdm bar on stderr (or nothing), and the callable that advances it."""
    if not enabled:
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
               file=sys.stderr, leave=True)
    return bar, bar.update


def _addCredentialOptions(parser):
    parser.add_argument("-c", "--cert", help="your certificate (default $EC2_CERT)")
    parser.add_argument("-k", "--privatekey", help="your private key (default $EC2_PRIVATE_KEY)")
    parser.add_argument("--ec2cert", help="the cloud's certificate (default $EUCALYPTUS_CERT)")
    parser.add_argument("-u", "--user", help="your account id (default $EC2_USER_ID)")


def _addBundleOptions(parser):
    parser.add_argument("-i", "--image", required=True, help="the image file to bundle")
    parser.add_argument("-p", "--prefix", help="bundle name (default: the image's file name)")
    parser.add_argument("-r", "--arch", default="x86_64",
                        choices=("i386", "x86_64", "armhf", "aarch64"))
    parser.add_argument("--type", dest="imageType", choices=("machine", "kernel", "ramdisk"),
                        help="default: kernel for vmlinuz*, ramdisk for initrd*, else machine")
    parser.add_argument("--kernel", help="default kernel id (eki-...) of a machine image")
    parser.add_argument("--ramdisk", help="default ramdisk id (eri-...) of a machine image")
    parser.add_argument("--part-size", type=partSize, default=writer.PART_SIZE,
                        help="part size in MiB, or KiB with a k suffix (default 10)")
    _addCredentialOptions(parser)


def _addUploadOptions(parser):
    parser.add_argument("-b", "--bucket", required=True,
                        help="bucket[/prefix] to upload the bundle to")
    parser.add_argument("-U", "--url", help="Walrus URL (default $S3_URL)")


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        prog="eucad-image", description="Bundle, upload and register images.")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    bundle = commands.add_parser("bundle", help="bundle an image into parts and a manifest")
    _addBundleOptions(bundle)
    bundle.add_argument("-d", "--destination", default=".",
                        help="directory for the bundle (default: here)")

    upload = commands.add_parser("upload", help="upload a bundle to Walrus")
    upload.add_argument("-m", "--manifest", required=True)
    _addUploadOptions(upload)

    register = commands.add_parser("register", help="register an uploaded bundle")
    register.add_argument("location", help="bucket/[prefix/]name.manifest.xml")
    register.add_argument("-n", "--name")
    register.add_argument("--description")
    register.add_argument("-a", "--arch")
    register.add_argument("--kernel")
    register.add_argument("--ramdisk")
    register.add_argument("--ec2-url", help="EC2 URL (default $EC2_URL)")

    delete = commands.add_parser("delete-bundle", help="delete an uploaded bundle")
    delete.add_argument("-b", "--bucket", required=True, help="bucket[/prefix]")
    delete.add_argument("-p", "--prefix", required=True, help="the bundle's name")
    delete.add_argument("--clear", action="store_true", help="delete the bucket too")
    delete.add_argument("-U", "--url", help="Walrus URL (default $S3_URL)")

    publish = commands.add_parser("publish", help="bundle, upload and register in one step")
    _addBundleOptions(publish)
    _addUploadOptions(publish)
    publish.add_argument("-n", "--name")
    publish.add_argument("--description")
    publish.add_argument("--ec2-url", help="EC2 URL (default $EC2_URL)")
    return parser.parse_args(argv)


def _credentials(args, environ):
    creds = Credentials.fromEnvironment(environ)
    for option, field in (("cert", "userCertPath"), ("privatekey", "userKeyPath"),
                          ("ec2cert", "cloudCertPath"), ("url", "s3Url"),
                          ("ec2_url", "ec2Url"), ("user", "userId")):
        value = getattr(args, option, None)
        if value:
            setattr(creds, field, value)
    return creds


def imageTypeOf(args):
    """Explicit --type, else kernels and ramdisks by their usual file names."""
    if args.imageType:
        return args.imageType
    name = os.path.basename(args.image)
    if name.startswith(KERNEL_PREFIXES):
        return "kernel"
    if name.startswith(RAMDISK_PREFIXES):
        return "ramdisk"
    return "machine"


def doBundle(args, creds, destination):
    if not os.path.isfile(args.image):
        raise CommandError("No such image file: %s" % (args.image,))
    userCert, userKey, cloudCert = loadBundlingKeys(creds)
    imageType = imageTypeOf(args)
    if imageType != "machine" and (args.kernel or args.ramdisk):
        raise CommandError("--kernel and --ramdisk belong to machine images only")
    bar, progress = _progressBar(os.path.getsize(args.image), "bundling", not args.quiet)
    try:
        manifestPath, _ = writer.bundleImage(
            args.image, destination, userCert, userKey, cloudCert, prefix=args.prefix,
            imageType=imageType, architecture=args.arch, kernelId=args.kernel,
            ramdiskId=args.ramdisk, user=creds.userId,
            partSize=args.part_size, progress=progress)
    except writer.BundleError as e:
        raise CommandError(str(e))
    finally:
        if bar is not None:
            bar.close()
    return manifestPath


def _bundleBytes(manifestPath):
    from eucad.bundle.manifest import parseManifest
    with open(manifestPath, "rb") as f:
        manifest = parseManifest(f.read())
    directory = os.path.dirname(os.path.abspath(manifestPath))
    return os.path.getsize(manifestPath) + sum(
        os.path.getsize(os.path.join(directory, part.filename))
        for part in manifest.parts
        if os.path.exists(os.path.join(directory, part.filename)))


def doUpload(args, creds, manifestPath):
    bucket, _, keyPrefix = args.bucket.partition("/")
    client = transfer.s3Client(creds)
    total = _bundleBytes(manifestPath) if os.path.isfile(manifestPath) else 0
    bar, progress = _progressBar(total, "uploading", not args.quiet)
    try:
        return transfer.uploadBundle(client, manifestPath, bucket, keyPrefix, progress)
    finally:
        if bar is not None:
            bar.close()


def doRegister(creds, location, name=None, description=None, arch=None, kernel=None,
               ramdisk=None):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    creds.require("ec2Url", "accessKey", "secretKey")
    client = boto3.client("ec2", endpoint_url=creds.ec2Url, region_name=creds.region,
                          aws_access_key_id=creds.accessKey,
                          aws_secret_access_key=creds.secretKey,
                          config=Config(retries={"max_attempts": 2}))
    params = {"ImageLocation": location,
              "Name": name or location.rpartition("/")[2].replace(".manifest.xml", "")}
    for key, value in (("Description", description), ("Architecture", arch),
                       ("KernelId", kernel), ("RamdiskId", ramdisk)):
        if value:
            params[key] = value
    try:
        return client.register_image(**params)["ImageId"]
    except ClientError as e:
        error = e.response.get("Error", {})
        raise CommandError("RegisterImage refused: %s: %s"
                           % (error.get("Code"), error.get("Message")))
    except BotoCoreError as e:
        raise CommandError("RegisterImage failed: %s" % (e,))


def run(args, environ, out):
    creds = _credentials(args, environ)
    if args.command == "bundle":
        if not os.path.isdir(args.destination):
            raise CommandError("No such directory: %s" % (args.destination,))
        out.write(doBundle(args, creds, args.destination) + "\n")
    elif args.command == "upload":
        location = doUpload(args, creds, args.manifest)
        out.write("Uploaded %s\n" % (location,))
    elif args.command == "register":
        out.write("IMAGE\t%s\n" % (doRegister(creds, args.location, args.name,
                                              args.description, args.arch,
                                              args.kernel, args.ramdisk),))
    elif args.command == "delete-bundle":
        bucket, _, keyPrefix = args.bucket.partition("/")
        key = transfer.objectKey(keyPrefix, writer.manifestFileName(args.prefix))
        deleted = transfer.deleteBundle(transfer.s3Client(creds), bucket, key, args.clear)
        out.write("Deleted %d objects from %s\n" % (len(deleted), bucket))
    elif args.command == "publish":
        workdir = tempfile.mkdtemp(prefix="eucad-image-")
        try:
            manifestPath = doBundle(args, creds, workdir)
            location = doUpload(args, creds, manifestPath)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        # The kernel and ramdisk ids are in the manifest already.
        out.write("IMAGE\t%s\n" % (doRegister(creds, location, args.name,
                                              args.description),))
    return 0


def main(argv=None, environ=None, out=None, err=None):
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    try:
        return run(args, os.environ if environ is None else environ, out or sys.stdout)
    except (CommandError, CredentialError, transfer.TransferError) as e:
        (err or sys.stderr).write("eucad-image: %s\n" % (e,))
        return 1
