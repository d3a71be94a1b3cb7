"""The instance ``make run`` starts: with a key pair and a user-data script.

The all-in-one's admin gets a key pair of its own (``eucad-run``, ed25519),
made through CreateKeyPair like any user's; its private key is kept in the
run directory, 0600 from its first byte, and reused by the next ``make run``
on the same directory as long as the cloud still has the key pair.  The
instance is started with that key and ``USER_DATA``, which the test guest
runs at boot (its output shows in the guest's ``/status.json``).  The VM's
private address is reachable only inside the lab's front-end namespace, so
the ``ssh`` command printed for the admin enters it first.

Called by ``eucad.lab.allinone``.
"""

import os
import shlex

from eucad.common.atomicfile import writeAtomically

#: The admin's key pair for the make run instance.
KEY_NAME = "eucad-run"
#: Its private key, in the run directory.
KEY_FILE = "eucad-run.key"

#: What the instance runs at boot; the test guest keeps what it prints.
USER_DATA = """#!/bin/sh
echo "eucad make run: user data ran on $(cat /run/instance-id)"
"""


def keyPath(runDir):
    return os.path.join(runDir, KEY_FILE)


def ensureKeyPair(ec2, runDir):
    """
    The path of the ``KEY_NAME`` private key, making the key pair when the
    cloud or the run directory lacks it (a key pair whose private key was
    lost is made again).
    """
    path = keyPath(runDir)
    known = {pair["KeyName"] for pair in ec2.describe_key_pairs()["KeyPairs"]}
    if KEY_NAME in known and os.path.exists(path):
        return path
    if KEY_NAME in known:
        ec2.delete_key_pair(KeyName=KEY_NAME)
    made = ec2.create_key_pair(KeyName=KEY_NAME, KeyType="ed25519")
    material = made["KeyMaterial"]
    writeAtomically(path, material if material.endswith("\n") else material + "\n",
                    mode=0o600)
    return path


def sshCommand(frontEndNetns, key, ip, remote=None):
    """
    The argv that logs into the instance from the front end as root; with
    ``remote``, runs that command there instead of a shell.
    """
    argv = ["ip", "netns", "exec", frontEndNetns, "ssh", "-i", key,
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "root@" + ip]
    return argv + [remote] if remote else argv


def printableSshCommand(frontEndNetns, key, ip):
    """``sshCommand`` as one shell line, quoted where needed."""
    return shlex.join(sshCommand(frontEndNetns, key, ip))
