"""An all-in-one cloud on this machine: what ``make run`` and the e2e tests start.

It composes the pieces a real install has, the way an admin would: the test
image, the lab's namespaces (front end, switch, nodes with their own libvirtd),
one front-end install (CLC, Walrus, CC) and one install per node, each
configured with ``euca_conf`` and keyed with ``euca_conf --setup`` and
``euca_sync_key``; the four daemons started with ``twistd``; the image
registered; and optionally one instance run through the EC2 API until it
answers HTTP.  ``down`` stops the daemons by their PID files and takes the lab
down, keeping the installs' state (users, keys, images) for the next ``up``.

This is blocking tooling (subprocess, polling with bounded waits), not
daemon code.
"""

import argparse
import ipaddress
import json
import shlex
import os
import socket
import subprocess
import sys
import time

from eucad.common import control
from eucad.common.atomicfile import writeAtomically
from eucad.common.config import Layout
from eucad.common.polling import PollTimeout, pollUntil
from eucad.lab import testimage
from eucad.lab.topology import Lab



class AllInOneError(Exception):
    """Something in bringing the cloud up did not happen in time."""


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def _run(argv, **kwargs):
    """Run a tool to its end; a failure says what the tool printed."""
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)
    if result.returncode != 0:
        raise AllInOneError("%s exited %d: %s" % (
            " ".join(argv), result.returncode,
            (result.stderr.strip() or result.stdout.strip())[-2000:]))
    return result


class _NotYet(Exception):
    """Wraps what a check raised while the thing it waits for is not up yet."""


def _waitFor(what, check, timeout, interval=0.2):
    """
    Call ``check`` until it returns a true value or ``timeout`` passes; its
    errors mean "not up yet", except AllInOneError, which ends the wait.
    """
    def attempt():
        try:
            return check()
        except AllInOneError:
            raise
        except Exception as e:
            raise _NotYet(e)
    try:
        return pollUntil(what, attempt, timeout, interval, tolerate=(_NotYet,))
    except PollTimeout as e:
        raise AllInOneError(str(e))


