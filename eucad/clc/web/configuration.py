"""What the admin's configuration tab shows and changes.

VM types live in the CLC's database (``eucad.clc.vmtypes``) and the CLC reads
them at each RunInstances and DescribeAvailabilityZones, so a saved change
is in force at once and survives a restart.  The same sizes the guide's
tools accept: cpu 1-64 cores, memory 32-1048576 MiB, disk 1-100000 GiB.

Walrus's limits and the default kernel and ramdisk are rows of
``cloud_settings`` (``eucad.common.cloudsettings``), read by Walrus and by
RunInstances when they matter.  The image cache's size and the DNS servers
are held by running parts (the CLC's image cache, each cluster's dhcpd): the
pages publish each save on ``SettingChanges`` and those parts take it at
once (``eucad.clc.settingchanges``).  Clusters go through the CLC's
``ClusterRegistry`` (``eucad.clc.clusterregistry``).
"""

from eucad.clc.models import Image
from eucad.clc.vmtypes import VmType, listVmTypes
from eucad.clc.web.store import WebError
from eucad.common import bucketdirectory, cloudsettings

LIMITS = {"cpu": (1, 64), "ram": (32, 1048576), "disk": (1, 100000)}
LABELS = {"cpu": "CPUs", "ram": "memory (MiB)", "disk": "disk (GiB)"}

WALRUS_KEYS = ("WALRUS_MAX_BUCKETS_PER_USER", "WALRUS_MAX_BUCKET_SIZE_MB",
               "WALRUS_IMAGE_CACHE_MB")
SYSTEM_KEYS = ("DEFAULT_KERNEL", "DEFAULT_RAMDISK", "VNET_DNS")
_KINDS = {"DEFAULT_KERNEL": "kernel", "DEFAULT_RAMDISK": "ramdisk"}


def vmTypes(session):
    return listVmTypes(session)


def saveVmTypes(session, form):
    """
    Set every type's sizes from ``form`` (fields ``cpu.NAME``, ``ram.NAME``,
    ``disk.NAME``); nothing is changed unless every value is valid, and
    every bad field is named (one line each).
    """
    rows = {row.name: row for row in session.query(VmType)}
    changes, problems = [], []
    for name in sorted(rows):
        for field, (low, high) in LIMITS.items():
            text = (form.get("%s.%s" % (field, name)) or "").strip()
            if not text.isdigit() or not low <= int(text) <= high:
                problems.append("%s %s must be a whole number from %d to %d." % (
                    name, LABELS[field], low, high))
            else:
                changes.append((rows[name], field, int(text)))
    if problems:
        raise WebError("\n".join(problems))
    for row, field, value in changes:
        setattr(row, field, value)
    session.flush()
    return listVmTypes(session)


def settingsInForce(session, conf, bucketDefault=None):
    """
    ``{key: value}`` of the settings the page edits, as they are in force
    now, with the bucket directory Walrus was asked for (when the page knows
    the install's default, ``bucketDefault``) and ``BUCKET_MOVE``, the
    ``(from, to)`` of a move not finished yet (or None).
    """
    values = {key: cloudsettings.setting(session, conf, key)
              for key in WALRUS_KEYS + SYSTEM_KEYS}
    if bucketDefault is not None:
        values[bucketdirectory.WANTED] = bucketdirectory.bucketRoots(session, bucketDefault)[0]
        values["BUCKET_MOVE"] = bucketdirectory.moveUnderWay(session, bucketDefault)
    return values


def _bucketDirectoryProblem(session, text, bucketDefault):
    """Why Walrus cannot move to ``text`` now (one line), or None (also when unchanged)."""
    wanted, active, _ = bucketdirectory.bucketRoots(session, bucketDefault)
    if text == wanted:
        return None
    moving = bucketdirectory.moveUnderWay(session, bucketDefault)
    if moving is not None:
        return ("Bucket directory: Walrus is still moving its data from %s to %s; "
                "try again when that is done." % moving)
    return bucketdirectory.checkNewRoot(text, active)


def _save(session, form, keys, extraCheck=None, problems=()):
    """
    Check and store the ``keys`` the form carries (a field the form does not
    carry at all is left as it is); every bad field is named, one a line,
    and nothing is stored then.  Returns the stored ``{key: value}``.
    """
    keys = [key for key in keys if key in form]
    values = {key: form[key] for key in keys}
    problems = [problem for problem in problems if problem]
    for key in keys:
        try:
            values[key] = cloudsettings.checkSetting(key, values[key])
        except cloudsettings.SettingError as e:
            problems.append(str(e))
            continue
        if extraCheck is not None:
            problem = extraCheck(session, key, values[key])
            if problem:
                problems.append(problem)
    if problems:
        raise WebError("\n".join(problems))
    cloudsettings.saveSettings(session, values)
    return values


def saveWalrusSettings(session, form, bucketDefault=None):
    """
    Walrus's bucket count and bucket size limits (0: unlimited), the image
    cache's size, and (when the page knows the install's default,
    ``bucketDefault``) the bucket directory: a new one is checked here
    (blocking file checks: this runs in a database thread) and Walrus moves
    its blobs there while it runs (``eucad.walrus.bucketmove``).
    """
    directory = problem = None
    if bucketDefault is not None and bucketdirectory.WANTED in form:
        directory = form[bucketdirectory.WANTED].strip()
        problem = _bucketDirectoryProblem(session, directory, bucketDefault)
    values = _save(session, form, WALRUS_KEYS, problems=[problem])
    if directory is not None and directory != bucketdirectory.bucketRoots(
            session, bucketDefault)[0]:
        bucketdirectory.askForMove(session, directory)
        values[bucketdirectory.WANTED] = directory
    return values


def _publicImageOfKind(session, key, imageId):
    if key not in _KINDS or not imageId:
        return None
    image = session.get(Image, imageId)
    label, kind = cloudsettings.SETTINGS[key][0], _KINDS[key]
    if image is None or image.kind != kind or image.state == "deregistered":
        return "%s: %s is not a registered %s." % (label, imageId, kind)
    if not image.isPublic:
        return "%s: %s is private; only a public %s can serve every user." % (
            label, imageId, kind)
    return None


def saveSystemSettings(session, form):
    """
    The default kernel and ramdisk (registered, public; empty: none) and
    the DNS servers the clusters hand to VMs (empty: each one's VNET_DNS).
    """
    return _save(session, form, SYSTEM_KEYS, _publicImageOfKind)
