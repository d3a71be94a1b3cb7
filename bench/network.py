"""MANAGED network figures: authorize-to-traffic, and batched against per-rule iptables.

Two measurements, each against a reference taken in the same run (these
machines are noisy: compare the ratios, never figures across runs):

1. **Authorize to first connection.**  In a namespace lab (``VnetLab``: a
   public namespace, a front end, two nodes on VXLAN, a "VM" namespace
   serving HTTP behind an elastic IP), a probe in the public namespace opens
   a new TCP connection to the elastic IP every 2 ms.  eucad: the seconds
   from calling ``ManagedNetwork.updateGroup`` with ``tcp 80 0.0.0.0/0``
   (what AuthorizeSecurityGroupIngress will publish) to the probe's first
   established connection.  Reference: the same with the smallest possible
   change by hand, one ``iptables -A <chain> -p tcp --dport 80 -j ACCEPT``.
   Each is revoked again and the pair repeated ``--runs`` times, interleaved.
2. **1,000 groups x 10 rules.**  In two throwaway namespaces, the whole
   ruleset as rendered for that many groups: eucad applies it as one
   ``iptables-restore --noflush`` batch; the reference adds the same chains
   and rules with one ``iptables`` process per chain and per rule.  Both
   namespaces' ``iptables-save`` must come out identical.  Then one more
   rule for one group among them: what the Firewall sends (the changed chain
   only) against rewriting every chain.

Nothing is asserted: figures are printed.  Everything made is removed.
Run as root from the repository: ``.venv/bin/python bench/network.py``.
"""

import argparse
import ipaddress
import os
import shlex
import statistics
import subprocess
import sys
import time

from twisted.internet import defer, task, threads

from eucad.cc.vnet.managed import ManagedNetwork
from eucad.cc.vnet.ruleset import (
    FirewallState, GroupRules, appliedChains, chainRules, groupChain, renderChanges,
    renderHooks, renderRuleset)
from eucad.cc.vnet.settings import settingsFromConf
from eucad.common.config import DEFAULTS
from eucad.common.netpolicy import IngressRule, SecurityGroupPolicy
from eucad.common.process import ProcessRunner
from eucad.lab import netns
from eucad.lab.vnetlab import VnetLab, startVm

ELASTIC_IP = "192.0.2.10"

#: Probe: a new non-blocking connect to argv[1]:80 every 2 ms; prints
#: "ready" once running and the wall-clock time of the first established
#: connection; gives up after argv[2] seconds.
PROBE = r"""
import selectors, socket, sys, time
host, limit = sys.argv[1], float(sys.argv[2])
sel = selectors.DefaultSelector()
print("ready", flush=True)
end = time.time() + limit
opened = {}
while time.time() < end:
    s = socket.socket(); s.setblocking(False)
    s.connect_ex((host, 80))
    sel.register(s, selectors.EVENT_WRITE)
    opened[s] = time.time()
    for key, _ in sel.select(0.002):
        sock = key.fileobj
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            print("%.6f" % time.time(), flush=True)
            sys.exit(0)
        sel.unregister(sock)
        del opened[sock]
        sock.close()
    for sock, at in list(opened.items()):
        if time.time() - at > 0.3:
            sel.unregister(sock)
            del opened[sock]
            sock.close()
print("timeout", flush=True); sys.exit(1)
"""


def _sbinEnv():
    env = dict(os.environ)
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin:" + env.get("PATH", "")
    return env


# ---- 1: authorize to first connection ----

def _startProbe(lab):
    process = subprocess.Popen(
        netns.inNamespace(lab.ns("pub"), [sys.executable, "-c", PROBE, ELASTIC_IP, "10"]),
        stdout=subprocess.PIPE, text=True, env=_sbinEnv())
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the probe did not start")
    return process


def _probeResult(process):
    line = process.stdout.readline().strip()
    process.wait(15)
    if line == "timeout" or not line:
        raise RuntimeError("no connection within the probe's limit")
    return float(line)


@defer.inlineCallbacks
def _oneAuthorize(reactor, lab, change):
    """Seconds from calling ``change`` to the probe's first connection, and to its end."""
    probe = yield threads.deferToThread(_startProbe, lab)
    yield task.deferLater(reactor, 0.05, lambda: None)  # the probe is failing now
    start = time.time()
    yield change()
    applied = time.time()
    connected = yield threads.deferToThread(_probeResult, probe)
    if connected <= start:
        raise RuntimeError("the probe connected before the change: port 80 was already open")
    return (connected - start, applied - start)


@defer.inlineCallbacks
def benchAuthorize(reactor, runs):
    lab = VnetLab("nb%d" % (os.getpid() % 100000,))
    try:
        lab.build()
        conf = dict(DEFAULTS, **lab.settings())
        network = ManagedNetwork(settingsFromConf(conf), ProcessRunner(netns=lab.ns("fe")))
        yield network.setUp()
        yield startVm(lab, network, "a1", "n1", "alice", "web")
        yield network.associate(ELASTIC_IP, lab.vms["a1"]["instanceId"])
        chain = groupChain("alice", "web")
        open80 = SecurityGroupPolicy("alice", "web", [IngressRule("tcp", 80, 80,
                                                                  cidr="0.0.0.0/0")])
        closed = SecurityGroupPolicy("alice", "web", [])
        byHand = ["iptables", "-A", chain, "-p", "tcp", "-m", "tcp", "--dport", "80",
                  "-j", "ACCEPT"]
        eucad, eucadApply, reference = [], [], []
        for run in range(runs + 1):
            toTraffic, toApplied = yield _oneAuthorize(
                reactor, lab, lambda: network.updateGroup(open80))
            yield network.updateGroup(closed)
            handTime, _ = yield _oneAuthorize(
                reactor, lab, lambda: network.runner.run(byHand))
            # Taken out by hand too: the Firewall rewrites only what it changed.
            yield network.runner.run(["iptables", "-D"] + byHand[2:])
            if run:  # the first pair warms up
                eucad.append(toTraffic)
                eucadApply.append(toApplied)
                reference.append(handTime)
        return (eucad, eucadApply, reference)
    finally:
        lab.destroy()