def _portOpen(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def freeBasePort(span=8, attempts=50):
    """A base port whose ``span`` ports are all free on 127.0.0.1 (for tests)."""
    import random
    for _ in range(attempts):
        base = random.randrange(20000, 60000 - span)
        sockets = []
        try:
            for port in range(base, base + span):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AllInOneError("no run of %d free ports found" % (span,))


class AllInOne:
    """
    The whole cloud under ``runDir``.

    @param basePort: the CLC's port; the CC takes +1, the nodes +2.., Walrus +6.
    """

    def __init__(self, runDir, labName="eucad", basePort=8773, nodes=2,
                 subnet="10.77.0.0/24", log=print):
        self.runDir = os.path.abspath(runDir)
        self.labName = labName
        self.basePort = basePort
        self.nodeCount = nodes
        self.subnet = subnet
        self.log = log
        self.frontEnd = os.path.join(self.runDir, "frontend")
        self.lab = Lab(labName, os.path.join(self.runDir, "lab"), nodes=nodes,
                       subnet=subnet)

    # ---- ports and paths
    @property
    def clcPort(self):
        return self.basePort

    @property
    def ccPort(self):
        return self.basePort + 1

    def ncPort(self, index):
        return self.basePort + 2 + index

    @property
    def walrusPort(self):
        return self.basePort + 6

    def nodePrefix(self, name):
        return os.path.join(self.runDir, "nodes", name)

    def daemons(self):
        """Every daemon of the cloud, in start order (as eucad-ctl runs them)."""
        found = control.daemonsFor(self.frontEnd)
        for index in range(self.nodeCount):
            found += control.daemonsFor(self.nodePrefix("n%d" % (index + 1)))
        return found

    # ---- configuration, as an admin would do it
    def _euca_conf(self, prefix, *args):
        _run([_bin("euca_conf"), "-d", prefix] + list(args))

    def configure(self, described):
        fe = described["frontend"]
        nodes = described["nodes"]
        network = ipaddress.IPv4Network(self.subnet)
        # Instances take addresses from .100 up, clear of the lab's hosts.
        # Locally administered MACs (the 0x02 bit), like the CC's own.
        macmap = " ".join("d2:0d:%02x:00:00:%02x=%s" % (
            self.basePort % 256, i, network.network_address + 100 + i)
            for i in range(1, 33))
        self._euca_conf(
            self.frontEnd, "-cloud", "Y", "-walrus", "Y", "-cc", "Y", "-nc", "N",
            "-nodes", " ".join("127.0.0.1:%d" % self.ncPort(i) for i in range(len(nodes))),
            "CLOUD_HOST=127.0.0.1", "CLOUD_LISTEN=127.0.0.1",
            "CLOUD_PORT=%d" % self.clcPort, "WALRUS_PORT=%d" % self.walrusPort,
            "WALRUS_LISTEN=127.0.0.1", "CC_PORT=%d" % self.ccPort, "CC_LISTEN=127.0.0.1",
            # The CLC answers VMs' metadata requests inside the front end.
            "METADATA_NETNS=%s" % fe["netns"], "METADATA_LISTEN=%s" % fe["metadataAddress"],
            "METADATA_PORT=80",
            "CLUSTERS=cluster1@127.0.0.1:%d" % self.ccPort,
            "CLUSTER_POLL_SECONDS=1", "NODE_POLL_SECONDS=1",
            "VNET_MODE=STATIC", "VNET_NETNS=%s" % fe["netns"],
            "VNET_INTERFACE=%s" % fe["interface"], "VNET_SUBNET=%s" % fe["subnet"],
            "VNET_NETMASK=%s" % fe["netmask"], "VNET_BROADCAST=%s" % fe["broadcast"],
            "VNET_ROUTER=%s" % fe["address"], "VNET_DNS=%s" % fe["address"],
            "VNET_MACMAP=%s" % macmap, "--setup")
        for index, node in enumerate(nodes):
            prefix = self.nodePrefix(node["name"])
            self._euca_conf(
                prefix, "-cloud", "N", "-walrus", "N", "-cc", "N", "-nc", "Y",
                "-instances", os.path.join(prefix, "instances"),
                "NC_PORT=%d" % self.ncPort(index), "NC_LISTEN=127.0.0.1",
                "LIBVIRT_URI=%s" % node["libvirtUri"], "VNET_BRIDGE=%s" % node["bridge"],
                "VNET_MODE=STATIC", "NODE_POLL_SECONDS=1")
            _run([_bin("euca_sync_key"), "-c", Layout(self.frontEnd).conf, "--to", prefix])

    def registerImages(self, image):
        """Register the test image's three files once; return their ids."""
        record = os.path.join(self.runDir, "images.json")
        digests = {name: image.manifest["files"][name]["sha256"]
                   for name in ("vmlinuz", "initrd.img", "root.img")}
        if os.path.exists(record):
            with open(record) as f:
                known = json.load(f)
            if known.get("digests") == digests:
                return known["ids"]

        def register(*args):
            out = _run([_bin("eucad-register-image"), "--prefix", self.frontEnd]
                       + list(args)).stdout.split()
            return out[-1]
        kernel = register("--kind", "kernel", "--path", image.path("vmlinuz"))
        ramdisk = register("--kind", "ramdisk", "--path", image.path("initrd.img"))
        machine = register("--kind", "machine", "--path", image.path("root.img"),
                           "--kernel", kernel, "--ramdisk", ramdisk)
        ids = {"kernel": kernel, "ramdisk": ramdisk, "machine": machine}
        writeAtomically(record, json.dumps({"digests": digests, "ids": ids}))
        return ids

    # ---- the client side
    def credentials(self, directory):
        conf = Layout(self.frontEnd).conf
        _run([_bin("euca_conf"), "--get-credentials", directory, conf])
        values = {}
        with open(os.path.join(directory, "eucarc")) as f:
            for line in f:
                if line.startswith("export "):
                    key, _, value = line[len("export "):].strip().partition("=")
                    values[key] = value.strip("'\"")
        return values

    def ec2(self, creds):
        import boto3
        return boto3.client(
            "ec2", endpoint_url="http://127.0.0.1:%d/services/Eucalyptus" % self.clcPort,
            region_name="eucalyptus", aws_access_key_id=creds["EC2_ACCESS_KEY"],
            aws_secret_access_key=creds["EC2_SECRET_KEY"])

    def freeSmall(self, ec2):
        """Free m1.small slots the CLC reports (0 until every link is up)."""
        zones = ec2.describe_availability_zones(ZoneNames=["verbose"])
        for zone in zones["AvailabilityZones"]:
            name = zone["ZoneName"]
            if "m1.small" in name:
                return int(zone["State"].split("/")[0].strip())
        return 0

    def httpFromFrontEnd(self, ip, timeout=2, path="/"):
        """What the instance's HTTP server says at ``path``, fetched inside the front end."""
        fe = self.lab.describe()["frontend"]["netns"]
        result = subprocess.run(
            ["ip", "netns", "exec", fe, "curl", "-s", "-m", str(timeout),
             "http://%s%s" % (ip, path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    # ---- the whole thing
    def up(self, credentialsDir=None, runInstance=True):
        os.makedirs(self.runDir, exist_ok=True)
        started = time.monotonic()
        image = testimage.build(log=self.log)
        self.log("test image ready: %s" % (image.outDir,))
        described = self.lab.up()
        self.log("lab %s is up (%d nodes)" % (self.labName, self.nodeCount))
        self.configure(described)
        ids = self.registerImages(image)
        self.log("images: %s" % (", ".join("%s %s" % kv for kv in sorted(ids.items())),))
        for daemon in self.daemons():
            daemon.start()
        for port in [self.clcPort, self.ccPort, self.walrusPort] + [
                self.ncPort(i) for i in range(self.nodeCount)]:
            _waitFor("port %d" % port, lambda: _portOpen(port), 30)
        creds = self.credentials(credentialsDir or os.path.join(self.runDir, "creds"))
        ec2 = self.ec2(creds)
        _waitFor("the nodes' capacity to reach the CLC", lambda: self.freeSmall(ec2) > 0, 60)
        self.log("cloud is up in %.1fs: EC2 at http://127.0.0.1:%d/services/Eucalyptus" % (
            time.monotonic() - started, self.clcPort))
        result = {"images": ids, "credentials": creds, "instance": None}
        if runInstance:
            result["instance"] = self.runOne(ec2, ids["machine"])
        return result

    def runOne(self, ec2, imageId, timeout=180):
        """Run one instance (unless one of ours runs already) and wait for HTTP."""
        for reservation in ec2.describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] in ("pending", "running") and \
                        instance["ImageId"] == imageId:
                    try:
                        return self._waitHttp(ec2, instance["InstanceId"], timeout)
                    except AllInOneError as e:
                        self.log("not using %s: %s" % (instance["InstanceId"], e))
        answer = ec2.run_instances(ImageId=imageId, MinCount=1, MaxCount=1,
                                   InstanceType="m1.small")
        instanceId = answer["Instances"][0]["InstanceId"]
        self.log("started %s" % (instanceId,))
        return self._waitHttp(ec2, instanceId, timeout)

    def _instance(self, ec2, instanceId):
        """The instance as DescribeInstances shows it; an error once it is gone."""
        found = ec2.describe_instances(InstanceIds=[instanceId])
        instance = found["Reservations"][0]["Instances"][0]
        state = instance["State"]["Name"]
        if state in ("terminated", "shutting-down"):
            raise AllInOneError("%s is %s: %s" % (
                instanceId, state, instance.get("StateReason", {}).get("Message")))
        return instance

    def _waitHttp(self, ec2, instanceId, timeout):
        def running():
            instance = self._instance(ec2, instanceId)
            running = instance["State"]["Name"] == "running"
            return instance if running and instance.get("PrivateIpAddress") else None
        instance = _waitFor("%s to be running" % (instanceId,), running, timeout, 0.5)
        ip = instance["PrivateIpAddress"]
        tries = []

        def answers():
            tries.append(None)
            if len(tries) % 10 == 0:
                self._instance(ec2, instanceId)  # stop waiting if it died
            return instanceId in self.httpFromFrontEnd(ip)
        _waitFor("HTTP from %s at %s" % (instanceId, ip), answers, timeout, 0.3)
        self.log("%s is running at %s and answers HTTP" % (instanceId, ip))
        return {"instanceId": instanceId, "privateIp": ip}

    def terminateAll(self, timeout=60):
        """Terminate every live instance through the API, as the admin would."""
        try:
            ec2 = self.ec2(self.credentials(os.path.join(self.runDir, "creds")))
            live = [i["InstanceId"] for r in ec2.describe_instances(
                InstanceIds=["verbose"])["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] in ("pending", "running")]
        except Exception as e:  # the CLC is not up: nothing to ask
            self.log("not terminating instances: %s" % (e,))
            return
        if not live:
            return
        ec2.terminate_instances(InstanceIds=live)

        def allGone():
            found = ec2.describe_instances(InstanceIds=live)["Reservations"]
            return all(i["State"]["Name"] == "terminated"
                       for r in found for i in r["Instances"])
        try:
            _waitFor("instances to terminate", allGone, timeout, 0.5)
            self.log("terminated %s" % (" ".join(live),))
        except AllInOneError as e:
            self.log(str(e))

    def down(self):
        if any(daemon.pid() is not None for daemon in self.daemons()):
            self.terminateAll()
        for daemon in reversed(self.daemons()):
            daemon.stop()
        self.lab.down()
        self.log("stopped; state kept in %s" % (self.runDir,))


def writeUserEucarc(creds, home=None):
    """~/.euca/eucarc for the shell that runs awscli or boto3 next."""
    directory = os.path.join(home or os.path.expanduser("~"), ".euca")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lines = ["# eucad all-in-one credentials: source this file"]
    for key in ("EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                "EUCALYPTUS_CERT"):
        if key in creds:
            lines.append("export %s=%s" % (key, shlex.quote(creds[key])))
    return writeAtomically(os.path.join(directory, "eucarc"), "\n".join(lines) + "\n", 0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="eucad-allinone",
                                     description="An all-in-one eucad cloud in a lab.")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", default="run", help="state directory (kept by down)")
    parser.add_argument("--name", default="eucad", help="lab name (namespace prefix)")
    parser.add_argument("--port", type=int, default=8773, help="the CLC's port")
    parser.add_argument("--subnet", default="10.77.0.0/24", help="the lab's private network")
    parser.add_argument("--no-instance", action="store_true")
    args = parser.parse_args(argv)
    cloud = AllInOne(args.dir, labName=args.name, basePort=args.port, subnet=args.subnet)
    if args.command == "down":
        cloud.down()
        return 0
    try:
        result = cloud.up(runInstance=not args.no_instance)
    except Exception as e:
        print("make run failed: %s" % (e,), file=sys.stderr)
        print("logs: %s/frontend/var/log/eucalyptus and %s/logs; `make stop` cleans up"
              % (cloud.runDir, cloud.runDir), file=sys.stderr)
        return 1
    path = writeUserEucarc(result["credentials"])
    instance = result["instance"]
    print("""
eucad is running.
  credentials: %(path)s
  images:      %(images)s
  instance:    %(instance)s

Next:
  . ~/.euca/eucarc
  aws ec2 describe-instances --endpoint-url "$EC2_URL"
  aws ec2 describe-availability-zones --endpoint-url "$EC2_URL" --zone-names verbose
  make stop      # stops everything; state in %(dir)s is kept
""" % {"path": path, "images": ", ".join("%s=%s" % kv for kv in sorted(result["images"].items())),
       "instance": instance and "%s at %s" % (instance["instanceId"], instance["privateIp"]),
       "dir": cloud.runDir})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
