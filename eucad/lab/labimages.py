"""The test image's kernel, ramdisk and root, registered as bundles by the admin.

``make run`` registers the three files the way an admin of any cloud would:
``eucad-image publish`` (bundle to the cloud's certificate, upload to Walrus,
RegisterImage) with the admin's sourced eucarc, then waits for each image to
turn ``available``.  Nodes then fetch them through Walrus's delivery port;
nothing is placed on the nodes by path.

``DIR/images.json`` remembers which ids belong to which build of the test
image.  A run directory from before (images registered by path with
``eucad-register-image``) is moved over on its next ``up``: the images are
published as bundles, and the old path images deregistered through the API;
users, keys and everything else in the database stay as they were.

Blocking tooling (subprocess and polling with bounded waits), like the rest of
``eucad.lab``.
"""

import json
import os
import subprocess
import sys
import time

from eucad.common.atomicfile import writeAtomically

RECORD_FILE = "images.json"
BUCKET = "eucad-test-image"
#: How the record says its images were registered.
SOURCE = "bundles"
FILES = (("kernel", "vmlinuz"), ("ramdisk", "initrd.img"), ("machine", "root.img"))


class ImagePublishError(Exception):
    """Publishing the test image failed; the message says where."""


def sourcedEnvironment(eucarc, home=None):
    """The environment of a bash that sourced ``eucarc`` (paths resolved by it)."""
    env = {"PATH": os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", ""),
           "HOME": home or os.environ.get("HOME", "/root"),
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    dumped = subprocess.run(["bash", "-c", '. "$1" >/dev/null && env -0', "-", eucarc],
                            env=env, check=True, stdout=subprocess.PIPE).stdout
    return dict(item.split("=", 1) for item in dumped.decode().split("\0") if "=" in item)


def eucadImage(env, *argv, timeout=600):
    """Run ``eucad-image -q ARGV``; its stdout, or ImagePublishError with its one-line error."""
    script = os.path.join(os.path.dirname(sys.executable), "eucad-image")
    result = subprocess.run([script, "-q"] + list(argv), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if result.returncode != 0:
        raise ImagePublishError((result.stderr.strip() or result.stdout.strip())[-1000:])
    return result.stdout


def waitAvailable(ec2, imageId, timeout=300, interval=0.5):
    """Wait (bounded) until ``imageId`` is available; ImagePublishError if it failed."""
    deadline = time.monotonic() + timeout
    while True:
        image = ec2.describe_images(ImageIds=[imageId])["Images"][0]
        state = image["State"]
        if state == "available":
            return image
        if state != "pending":
            raise ImagePublishError("%s is %s: %s" % (
                imageId, state, image.get("StateReason", {}).get("Message")))
        if time.monotonic() > deadline:
            raise ImagePublishError("%s still pending after %d s" % (imageId, timeout))
        time.sleep(interval)


def publish(env, ec2, path, name, kind, kernel=None, ramdisk=None):
    """Bundle, upload and register one file as the admin; its id once available."""
    argv = ["publish", "-i", path, "-p", name, "-b", BUCKET, "--type", kind]
    if kernel:
        argv += ["--kernel", kernel]
    if ramdisk:
        argv += ["--ramdisk", ramdisk]
    out = eucadImage(env, *argv)
    imageId = out.split()[-1]
    waitAvailable(ec2, imageId)
    return imageId


def _readRecord(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _stillAvailable(ec2, ids):
    try:
        images = ec2.describe_images(ImageIds=list(ids.values()))["Images"]
    except Exception:
        return False
    return len(images) == len(ids) and all(i["State"] == "available" for i in images)


def pathImages(ec2):
    """Ids of the images registered by path (an earlier ``make run``'s)."""
    return [image["ImageId"] for image in ec2.describe_images()["Images"]
            if image.get("ImageLocation", "").startswith("/")]


def shareWithEveryone(ec2, ids):
    """
    Let every user launch the test image (launch permission for the group
    ``all``), as an admin does with the cloud's stock images: the cloud's
    other users run them too.  Adding a permission already there is no change.
    """
    for imageId in ids.values():
        ec2.modify_image_attribute(ImageId=imageId, LaunchPermission={
            "Add": [{"Group": "all"}]})


def publishTestImage(runDir, image, eucarc, ec2, log=print):
    """
    The ids (``kernel``, ``ramdisk``, ``machine``) of the test image's files
    registered as bundles: those ``images.json`` names when they are of this
    build and still available, else freshly published; either way public.  Images registered by
    path are deregistered once the bundles stand in for them.
    """
    record = os.path.join(runDir, RECORD_FILE)
    digests = {name: image.manifest["files"][name]["sha256"] for _, name in FILES}
    known = _readRecord(record)
    if (known.get("source") == SOURCE and known.get("digests") == digests
            and _stillAvailable(ec2, known.get("ids", {}))):
        shareWithEveryone(ec2, known["ids"])
        return known["ids"]
    env = sourcedEnvironment(eucarc)
    ids = {}
    for kind, name in FILES:
        bundleName = "%s-%s" % (name, digests[name][:12])
        ids[kind] = publish(env, ec2, image.path(name), bundleName, kind,
                            kernel=ids.get("kernel") if kind == "machine" else None,
                            ramdisk=ids.get("ramdisk") if kind == "machine" else None)
        log("registered %s as %s (%s/%s.manifest.xml)" % (name, ids[kind], BUCKET,
                                                         bundleName))
    shareWithEveryone(ec2, ids)
    for old in pathImages(ec2):
        ec2.deregister_image(ImageId=old)
        log("deregistered %s (an image registered by path)" % (old,))
    writeAtomically(record, json.dumps({"source": SOURCE, "digests": digests, "ids": ids}))
    return ids
