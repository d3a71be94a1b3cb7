"""What instances leave behind on a lab cloud, counted, for before/after checks."""

import glob
import json
import os
import re
import subprocess

from eucad.common.config import Layout

_DHCP_HOST = re.compile(r"^\s*host\s+\S+\s*\{", re.MULTILINE)


def _frontEndState(cloud):
    return Layout(cloud.frontEnd).state


def dhcpHosts(cloud):
    """Host entries in the CC's dhcpd.conf files."""
    total = 0
    for path in glob.glob(os.path.join(_frontEndState(cloud), "**", "dhcpd.conf"),
                          recursive=True):
        with open(path) as f:
            total += len(_DHCP_HOST.findall(f.read()))
    return total


def liveRecords(cloud):
    """CC records of instances that are not terminated (the state file)."""
    live = 0
    for path in glob.glob(os.path.join(_frontEndState(cloud), "**", "*.json"), recursive=True):
        try:
            with open(path) as f:
                saved = json.load(f)
        except (ValueError, OSError):
            continue
        if isinstance(saved, dict) and isinstance(saved.get("instances"), dict):
            live += sum(1 for record in saved["instances"].values()
                        if record.get("phase") != "terminated")
    return live


def counts(cloud):
    """
    Domains, taps and instance directories on every node, DHCP host entries
    and live records in the CC.
    """
    import libvirt
    found = {"domains": 0, "taps": 0, "directories": 0}
    for node in cloud.lab.describe()["nodes"]:
        connection = libvirt.open(node["libvirtUri"])
        try:
            found["domains"] += len(connection.listAllDomains())
        finally:
            connection.close()
        links = subprocess.run(["ip", "-n", node["netns"], "-o", "link", "show"],
                               stdout=subprocess.PIPE, text=True, check=True).stdout
        found["taps"] += sum(1 for line in links.splitlines() if ": vn-" in line)
        found["directories"] += len(glob.glob(os.path.join(
            cloud.nodePrefix(node["name"]), "instances", "*", "i-*")))
    found["dhcpHosts"] = dhcpHosts(cloud)
    found["liveRecords"] = liveRecords(cloud)
    return found


def plus(before, **more):
    """``before`` with some counts raised."""
    return {key: value + more.get(key, 0) for key, value in before.items()}
