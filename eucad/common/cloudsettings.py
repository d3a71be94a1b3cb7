"""Settings the administrator changes while the cloud runs (the configuration page).

Walrus's limits start from eucalyptus.conf and a row of ``cloud_settings``
(written by the web pages' configuration tab) overrides the conf's value
from then on; the default kernel and ramdisk exist only as rows.  The
table lives in the database the CLC and Walrus share, so whichever daemon
needs a setting reads the row when it matters and a change is in force
without a restart, and survives one.  The image cache's size is held by the
CLC's image services and the name servers (``VNET_DNS``) by each cluster's
dhcpd: the CLC puts those in force when the page publishes a save
(``eucad.clc.settingchanges``) and again when it starts.  Only the keys of
``SETTINGS`` can be stored, each checked by its own rule.
"""

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from eucad.common.clustersettings import MAX_DNS_SERVERS, parseDnsServers
from eucad.common.db import Base


class CloudSetting(Base):
    __tablename__ = "cloud_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class SettingError(ValueError):
    """A value a setting cannot take; the message names the field."""


def _count(label, low, high):
    def check(text):
        text = text.strip()
        if not text.isdigit() or not low <= int(text) <= high:
            raise SettingError("%s must be a whole number from %d to %d." % (label, low, high))
        return str(int(text))
    return check


def _imageId(label, prefix):
    def check(text):
        text = text.strip()
        if text and not (text.startswith(prefix + "-") and len(text) <= 32
                         and text[len(prefix) + 1:].isalnum()):
            raise SettingError("%s must be an image id like %s-1234abcd, or empty."
                               % (label, prefix))
        return text
    return check


def _nameServers(label):
    def check(text):
        try:
            return ", ".join(parseDnsServers(text))
        except ValueError as e:
            raise SettingError("%s: %s (up to %d IPv4 addresses, or empty)." % (
                label, e, MAX_DNS_SERVERS)) from None
    return check


#: key -> (label, check): every setting the configuration page may store.
SETTINGS = {
    "WALRUS_MAX_BUCKETS_PER_USER": ("Max buckets per user", _count(
        "Max buckets per user", 0, 1000000)),
    "WALRUS_MAX_BUCKET_SIZE_MB": ("Max bucket size (MiB)", _count(
        "Max bucket size (MiB)", 0, 1 << 30)),
    "DEFAULT_KERNEL": ("Default kernel", _imageId("Default kernel", "eki")),
    "DEFAULT_RAMDISK": ("Default ramdisk", _imageId("Default ramdisk", "eri")),
    "WALRUS_IMAGE_CACHE_MB": ("Image cache size (MiB)", _count(
        "Image cache size (MiB)", 1, 1 << 30)),
    "VNET_DNS": ("DNS servers", _nameServers("DNS servers")),
}


def checkSetting(key, text):
    """``text`` as stored for ``key``, or SettingError saying what is wrong."""
    return SETTINGS[key][1](text or "")


def storedSettings(session):
    """``{key: value}`` of every stored row."""
    return {row.key: row.value for row in session.scalars(select(CloudSetting))}


def setting(session, conf, key):
    """The value in force: the stored row, else eucalyptus.conf's (or its default)."""
    row = session.get(CloudSetting, key)
    if row is not None:
        return row.value
    return conf.get(key) if conf is not None else ""


def saveSettings(session, values):
    """
    Check every ``{key: text}`` first, then store them all: one bad field
    changes nothing.  Raises SettingError with one line per bad field.
    """
    checked, problems = {}, []
    for key, text in values.items():
        try:
            checked[key] = checkSetting(key, text)
        except SettingError as e:
            problems.append(str(e))
    if problems:
        raise SettingError("\n".join(problems))
    for key, value in checked.items():
        row = session.get(CloudSetting, key)
        if row is None:
            session.add(CloudSetting(key=key, value=value))
        else:
            row.value = value
    session.flush()
    return checked
