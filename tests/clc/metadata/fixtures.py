"""Rows the metadata tests look up: instances with their reservation and image."""

import base64
import itertools

from eucad.clc.models import RUNNING, Image, Instance, Reservation

_serial = itertools.count(1)

#: An OpenSSH public key as ImportKeyPair stores it.
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGpV1pUqaMbQ0bJrgNnZp4JXcCC2mtQ1i9C2ak2Yp4bI"
       " alice@laptop")


def addImage(db, imageId="emi-1a2b3c4d", location="images/test.img.manifest.xml"):
    def add(session):
        session.add(Image(id=imageId, kind="machine", location=location, owner="admin",
                          registered=0.0))
    db.transact(add)
    return imageId


def addInstance(db, privateIp, state=RUNNING, userData=None, keyName="alice-key",
                keyData=KEY, groups="default web", **overrides):
    """
    One instance (and its reservation) at ``privateIp``; return its id.

    @param userData: raw bytes, stored base64-encoded as RunInstances does.
    """
    n = next(_serial)
    instanceId = "i-%08x" % (0x5e000000 + n,)
    reservationId = "r-%08x" % (0x5e000000 + n,)
    values = dict(
        id=instanceId, reservationId=reservationId, owner="alice",
        imageId="emi-1a2b3c4d", kernelId="eki-00000001", ramdiskId="eri-00000002",
        vmType="m1.small", state=state, privateIp=privateIp, publicIp=None,
        macAddress="d0:0d:00:00:00:%02x" % (n % 256,), cluster="zone-a", node="n1",
        launchTime=0.0, launchIndex=0, keyName=keyName, keyData=keyData,
        userData=base64.b64encode(userData).decode() if userData is not None else None,
        reason="", stateChanged=0.0, placedAt=0.0)
    values.update(overrides)

    def add(session):
        session.add(Reservation(id=reservationId, owner="alice", cluster="zone-a",
                                groups=groups, created=0.0))
        session.flush()
        session.add(Instance(**values))
    db.transact(add)
    return instanceId