# ---- 2: one batch against one process per rule ----

def bigState(groups, rulesPerGroup):
    rules = [IngressRule("tcp", 1000 + i, 1000 + i, cidr="198.51.100.0/24")
             for i in range(rulesPerGroup)]
    subnet = ipaddress.IPv4Network("10.0.0.0/8")
    return FirewallState(subnet, "pub0", metadata=("192.0.2.254", 8773), groups=[
        GroupRules("user%d" % (g,), "group", ipaddress.IPv4Network(
            (int(subnet.network_address) + 32 * g, 27)), rules) for g in range(groups)])


def perRuleCommands(text):
    """The same ruleset as one ``iptables`` argv per chain and per rule."""
    commands, table = [], None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            commands.append(["iptables", "-t", table, "-N", line[1:].split()[0]])
        elif line.startswith("-"):
            commands.append(["iptables", "-t", table] + shlex.split(line))
    return commands


def _saved(ns):
    out = subprocess.run(netns.inNamespace(ns, ["iptables-save"]), capture_output=True,
                         text=True, check=True, env=_sbinEnv()).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def benchBatch(groups, rulesPerGroup):
    state = bigState(groups, rulesPerGroup)
    text = renderRuleset(state)
    commands = perRuleCommands(text)
    prefix = "nb%d" % (os.getpid() % 100000,)
    batchNs, ruleNs = prefix + "-batch", prefix + "-rules"
    env = _sbinEnv()
    made = []
    try:
        for ns in (batchNs, ruleNs):
            subprocess.run(netns.addNamespace(ns), check=True, env=env)
            made.append(ns)
            subprocess.run(netns.inNamespace(ns, ["iptables-restore", "--noflush"]),
                           input=renderHooks(), text=True, check=True, env=env)
        start = time.monotonic()
        subprocess.run(netns.inNamespace(batchNs, ["iptables-restore", "--noflush"]),
                       input=text, text=True, check=True, env=env)
        batchSeconds = time.monotonic() - start
        # The hooks already made the EUCA_* chains: the reference does not make them again.
        commands = [c for c in commands if not (c[3] == "-N" and c[4].startswith("EUCA_"))]
        start = time.monotonic()
        for argv in commands:
            subprocess.run(netns.inNamespace(ruleNs, argv), check=True, env=env)
        perRuleSeconds = time.monotonic() - start
        same = _saved(batchNs) == _saved(ruleNs)

        # One authorize among all those groups: the changed chain only (what
        # the Firewall sends) against rewriting every chain, rendering included.
        applied = appliedChains(chainRules(state))
        middle = state.groups[len(state.groups) // 2]
        middle.rules += (IngressRule("tcp", 443, 443, cidr="0.0.0.0/0"),)
        start = time.monotonic()
        changes, _ = renderChanges(state, applied)
        subprocess.run(netns.inNamespace(batchNs, ["iptables-restore", "--noflush"]),
                       input=changes, text=True, check=True, env=env)
        diffSeconds = time.monotonic() - start
        middle.rules += (IngressRule("tcp", 8443, 8443, cidr="0.0.0.0/0"),)
        start = time.monotonic()
        subprocess.run(netns.inNamespace(batchNs, ["iptables-restore", "--noflush"]),
                       input=renderRuleset(state), text=True, check=True, env=env)
        fullSeconds = time.monotonic() - start
        return (batchSeconds, perRuleSeconds, len(commands), len(text.splitlines()), same,
                diffSeconds, fullSeconds, len(changes.splitlines()))
    finally:
        for ns in made:
            subprocess.run(netns.deleteNamespace(ns), env=env)


def main(reactor, argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="authorize pairs measured")
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=10, help="rules per group")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")

    @defer.inlineCallbacks
    def run():
        eucad, applied, reference = yield benchAuthorize(reactor, args.runs)
        e, a, r = (statistics.median(x) for x in (eucad, applied, reference))
        print("authorize -> first connection from the public namespace (%d runs, medians)"
              % (args.runs,))
        print("  eucad updateGroup (one iptables-restore): %.4f s (batch applied after %.4f s)"
              % (e, a))
        print("  reference, one iptables -A by hand:       %.4f s" % (r,))
        print("  ratio eucad/reference: %.2f" % (e / r,))
        batch, perRule, processes, lines, same, diff, full, diffLines = \
            yield threads.deferToThread(benchBatch, args.groups, args.rules)
        print("%d groups x %d rules (%d lines of iptables-restore input)" % (
            args.groups, args.rules, lines))
        print("  eucad, one iptables-restore --noflush batch: %.3f s" % (batch,))
        print("  reference, one iptables per chain/rule (%d processes): %.3f s" % (
            processes, perRule))
        print("  ratio reference/eucad: %.1fx faster as one batch; same resulting rules: %s"
              % (perRule / batch, "yes" if same else "NO"))
        print("one authorize with those groups in force (rendering included)")
        print("  eucad, the changed chain only (%d lines): %.3f s" % (diffLines, diff))
        print("  reference, every chain rewritten:        %.3f s" % (full,))
        print("  ratio reference/eucad: %.1fx" % (full / diff,))
    return run()


if __name__ == "__main__":
    task.react(main, (sys.argv[1:],))
