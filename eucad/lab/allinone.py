"""An all-in-one cloud on this machine: what ``make run`` and the e2e tests start.

It composes the pieces a real install has, the way an admin would: the test
image, the lab's namespaces (front end, switch, nodes with their own libvirtd),
one front-end install (CLC, Walrus, CC) and one install per node, each
configured with ``euca_conf`` and keyed with ``euca_conf --setup`` and
``euca_sync_key``; the four daemons started with ``twistd``; the image
registered; and optionally one instance run through the EC2 API until it
answers HTTP.  ``down`` stops the daemons by their PID files and takes the lab
down, keeping the installs' state (users, keys, images) for the next ``up``.

Every command acts on the cloud of one run directory and takes what it
needs from there: ``up`` records the cloud's lab name, ports, subnet and
node count in ``DIR/cloud.json``, and every later command (``down``,
``make stop``, the benchmarks) reads them back (``openCloud``); the keys it
uses are the ones ``euca_conf`` gives from the run directory's own install.
A command that names another lab, port or subnet than the directory's is
refused with one line.  Clouds side by side need only their own ``--dir``,
``--name``, ``--port`` and ``--subnet``; ``up`` refuses a lab name whose
namespaces another directory owns, and ports another process listens on.

This is blocking tooling (subprocess, polling with bounded waits), not
daemon code.
"""

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from eucad.common import control
from eucad.common.atomicfile import writeAtomically
from eucad.common.credentials import renderEucarc
from eucad.common.config import EucaConf, Layout
from eucad.common.hostport import parseHostPort
from eucad.common.polling import PollTimeout, pollUntil
from eucad.lab import firstinstance, testimage
from eucad.lab.topology import Lab, normaliseSubnet



class AllInOneError(Exception):
    """Something in bringing the cloud up did not happen in time."""


class CloudMismatch(AllInOneError):
    """A command named another cloud than the one its run directory holds."""


#: The cloud a run directory holds: written by ``up``, read by every command.
RECORD_FILE = "cloud.json"
DEFAULTS = {"name": "eucad", "basePort": 8773, "subnet": "10.77.0.0/24", "nodes": 2}


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
    """
    A base port whose ``span`` ports are all free on 127.0.0.1 (for tests),
    below the kernel's ephemeral range (32768 up), where any outgoing
    connection may take one of them between this check and the daemons' bind.
    """
    import random
    for _ in range(attempts):
        base = random.randrange(20000, 32768 - span)
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


def smtpSettings(relay):
    """
    The euca_conf settings that send the web pages' mail (applications,
    activation links) through the SMTP relay ``relay`` ("host:port", plain
    SMTP, no login), or none when ``relay`` is None so that an earlier
    ``up``'s relay stays.
    """
    if not relay:
        return []
    host, port = parseHostPort(relay, 25)
    return ["SMTP_HOST=%s" % (host,), "SMTP_PORT=%d" % (port,), "SMTP_STARTTLS=N",
            "SMTP_USER=", "SMTP_PASSWORD="]


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
        #: "host:port" of the SMTP relay the web pages send through (None: keep the conf's).
        self.smtpRelay = None

    # ---- what the run directory records
    @property
    def recordPath(self):
        return os.path.join(self.runDir, RECORD_FILE)

    def record(self):
        return {"name": self.labName, "basePort": self.basePort, "subnet": self.subnet,
                "nodes": self.nodeCount}

    def saveRecord(self):
        os.makedirs(self.runDir, mode=0o700, exist_ok=True)
        writeAtomically(self.recordPath, json.dumps(self.record(), indent=2, sort_keys=True))

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

    @property
    def imagePort(self):
        """Where the nodes fetch decrypted images (WALRUS_IMAGE_PORT)."""
        return self.basePort + 7

    @property
    def webPort(self):
        """The web pages' port: the guide's 8443 beside the default 8773, shifted with it."""
        return 8443 + self.basePort - 8773

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
        network = self.networkConf(described)
        self._euca_conf(
            self.frontEnd, "-cloud", "Y", "-walrus", "Y", "-cc", "Y", "-nc", "N",
            "-nodes", " ".join("127.0.0.1:%d" % self.ncPort(i) for i in range(len(nodes))),
            "CLOUD_HOST=127.0.0.1", "CLOUD_LISTEN=127.0.0.1",
            "CLOUD_PORT=%d" % self.clcPort, "WALRUS_PORT=%d" % self.walrusPort,
            "WALRUS_LISTEN=127.0.0.1", "CC_PORT=%d" % self.ccPort, "CC_LISTEN=127.0.0.1",
            "WEB_PORT=%d" % self.webPort, "WEB_LISTEN=127.0.0.1",
            # The CLC answers VMs' metadata requests inside the front end.
            "METADATA_NETNS=%s" % fe["netns"], "METADATA_LISTEN=%s" % fe["metadataAddress"],
            "METADATA_PORT=80",
            "CLUSTERS=cluster1@127.0.0.1:%d" % self.ccPort,
            "CLUSTER_POLL_SECONDS=1", "NODE_POLL_SECONDS=1",
            *network["frontend"], *smtpSettings(self.smtpRelay), "--setup")
        for index, node in enumerate(nodes):
            prefix = self.nodePrefix(node["name"])
            self._euca_conf(
                prefix, "-cloud", "N", "-walrus", "N", "-cc", "N", "-nc", "Y",
                "-instances", os.path.join(prefix, "instances"),
                "NC_PORT=%d" % self.ncPort(index), "NC_LISTEN=127.0.0.1",
                "LIBVIRT_URI=%s" % node["libvirtUri"], *network[node["name"]],
                "NODE_POLL_SECONDS=1")
            _run([_bin("euca_sync_key"), "-c", Layout(self.frontEnd).conf, "--to", prefix])

    def networkConf(self, described):
        """The network keys of this cloud (MANAGED on VXLAN; see staticNetworkConf)."""
        return managedNetworkConf(described)

    def configureImageDelivery(self):
        """The front end serves decrypted images to the nodes on ``imagePort``."""
        self._euca_conf(self.frontEnd, "WALRUS_IMAGE_PORT=%d" % self.imagePort)

    def registerImages(self, image, creds):
        """
        The test image's kernel, ramdisk and root registered as bundles by
        the admin through eucad-image (``eucad.lab.labimages``); their ids.
        """
        from eucad.lab.labimages import publishTestImage
        eucarc = os.path.join(creds["EUCA_KEY_DIR"], "eucarc")
        return publishTestImage(self.runDir, image, eucarc, self.ec2(creds), log=self.log)

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
        # Where its certificate files are, for an eucarc written elsewhere.
        values["EUCA_KEY_DIR"] = os.path.abspath(directory)
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
    def ports(self):
        """Every port the cloud's daemons listen on."""
        return [self.clcPort, self.ccPort, self.walrusPort, self.webPort, self.imagePort] + [
            self.ncPort(i) for i in range(self.nodeCount)]

    def checkRoomBeside(self):
        """
        Refuse to start where another cloud is: namespaces of this lab's
        names that another run directory made, or this cloud's ports taken
        while its own daemons are not running.
        """
        foreign = self.lab.foreignNamespaces()
        if foreign:
            raise CloudMismatch(
                "lab name %r is in use by another cloud (namespace %s exists and is not "
                "%s's): give another --name" % (self.labName, foreign[0], self.runDir))
        running = {d.name for d in self.daemons() if d.pid() is not None}
        if running:
            return
        for port in self.ports():
            try:
                _portOpen(port)
            except OSError:
                continue
            raise CloudMismatch("port %d is in use by another process (another cloud?): "
                                "give another --port" % (port,))

    def up(self, credentialsDir=None, runInstance=True):
        os.makedirs(self.runDir, exist_ok=True)
        started = time.monotonic()
        self.checkRoomBeside()
        self.saveRecord()
        image = testimage.build(log=self.log)
        self.log("test image ready: %s" % (image.outDir,))
        described = self.lab.up()
        self.log("lab %s is up (%d nodes)" % (self.labName, self.nodeCount))
        self.configure(described)
        self.configureImageDelivery()
        for daemon in self.daemons():
            daemon.start()
        for port in self.ports():
            _waitFor("port %d" % port, lambda: _portOpen(port), 30)
        creds = self.credentials(credentialsDir or os.path.join(self.runDir, "creds"))
        ec2 = self.ec2(creds)
        _waitFor("the nodes' capacity to reach the CLC", lambda: self.freeSmall(ec2) > 0, 60)
        ids = self.registerImages(image, creds)
        self.log("images: %s" % (", ".join("%s %s" % kv for kv in sorted(ids.items())),))
        self.log("cloud is up in %.1fs: EC2 at http://127.0.0.1:%d/services/Eucalyptus" % (
            time.monotonic() - started, self.clcPort))
        self.log("web pages at https://127.0.0.1:%d/ (first login admin/admin)" % (
            self.webPort,))
        result = {"images": ids, "credentials": creds, "instance": None}
        if runInstance:
            result["instance"] = self.runFirstInstance(ec2, ids["machine"])
            result["instance"].update(self.exposeToPublic(ec2, result["instance"]))
        return result

    def runFirstInstance(self, ec2, imageId, timeout=180):
        """
        The instance make run starts, with the admin's key pair and a user-data
        script (``eucad.lab.firstinstance``); waits until the guest ran its
        user data and started its SSH server, and says how to log in.
        """
        key = firstinstance.ensureKeyPair(ec2, self.runDir)
        instance = self.runOne(ec2, imageId, timeout, keyName=firstinstance.KEY_NAME,
                               userData=firstinstance.USER_DATA)

        def status():
            text = self.httpFromFrontEnd(instance["privateIp"], path="/status.json")
            return json.loads(text) if text.startswith("{") else None
        instance["status"] = _waitFor("%s's status.json" % (instance["instanceId"],),
                                      status, 60, 0.5)
        instance["keyFile"] = key
        instance["ssh"] = firstinstance.printableSshCommand(
            self.lab.describe()["frontend"]["netns"], key, instance["privateIp"])
        return instance

    def runOne(self, ec2, imageId, timeout=180, keyName=None, userData=None):
        """
        Run one instance (unless one of ours, with the same key, runs already)
        and wait for HTTP.
        """
        for reservation in ec2.describe_instances()["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] in ("pending", "running") and \
                        instance["ImageId"] == imageId and instance.get("KeyName") == keyName:
                    try:
                        return self._waitHttp(ec2, instance["InstanceId"], timeout)
                    except AllInOneError as e:
                        self.log("not using %s: %s" % (instance["InstanceId"], e))
        extra = {"KeyName": keyName} if keyName else {}
        if userData:
            extra["UserData"] = userData
        answer = ec2.run_instances(ImageId=imageId, MinCount=1, MaxCount=1,
                                   InstanceType="m1.small", **extra)
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

    def httpFromPublic(self, address, timeout=2, path="/"):
        """What answers at ``address`` over HTTP from the lab's public namespace ("" if nothing)."""
        result = subprocess.run(publicFetchArgv(self.lab.describe(), address, timeout, path),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    def exposeToPublic(self, ec2, instance, timeout=60):
        """
        What an admin does to publish an instance's web page: tcp 80 and ICMP
        into its ``default`` group, an elastic IP associated (one the admin
        already holds when there is one); then waits until the page answers
        from the lab's public namespace through that address.

        @return: ``{"publicIp", "fetch"}``, ``fetch`` the command that gets the page.
        """
        for permission in ({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                           {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}):
            try:
                ec2.authorize_security_group_ingress(GroupName="default",
                                                     IpPermissions=[permission])
            except Exception as e:
                if "InvalidPermission.Duplicate" not in str(e):
                    raise
        publicIp = self._addressFor(ec2, instance["instanceId"])
        ec2.associate_address(PublicIp=publicIp, InstanceId=instance["instanceId"])
        _waitFor("HTTP from the public namespace at %s" % (publicIp,),
                 lambda: instance["instanceId"] in self.httpFromPublic(publicIp), timeout, 0.3)
        self.log("%s answers HTTP at its elastic IP %s" % (instance["instanceId"], publicIp))
        return {"publicIp": publicIp,
                "fetch": " ".join(publicFetchArgv(self.lab.describe(), publicIp, 5))}

    @staticmethod
    def _addressFor(ec2, instanceId):
        """The admin's address held by ``instanceId``, else a free one of theirs, else a new one."""
        held = ec2.describe_addresses()["Addresses"]
        for wanted in (instanceId, None):
            for address in held:
                if (address.get("InstanceId") or None) == wanted:
                    return address["PublicIp"]
        return ec2.allocate_address()["PublicIp"]

    def clcRunning(self):
        """Whether this run directory's own CLC daemon runs (by its PID file)."""
        return any(d.name == "clc" and d.pid() is not None for d in self.daemons())

    def terminateAll(self, timeout=60):
        """
        Terminate every live instance through the API, as the admin would:
        with this cloud's admin keys, at this cloud's port, and only while
        this cloud's own CLC runs (never whatever else answers there).
        """
        if not self.clcRunning():
            self.log("not terminating instances: the CLC of %s is not running" % (self.runDir,))
            return
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
        """Stop this cloud's daemons and take its lab down; nothing of another cloud."""
        foreign = self.lab.foreignNamespaces()
        if foreign:
            raise CloudMismatch(
                "namespace %s carries lab %r's name but %s did not make it (another "
                "cloud's?): not taking it down" % (foreign[0], self.labName, self.runDir))
        self.terminateAll()
        for daemon in reversed(self.daemons()):
            daemon.stop()
        self.lab.down()
        self.log("stopped; state kept in %s" % (self.runDir,))


#: The VMs' own network in MANAGED mode, a slice of VM_ADDRS_PER_NET per
#: security group; it exists only inside the lab's namespaces.
VM_SUBNET = ipaddress.IPv4Network("172.30.0.0/16")
VM_ADDRS_PER_NET = 32
#: Elastic IPs: these hosts of the lab's public subnet (fe is the first, pub the last).
PUBLIC_IP_HOSTS = slice(9, 29)


def managedNetworkConf(described):
    """
    eucalyptus.conf network keys (``KEY=VALUE`` arguments of euca_conf) of
    a MANAGED cloud on VXLAN in the lab ``described``: under ``frontend``
    the CC's and CLC's (its data plane in the front end's namespace, elastic
    IPs from the public subnet, metadata where the CLC listens in the front
    end), under each node's name the NC's (its links made in the node's
    namespace, tunnels from its address on br0).
    """
    fe, pub = described["frontend"], described["pub"]
    public = ipaddress.IPv4Network("%s/%d" % (pub["subnet"], pub["prefixLength"]))
    hosts = list(public.hosts())[PUBLIC_IP_HOSTS]
    conf = {"frontend": [
        "VNET_MODE=MANAGED", "VNET_ENCAP=vxlan", "VNET_NETNS=%s" % fe["netns"],
        "VNET_INTERFACE=%s" % fe["privateInterface"],
        "VNET_PRIVINTERFACE=%s" % fe["privateInterface"],
        "VNET_PUBINTERFACE=%s" % fe["publicInterface"],
        "VNET_SUBNET=%s" % VM_SUBNET.network_address, "VNET_NETMASK=%s" % VM_SUBNET.netmask,
        "VNET_ADDRSPERNET=%d" % VM_ADDRS_PER_NET, "VNET_MTU=1450",
        "VNET_DNS=", "VNET_ROUTER=", "VNET_BROADCAST=", "VNET_MACMAP=",
        "VNET_PUBLICIPS=%s-%s" % (hosts[0], hosts[-1]),
        "VNET_CLOUDIP=%s" % fe["address"], "VNET_LOCALIP=%s" % fe["address"],
        "VNET_METADATA=%s:80" % fe["metadataAddress"]]}
    for node in described["nodes"]:
        conf[node["name"]] = [
            "VNET_MODE=MANAGED", "VNET_BRIDGE=%s" % node["bridge"],
            "VNET_PRIVINTERFACE=%s" % node["bridge"], "VNET_NETNS=%s" % node["netns"],
            "VNET_LOCALIP=%s" % node["address"]]
    return conf


def managedNoVlanNetworkConf(described):
    """
    eucalyptus.conf network keys of a MANAGED-NOVLAN cloud in the lab
    ``described`` (as ``managedNetworkConf``): the same slices, elastic IPs
    and metadata, but no tunnels: every VM is on its node's bridge, the lab's
    one switched wire, and the front end holds each slice's router address
    on its private interface.
    """
    conf = managedNetworkConf(described)
    untagged = ("VNET_ENCAP=", "VNET_MTU=")
    conf["frontend"] = [setting.replace("VNET_MODE=MANAGED", "VNET_MODE=MANAGED-NOVLAN")
                        for setting in conf["frontend"]
                        if not setting.startswith(untagged)]
    conf["frontend"].append("VNET_BRIDGE=%s" % (described["nodes"][0]["bridge"],))
    for node in described["nodes"]:
        conf[node["name"]] = [setting.replace("VNET_MODE=MANAGED", "VNET_MODE=MANAGED-NOVLAN")
                              for setting in conf[node["name"]]]
    return conf


def staticNetworkConf(described, basePort):
    """
    eucalyptus.conf network keys of a STATIC cloud in the lab ``described``
    (as ``managedNetworkConf``): instances on the lab's own subnet from .101,
    MACs from a map of 32 pairs, the CC's dhcpd in the front end, the nodes'
    bridges.  For what wants the flat network (bench/launch.py's reference).
    """
    fe = described["frontend"]
    network = ipaddress.IPv4Network("%s/%s" % (fe["subnet"], fe["netmask"]))
    macmap = " ".join("d2:0d:%02x:00:00:%02x=%s" % (
        basePort % 256, i, network.network_address + 100 + i) for i in range(1, 33))
    conf = {"frontend": [
        "VNET_MODE=STATIC", "VNET_NETNS=%s" % fe["netns"],
        "VNET_INTERFACE=%s" % fe["interface"], "VNET_SUBNET=%s" % fe["subnet"],
        "VNET_NETMASK=%s" % fe["netmask"], "VNET_BROADCAST=%s" % fe["broadcast"],
        "VNET_ROUTER=%s" % fe["address"], "VNET_DNS=%s" % fe["address"],
        "VNET_MACMAP=%s" % macmap, "VNET_PUBLICIPS="]}
    for node in described["nodes"]:
        conf[node["name"]] = ["VNET_MODE=STATIC", "VNET_BRIDGE=%s" % node["bridge"]]
    return conf


def publicFetchArgv(described, address, timeout=5, path="/"):
    """The command that fetches ``http://address/path`` from the lab's public namespace."""
    return ["ip", "netns", "exec", described["pub"]["netns"], "curl", "-s", "-m",
            str(timeout), "http://%s%s" % (address, path)]


def _recordFromInstall(runDir):
    """
    What a run directory made before ``cloud.json`` existed holds, read from
    its front end's eucalyptus.conf (None if it has none).
    """
    conf = EucaConf.load(Layout(os.path.join(runDir, "frontend")).conf)
    netns = conf.get("VNET_NETNS", "")
    if not conf.has("CLOUD_PORT") or not netns.endswith("-fe"):
        return None
    network = ipaddress.IPv4Network("%s/%s" % (conf.get("VNET_SUBNET"),
                                               conf.get("VNET_NETMASK")), strict=False)
    nodesDir = os.path.join(runDir, "nodes")
    nodes = len(os.listdir(nodesDir)) if os.path.isdir(nodesDir) else DEFAULTS["nodes"]
    return {"name": netns[:-len("-fe")], "basePort": conf.getInt("CLOUD_PORT"),
            "subnet": str(network), "nodes": nodes or DEFAULTS["nodes"]}


def readRecord(runDir):
    """The cloud ``runDir`` holds (name, basePort, subnet, nodes), or None."""
    path = os.path.join(runDir, RECORD_FILE)
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        return _recordFromInstall(runDir)
    except ValueError as e:
        raise CloudMismatch("%s is not readable (%s)" % (path, e))
    missing = set(DEFAULTS) - set(record)
    if missing:
        raise CloudMismatch("%s lacks %s" % (path, ", ".join(sorted(missing))))
    return record


def _comparable(key, value):
    if key == "subnet":
        return str(ipaddress.IPv4Network(normaliseSubnet(str(value)), strict=False))
    return str(value)


def openCloud(runDir, name=None, port=None, subnet=None, nodes=None, log=print,
              choosePort=None, defaults=None):
    """
    The AllInOne of ``runDir``: the cloud it records when it holds one (any
    of ``name``, ``port``, ``subnet``, ``nodes`` given must match it, or
    CloudMismatch says which does not), else a new one from the values
    given, ``defaults`` (over DEFAULTS), and ``choosePort()`` for a port
    not given.
    """
    runDir = os.path.abspath(runDir)
    given = {"name": name, "basePort": port, "subnet": subnet, "nodes": nodes}
    record = readRecord(runDir)
    if record is not None:
        options = {"name": "--name", "basePort": "--port", "subnet": "--subnet",
                   "nodes": "--nodes"}
        for key, value in given.items():
            if value is not None and _comparable(key, value) != _comparable(key, record[key]):
                raise CloudMismatch(
                    "%s holds the cloud of lab %r (port %d, subnet %s, %d nodes), "
                    "not %s %s: give another --dir for another cloud" % (
                        runDir, record["name"], record["basePort"], record["subnet"],
                        record["nodes"], options[key], value))
        values = record
    else:
        values = dict(DEFAULTS, **(defaults or {}))
        if port is None and choosePort is not None:
            given["basePort"] = choosePort()
        values.update({k: v for k, v in given.items() if v is not None})
    return AllInOne(runDir, labName=values["name"], basePort=int(values["basePort"]),
                    nodes=int(values["nodes"]), subnet=values["subnet"], log=log)


#: The line of an eucarc written here that names the run directory it is for.
EUCARC_CLOUD_LINE = "# eucad cloud: "


def userEucarcPath(home=None):
    return os.path.join(home or os.path.expanduser("~"), ".euca", "eucarc")


def writeEucarc(creds, path, runDir):
    """
    An eucarc at ``path`` (0600, in a 0700 directory) for the cloud of
    ``runDir``: the variables of ``euca_conf --get-credentials`` (rendered by
    the same ``renderEucarc``, its certificate files where ``credentials``
    put them) and the venv's bin first on PATH, so that ``aws``,
    ``euca_conf`` and the other tools work after sourcing it.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    text = renderEucarc(creds, keyDir=creds.get("EUCA_KEY_DIR"),
                        binDir=os.path.dirname(_bin("euca_conf")), comments=[
                            "eucad all-in-one credentials: source this file",
                            EUCARC_CLOUD_LINE[2:] + os.path.abspath(runDir)])
    return writeAtomically(path, text, 0o600)


def writeUserEucarc(creds, home=None, runDir="run"):
    """~/.euca/eucarc for the shell that runs awscli or boto3 next."""
    return writeEucarc(creds, userEucarcPath(home), runDir)


def _eucarcHolder(path):
    """``(run directory or None, EC2_URL or None)`` of an eucarc; None if there is none."""
    runDir = url = None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(EUCARC_CLOUD_LINE):
                    runDir = line[len(EUCARC_CLOUD_LINE):].strip()
                elif line.startswith("export EC2_URL="):
                    url = line.partition("=")[2].strip().strip("'\"")
    except FileNotFoundError:
        return None
    return runDir, url


def otherRunningCloud(path, cloud):
    """
    What other running cloud the eucarc at ``path`` is for ("the cloud in
    DIR", "the cloud at URL"), or None when it is this cloud's, a stopped
    cloud's, or no file at all.
    """
    holder = _eucarcHolder(path)
    if holder is None:
        return None
    runDir, url = holder
    if runDir is not None:
        if os.path.abspath(runDir) == cloud.runDir:
            return None
        frontEnd = os.path.join(runDir, "frontend")
        if os.path.exists(Layout(frontEnd).conf) and any(
                d.pid() is not None for d in control.daemonsFor(frontEnd, onlyEnabled=False)):
            return "the cloud in %s" % (runDir,)
        return None
    # Not written here (euca_conf --get-credentials ~/.euca, say): another
    # cloud's if something else answers at its endpoint.
    try:
        port = urlsplit(url or "").port
    except ValueError:
        port = None
    if port and port != cloud.clcPort:
        try:
            _portOpen(port)
            return "the cloud at %s" % (url,)
        except OSError:
            return None
    return None


def publicLines(instance):
    """What ``make run`` says about the instance's elastic IP (nothing without one)."""
    if not instance or not instance.get("publicIp"):
        return ""
    return ("\n  elastic IP:  %s (tcp 80 and ICMP open in the admin's default group)"
            "\n  its page from the public side:  %s" % (instance["publicIp"],
                                                       instance["fetch"]))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="eucad-allinone",
                                     description="An all-in-one eucad cloud in a lab.")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", default="run", help="the cloud's run directory (kept by down)")
    parser.add_argument("--name", default=None,
                        help="lab name, the namespaces' prefix (a new cloud: eucad)")
    parser.add_argument("--port", type=int, default=None,
                        help="the CLC's port; the other daemons take the next ones "
                             "(a new cloud: 8773)")
    parser.add_argument("--subnet", default=None,
                        help="the lab's private network (a new cloud: 10.77.0.0/24)")
    parser.add_argument("--nodes", type=int, default=None, help="nodes (a new cloud: 2)")
    parser.add_argument("--credentials", metavar="PATH", default=None,
                        help="write the admin's eucarc here (default: ~/.euca/eucarc, "
                             "unless it holds another running cloud's)")
    parser.add_argument("--no-instance", action="store_true")
    parser.add_argument("--smtp", metavar="HOST:PORT", default=None,
                        help="the SMTP relay the web pages send mail through")
    args = parser.parse_args(argv)
    try:
        cloud = openCloud(args.dir, name=args.name, port=args.port, subnet=args.subnet,
                          nodes=args.nodes)
        cloud.smtpRelay = args.smtp
        if args.command == "down":
            if readRecord(cloud.runDir) is None:
                print("nothing to stop: %s holds no cloud" % (cloud.runDir,))
                return 0
            cloud.down()
            return 0
        cloud.checkRoomBeside()
    except CloudMismatch as e:
        print("eucad-allinone %s: %s" % (args.command, e), file=sys.stderr)
        return 2
    try:
        result = cloud.up(runInstance=not args.no_instance)
    except Exception as e:
        print("make run failed: %s" % (e,), file=sys.stderr)
        print("logs: %s/frontend/var/log/eucalyptus and %s/logs; `make stop RUNDIR=%s` "
              "cleans up" % (cloud.runDir, cloud.runDir, cloud.runDir), file=sys.stderr)
        return 1
    kept = ""
    if args.credentials:
        path = writeEucarc(result["credentials"], args.credentials, cloud.runDir)
    else:
        other = otherRunningCloud(userEucarcPath(), cloud)
        if other is None:
            path = writeUserEucarc(result["credentials"], runDir=cloud.runDir)
        else:
            path = writeEucarc(result["credentials"],
                               os.path.join(cloud.runDir, "creds", "eucarc"), cloud.runDir)
            kept = ("\n  (%s is kept: it holds %s; --credentials %s replaces it)" % (
                userEucarcPath(), other, userEucarcPath()))
    instance = result["instance"]
    print("""
eucad is running (lab %(name)s, EC2 and S3 on port %(port)d).
  credentials: %(path)s%(kept)s
  images:      %(images)s
  instance:    %(instance)s%(public)s%(ssh)s
  web pages:   https://127.0.0.1:%(webPort)d/ (first login admin/admin; the browser
               will warn: the certificate is the cloud's own CA's)

Next:
  . %(path)s
  aws ec2 describe-instances --endpoint-url "$EC2_URL"
  aws ec2 describe-availability-zones --endpoint-url "$EC2_URL" --zone-names verbose
  make stop RUNDIR=%(dir)s     # stops this cloud; its state in %(dir)s is kept
""" % {"path": path, "kept": kept, "name": cloud.labName, "port": cloud.clcPort,
       "images": ", ".join("%s=%s" % kv for kv in sorted(result["images"].items())),
       "instance": instance and "%s at %s" % (instance["instanceId"], instance["privateIp"]),
       "ssh": instance and ("\n  log in:      %s" % (instance["ssh"],)) or "",
       "public": publicLines(instance),
       "dir": cloud.runDir, "webPort": cloud.webPort})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
