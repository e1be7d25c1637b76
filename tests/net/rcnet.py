#!/usr/bin/env python3
"""The network harness (issue 11): rollcall and Serf side by side in network
namespaces, under the same faults at the same time.

    sudo tests/net/rcnet.py --rollcall build/rel/rollcall [--serf PATH | --no-serf]
        [--nodes 10] [--duration 180] [--trials 5] [--cut 30] [--scenario NAME ...]

What it builds (and removes again, whatever happens: a trap on exit and on
SIGINT/SIGTERM):
- one namespace per node, rcnet<id>n<i>, with eth0 = 10.77.0.<i+1>/24, and one
  hub namespace rcnet<id>h holding the bridge br0 and the other end of every
  node's veth (v<i>): the "switch";
- per node one rollcall agent (file registry in a shared temp dir, which works
  across network namespaces, EPMD off, defaults: interval 1 s, ping_timeout
  500 ms) and, unless --no-serf, one Serf agent (LAN profile: probe interval
  1 s, probe timeout 500 ms) joined to the others.

Faults (whatever this kernel offers; it has no sch_netem):
- loss: an nftables netdev egress rule `numgen random mod 1000 < p drop` on the
  node's eth0 (its outgoing packets) and/or on the hub's v<i> (its incoming);
- delay with jitter: `iptables-nft -j NFQUEUE` on every node's OUTPUT and the
  user-space delayer (tests/net/delayer.c) holding each packet D +- J ms;
- one-way cut: an egress rule dropping n1's packets to n2 (n2 -> n1 flows);
- CPU starvation: the node's agents and three busy loops in a cgroup (v1 or
  v2 cpu controller) with a CFS quota of 5 % in 1 s periods;
- kill -9, link down without reset (the hub's v<i> set down: the cable
  pulled at the switch, no RST can come back), SIGSTOP: on both agents of one
  node at once, in --trials trials, each healed afterwards (restart, link up,
  SIGCONT) and waited on until every observer sees the node up again.

What it counts, per system, from the agents' own logs (rollcall: JSON events
peer_down / peer_up / peer_suspect / peer_refuted; Serf: EventMemberFailed /
EventMemberJoin lines, stamped by the harness as they are read):
- false downs: a down verdict on a node that was not failed at the time (in a
  trial, any down outside the failed node's window; the failed node's own
  verdicts on the others while it is cut off or frozen are not counted);
- flaps: false downs followed by an up of the same pair;
- detection: for each trial the time from the fault to the first observer's
  down and to the last observer's (all N-1), median and max over the trials;
- recovery: from the heal to the last observer's up.

One table per scenario, with the command line that produced it. Exit status
0 when every scenario ran (the counts are judged by tests/net/test_detect.py
and by the reader of the tables, not here); 2 when the harness itself could
not run (no nft, no NFQUEUE, no cgroup, ...): it never skips silently.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SUBNET = "10.77.0"
SCENARIOS = {
    # name: (kind, description)
    "clean": ("gray", "clean network"),
    "loss5": ("gray", "5 % loss on every link"),
    "loss20one": ("gray", "20 % loss on one node's link (both ways)"),
    "oneway": ("gray", "one-way cut: n1 -> n2 dropped, n2 -> n1 flows"),
    "delay100": ("gray", "100 ms +- 50 ms delay on every link"),
    "delay250": ("gray", "250 ms +- 50 ms delay on every link"),
    "starve": ("gray", "one node starved of CPU (5 % quota in {period} periods, 3 busy loops)"),
    "kill9": ("trial", "kill -9 of one node's agents"),
    "linkdown": ("trial", "link down at the switch, no reset"),
    "sigstop": ("trial", "SIGSTOP of one node's agents"),
}
DEFAULT_ORDER = ["clean", "loss5", "loss20one", "oneway", "delay100", "delay250", "starve",
                 "kill9", "linkdown", "sigstop"]


class HarnessError(Exception):
    """The harness itself cannot run here (missing tool or kernel feature)."""


def run(*args, check=True, ns=None):
    argv = [str(a) for a in args]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise HarnessError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


def nft(ns, script):
    r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise HarnessError("nft in %s: %s\n%s" % (ns, r.stderr.strip(), script))


def child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
    env.pop("ERL_EPMD_PORT", None)
    return env


# ------------------------------------------------------------------ topology

class Net:
    def __init__(self, n, workdir, rollcall, serf, delayer):
        self.n = n
        self.rid = "%04x" % random.getrandbits(16)
        self.hub = "rcnet%sh" % self.rid
        self.ns = ["rcnet%sn%d" % (self.rid, i) for i in range(n)]
        self.ip = ["%s.%d" % (SUBNET, i + 1) for i in range(n)]
        self.name = ["n%d@%s" % (i, self.ip[i]) for i in range(n)]
        self.work = workdir
        self.rollcall_bin = rollcall
        self.serf_bin = serf
        self.delayer_bin = delayer
        self.rc = [None] * n   # Popen of the rollcall agent per node
        self.sf = [None] * n   # Popen of the Serf agent per node
        self.others = []       # delayers, hogs
        self.readers = []
        self.cgroup = None
        self.made_ns = []
        self.regdir = os.path.join(workdir, "registry")
        self.cookie = os.path.join(workdir, "cookie")
        os.makedirs(self.regdir, exist_ok=True)
        with open(self.cookie, "w") as f:
            f.write("RCNET%016x\n" % random.getrandbits(64))
        os.chmod(self.cookie, 0o600)

    # -- namespaces
    def up(self):
        for ns in [self.hub] + self.ns:
            run("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            run("ip", "link", "add", "v%d" % i, "netns", self.hub, "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            run("ip", "-n", self.hub, "link", "set", "v%d" % i, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", self.ip[i] + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def down(self):
        for procs in (self.rc, self.sf):
            for p in procs:
                stop_proc(p)
        for p in self.others:
            stop_proc(p)
        if self.cgroup is not None:
            self.unstarve()
        for ns in reversed(self.made_ns):
            run("ip", "netns", "del", ns, check=False)
        self.made_ns = []
        for t in self.readers:
            t.join(timeout=2)

    # -- agents
    def start_rollcall(self, i):
        log = open(os.path.join(self.work, "rc-n%d.log" % i), "ab")
        argv = ["ip", "netns", "exec", self.ns[i], self.rollcall_bin, "run", "--name", self.name[i],
                "--cookie-file", self.cookie, "--registry", "file://" + self.regdir,
                "--epmd", "off", "--log-format", "json", "--log-level", "debug"]
        self.rc[i] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                      env=child_env(), start_new_session=True)
        log.close()

    def start_serf(self, i):
        if self.serf_bin is None:
            return
        joins = []
        for j in (0, 1, 2):
            if j != i and j < self.n:
                joins += ["-retry-join", self.ip[j] + ":7946"]
        argv = ["ip", "netns", "exec", self.ns[i], self.serf_bin, "agent", "-node", "n%d" % i,
                "-bind", self.ip[i] + ":7946", "-rpc-addr", "127.0.0.1:7373",
                "-retry-interval", "1s", "-log-level", "info"] + joins
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
        self.sf[i] = p
        path = os.path.join(self.work, "serf-n%d.log" % i)

        def reader():
            with open(path, "a") as out:
                for raw in p.stdout:
                    out.write("%.6f %s" % (time.time(), raw.decode("utf-8", "replace")))
                    out.flush()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.readers.append(t)

    def start_all(self):
        for i in range(self.n):
            self.start_rollcall(i)
            self.start_serf(i)

    def agent_pids(self, i):
        return [p.pid for p in (self.rc[i], self.sf[i]) if p is not None and p.poll() is None]

    # -- faults
    def loss(self, i, permille, out=True, inn=True):
        if out:
            nft(self.ns[i], "table netdev rcnet {\n chain egress {\n"
                "  type filter hook egress device \"eth0\" priority 0;\n"
                "  numgen random mod 1000 < %d drop\n }\n}\n" % permille)
        if inn:
            nft(self.hub, "table netdev rcnet%d {\n chain egress {\n"
                "  type filter hook egress device \"v%d\" priority 0;\n"
                "  numgen random mod 1000 < %d drop\n }\n}\n" % (i, i, permille))

    def unloss(self, i):
        run("ip", "netns", "exec", self.ns[i], "nft", "delete", "table", "netdev", "rcnet",
            check=False)
        run("ip", "netns", "exec", self.hub, "nft", "delete", "table", "netdev", "rcnet%d" % i,
            check=False)

    def cut_oneway(self, src, dst):
        nft(self.ns[src], "table netdev rcnet {\n chain egress {\n"
            "  type filter hook egress device \"eth0\" priority 0;\n"
            "  ip daddr %s drop\n }\n}\n" % self.ip[dst])

    def delay(self, ms, jitter):
        for i, ns in enumerate(self.ns):
            p = subprocess.Popen(["ip", "netns", "exec", ns, self.delayer_bin, "--queue", "0",
                                  "--delay-ms", str(ms), "--jitter-ms", str(jitter)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(self.work, "delayer-n%d.log" % i), "ab"),
                                 start_new_session=True)
            self.others.append(p)
        time.sleep(0.5)
        for p in self.others:
            if p.poll() is not None:
                raise HarnessError("the delayer exited at once (NFQUEUE missing?): see %s"
                                   % self.work)
        for ns in self.ns:
            run("iptables-nft", "-A", "OUTPUT", "-d", SUBNET + ".0/24", "-j", "NFQUEUE",
                "--queue-num", "0", ns=ns)
        # Without --queue-bypass a dead delayer drops everything: check it holds.
        time.sleep(0.5)
        for p in self.others:
            if p.poll() is not None:
                raise HarnessError("a delayer died: see %s" % self.work)

    def undelay(self):
        for ns in self.ns:
            run("iptables-nft", "-F", "OUTPUT", ns=ns, check=False)
        for p in self.others:
            stop_proc(p)
        self.others = []

    def starve(self, i, quota_us=50000, period_us=1000000, hogs=3):
        root = "/sys/fs/cgroup/cpu"
        if not os.path.isdir(root) and os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
            root = "/sys/fs/cgroup"  # cgroup v2
        cg = os.path.join(root, "rcnet%s" % self.rid)
        try:
            os.mkdir(cg)
        except OSError as e:
            raise HarnessError("cannot create the cgroup %s: %s" % (cg, e))
        self.cgroup = (root, cg)
        try:
            if os.path.exists(os.path.join(cg, "cpu.max")):
                write(os.path.join(cg, "cpu.max"), "%d %d" % (quota_us, period_us))
            else:
                write(os.path.join(cg, "cpu.cfs_period_us"), str(period_us))
                write(os.path.join(cg, "cpu.cfs_quota_us"), str(quota_us))
            for _ in range(hogs):
                p = subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
                self.others.append(p)
                write(os.path.join(cg, "cgroup.procs"), str(p.pid))
            for pid in self.agent_pids(i):
                write(os.path.join(cg, "cgroup.procs"), str(pid))
        except OSError as e:
            raise HarnessError("cannot configure the cgroup %s: %s" % (cg, e))

    def unstarve(self):
        root, cg = self.cgroup
        for p in self.others:
            stop_proc(p)
        self.others = []
        try:
            with open(os.path.join(cg, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    write(os.path.join(root, "cgroup.procs"), pid)
                except OSError:
                    pass
            os.rmdir(cg)
        except OSError as e:
            print("warning: cgroup %s: %s" % (cg, e), file=sys.stderr)
        self.cgroup = None

    def link(self, i, up):
        run("ip", "-n", self.hub, "link", "set", "v%d" % i, "up" if up else "down")

    def signal_agents(self, i, sig):
        for pid in self.agent_pids(i):
            os.kill(pid, sig)

    def kill9(self, i):
        for p in (self.rc[i], self.sf[i]):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    def restart(self, i):
        self.start_rollcall(i)
        self.start_serf(i)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def stop_proc(p):
    if p is None or p.poll() is not None:
        return
    try:
        os.kill(p.pid, signal.SIGCONT)
        p.terminate()
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ logs

SERF_RE = re.compile(r"^(\d+\.\d+) .*serf: (EventMemberFailed|EventMemberJoin|EventMemberLeave"
                     r"|EventMemberReap): (\S+) ")
SERF_SUSPECT_RE = re.compile(r"^(\d+\.\d+) .*memberlist: Suspect (\S+) has failed")
RC_KINDS = {"peer_down": "down", "peer_up": "up", "peer_suspect": "suspect",
            "peer_refuted": "refuted", "peer_pruned": "pruned"}


# rollcall stamps `ts` in whole milliseconds, truncated: an event in the same
# millisecond as a fault reads up to 1 ms before the harness's own clock
# said the fault began. Every window opens this much early.
TS_RES = 0.001


def parse_ts(s):
    # 2026-12-06T07:16:39.172Z
    import calendar
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$", s or "")
    if m is None:
        return None
    y, mo, d, h, mi, sec, frac = m.groups()
    t = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(sec)))
    if frac:
        t += int(frac) / (10 ** len(frac))
    return t


def read_events(net):
    """[(t, system, observer index, target index, kind, extra)] sorted by t."""
    idx_rc = {name: i for i, name in enumerate(net.name)}
    idx_sf = {"n%d" % i: i for i in range(net.n)}
    ev = []
    for i in range(net.n):
        path = os.path.join(net.work, "rc-n%d.log" % i)
        if os.path.exists(path):
            with open(path, "rb") as f:
                for raw in f:
                    if not raw.startswith(b"{") or b"\"peer_" not in raw:
                        continue
                    try:
                        o = json.loads(raw)
                    except ValueError:
                        continue
                    kind = RC_KINDS.get(o.get("msg"))
                    if kind is None:
                        continue
                    tgt = idx_rc.get(o.get("node"))
                    t = parse_ts(o.get("ts"))
                    if tgt is None or t is None:
                        continue
                    extra = {k: o[k] for k in ("reason", "confirmed_by", "evidence") if k in o}
                    ev.append((t, "rollcall", i, tgt, kind, extra))
        path = os.path.join(net.work, "serf-n%d.log" % i)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                for line in f:
                    m = SERF_RE.match(line)
                    if m is not None:
                        t, what, who = float(m.group(1)), m.group(2), m.group(3)
                        tgt = idx_sf.get(who)
                        if tgt is None or tgt == i:
                            continue
                        kind = {"EventMemberFailed": "down", "EventMemberJoin": "up",
                                "EventMemberLeave": "down", "EventMemberReap": "pruned"}[what]
                        ev.append((t, "serf", i, tgt, kind, {}))
                        continue
                    m = SERF_SUSPECT_RE.match(line)
                    if m is not None:
                        tgt = idx_sf.get(m.group(2))
                        if tgt is not None:
                            ev.append((float(m.group(1)), "serf", i, tgt, "suspect", {}))
    ev.sort(key=lambda e: e[0])
    return ev


def converged(net, systems, since):
    """True when, in every system, every agent has seen every other up since
    `since` and has not seen one go down after that."""
    ev = read_events(net)
    for system in systems:
        state = {}
        for t, s, o, tgt, kind, _ in ev:
            if s != system or t < since - TS_RES:
                continue
            if kind in ("up", "down"):
                state[(o, tgt)] = kind
        for o in range(net.n):
            for tgt in range(net.n):
                if o != tgt and state.get((o, tgt)) != "up":
                    return False
    return True


def wait_converged(net, systems, since, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if converged(net, systems, since):
            return True
        time.sleep(0.5)
    return False


def all_saw(net, system, target, kind, since):
    ev = read_events(net)
    seen = set()
    for t, s, o, tgt, k, _ in ev:
        if s == system and tgt == target and k == kind and t >= since - TS_RES and o != target:
            seen.add(o)
    return len(seen) == net.n - 1


# ------------------------------------------------------------------ analysis

def count_false(ev, system, windows, t0, t1, grace=2.0):
    """False downs and flaps of system in [t0, t1]. windows: [(target, start,
    end)] of real failures; a down of the target inside its window (+grace)
    is true, and so are the target's own downs of others inside it."""
    false_downs, flaps, suspects, refuted, pruned = 0, 0, 0, 0, 0
    pending = {}
    reasons = {}
    for t, s, o, tgt, kind, extra in ev:
        if s != system or t < t0 or t > t1:
            continue
        excused = False
        for (w, a, b) in windows:
            if a - TS_RES <= t <= b + grace and (tgt == w or o == w):
                excused = True
        if kind == "suspect" and not excused:
            suspects += 1
        elif kind == "refuted" and not excused:
            refuted += 1
        elif kind == "pruned" and not excused:
            pruned += 1  # a live node's entry removed (Serf: reaped)
        elif kind == "down" and not excused:
            false_downs += 1
            pending[(o, tgt)] = True
            r = extra.get("reason", "?")
            reasons[r] = reasons.get(r, 0) + 1
        elif kind == "up" and pending.pop((o, tgt), False):
            flaps += 1
    return false_downs, flaps, suspects, refuted, pruned, reasons


def detection(ev, system, n, trials):
    """Per trial: (first observer s, all observers s or None, recovery s or None)."""
    out = []
    for (w, a, b) in trials:
        first = {}
        for t, s, o, tgt, kind, _ in ev:
            if s == system and tgt == w and o != w and kind == "down" and a - TS_RES <= t <= b + 1.0:
                first.setdefault(o, max(t - a, 0.0))
        rec = {}
        for t, s, o, tgt, kind, _ in ev:
            if s == system and tgt == w and o != w and kind == "up" and b - TS_RES <= t <= b + 60:
                rec.setdefault(o, max(t - b, 0.0))
        d_first = min(first.values()) if first else None
        d_all = max(first.values()) if len(first) == n - 1 else None
        r_all = max(rec.values()) if len(rec) == n - 1 else None
        out.append((d_first, d_all, r_all, len(first)))
    return out


def fmt_s(v):
    if v is None:
        return "-"
    if v < 1.0:
        return "%.0f ms" % (v * 1000)
    return "%.2f s" % v


def med_max(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    return "%s / %s" % (fmt_s(statistics.median(vals)), fmt_s(max(vals)))


# ------------------------------------------------------------------ scenarios

def run_scenario(args, name, rollcall, serf, delayer):
    kind, desc = SCENARIOS[name]
    period = args.starve_period
    desc = desc.format(period="%g s" % (period / 1000) if period >= 1000 else "%g ms" % period)
    systems = ["rollcall"] + (["serf"] if serf is not None else [])
    work = tempfile.mkdtemp(prefix="rcnet-%s-" % name, dir=args.workdir)
    net = Net(args.nodes, work, rollcall, serf, delayer)
    CURRENT.append(net)
    result = {"scenario": name, "description": desc, "nodes": args.nodes, "workdir": work,
              "systems": {}}
    try:
        net.up()
        net.start_all()
        t_start = time.time()
        if not wait_converged(net, systems, 0, 60):
            raise HarnessError("%s: the agents did not converge within 60 s (logs in %s)"
                               % (name, work))
        time.sleep(2)
        t0 = time.time()
        windows, trials = [], []
        target = 1 % args.nodes
        if kind == "gray":
            if name == "loss5":
                for i in range(args.nodes):
                    net.loss(i, 50, out=True, inn=False)
            elif name == "loss20one":
                net.loss(target, 200)
            elif name == "oneway":
                net.cut_oneway(1, 2 % args.nodes)
            elif name == "delay100":
                net.delay(100, 50)
            elif name == "delay250":
                net.delay(250, 50)
            elif name == "starve":
                period_us = int(args.starve_period * 1000)
                net.starve(target, quota_us=period_us // 20, period_us=period_us)
            time.sleep(args.duration)
            t1 = time.time()
            for p in net.others:
                if name.startswith("delay") and p.poll() is not None:
                    raise HarnessError("a delayer died during the run (logs in %s)" % work)
            if name in ("loss5", "loss20one", "oneway"):
                for i in range(args.nodes):
                    net.unloss(i)
            elif name.startswith("delay"):
                net.undelay()
            elif name == "starve":
                net.unstarve()
        else:
            for k in range(args.trials):
                w = 1 + k % (args.nodes - 1)
                ta = time.time()
                if name == "kill9":
                    net.kill9(w)
                elif name == "linkdown":
                    net.link(w, False)
                elif name == "sigstop":
                    net.signal_agents(w, signal.SIGSTOP)
                # Hold: until every observer of every system saw it (cap),
                # and at least --cut for a link cut (the recovery figure).
                hold_min = args.cut if name == "linkdown" else 0.5
                cap = max(hold_min, args.hold_cap)
                while time.time() - ta < cap:
                    if time.time() - ta >= hold_min and all(
                            all_saw(net, s, w, "down", ta) for s in systems):
                        break
                    time.sleep(0.2)
                tb = time.time()
                if name == "kill9":
                    net.restart(w)
                elif name == "linkdown":
                    net.link(w, True)
                elif name == "sigstop":
                    net.signal_agents(w, signal.SIGCONT)
                windows.append((w, ta, tb))
                trials.append((w, ta, tb))
                deadline = time.time() + 60
                while time.time() < deadline:
                    if all(all_saw(net, s, w, "up", tb) for s in systems):
                        break
                    time.sleep(0.2)
                time.sleep(args.settle)
            t1 = time.time()
        time.sleep(1.0)
        ev = read_events(net)
        for s in systems:
            fd, fl, su, rf, pr, reasons = count_false(ev, s, windows, t0, t1)
            r = {"false_downs": fd, "flaps": fl, "suspects": su, "refuted": rf, "false_prunes": pr,
                 "reasons": reasons, "seconds": round(t1 - t0, 1)}
            if trials:
                det = detection(ev, s, args.nodes, trials)
                r["trials"] = [{"target": tr[0], "first_s": d[0], "all_s": d[1],
                                "recovery_all_s": d[2], "observers": d[3]}
                               for tr, d in zip(trials, det)]
                r["detected_all"] = sum(1 for d in det if d[1] is not None)
                r["detected_first"] = sum(1 for d in det if d[0] is not None)
            result["systems"][s] = r
        _ = t_start
    finally:
        net.down()
        if net in CURRENT:
            CURRENT.remove(net)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


def print_table(args, res, argv):
    print()
    print("### %s: %s (N = %d, %s s)" % (res["scenario"], res["description"], res["nodes"],
                                         next(iter(res["systems"].values()))["seconds"]))
    print()
    print("    %s" % " ".join(argv))
    print()
    trial = "trials" in next(iter(res["systems"].values()))
    if trial:
        print("| system | detected by all / trials | first observer median / max "
              "| all observers median / max | recovery (all) median / max | false downs |")
        print("|---|---|---|---|---|---|")
    else:
        print("| system | false downs | flaps | suspects | refuted | false prunes "
              "| reasons of false downs |")
        print("|---|---|---|---|---|---|---|")
    for s, r in res["systems"].items():
        if trial:
            tr = r["trials"]
            print("| %s | %d / %d | %s | %s | %s | %d |" % (
                s, r["detected_all"], len(tr), med_max([x["first_s"] for x in tr]),
                med_max([x["all_s"] for x in tr]), med_max([x["recovery_all_s"] for x in tr]),
                r["false_downs"]))
        else:
            reasons = ", ".join("%s %d" % kv for kv in sorted(r["reasons"].items())) or "-"
            print("| %s | %d | %d | %d | %d | %d | %s |" % (
                s, r["false_downs"], r["flaps"], r["suspects"], r["refuted"], r["false_prunes"],
                reasons))
    sys.stdout.flush()


CURRENT = []


def cleanup_all(*_):
    for net in list(CURRENT):
        try:
            net.down()
        except Exception as e:  # keep cleaning the rest
            print("cleanup: %s" % e, file=sys.stderr)
    CURRENT.clear()


def on_signal(sig, frame):
    cleanup_all()
    sys.exit(130)


def preflight(args, need_delay, need_starve):
    if os.geteuid() != 0:
        raise HarnessError("needs root (network namespaces, nftables, cgroups)")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            raise HarnessError("%s is not installed (Debian: iproute2 / nftables)" % tool)
    if need_delay:
        if shutil.which("iptables-nft") is None:
            raise HarnessError("iptables-nft is not installed (Debian: iptables): the delay "
                               "scenarios steer packets to NFQUEUE with it")
        if args.delayer is None or not os.access(args.delayer, os.X_OK):
            raise HarnessError("no delayer binary (built by CMake as rcnet_delayer when "
                               "libnetfilter-queue-dev is installed); give --delayer")
    if need_starve and not (os.path.isdir("/sys/fs/cgroup/cpu")
                            or os.path.isfile("/sys/fs/cgroup/cgroup.controllers")):
        raise HarnessError("no cgroup cpu controller for the starvation scenario")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rollcall", required=True)
    ap.add_argument("--serf", help="Serf binary (default: tests/net/serf.sh builds/finds it)")
    ap.add_argument("--no-serf", action="store_true", help="run rollcall only (CI)")
    ap.add_argument("--delayer", help="delayer binary (default: rcnet_delayer beside rollcall)")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--duration", type=float, default=180, help="seconds per gray scenario")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--cut", type=float, default=30, help="seconds a link stays down")
    ap.add_argument("--hold-cap", type=float, default=20,
                    help="at most this long a killed/stopped node stays so")
    ap.add_argument("--settle", type=float, default=2)
    ap.add_argument("--starve-period", type=float, default=1000,
                    help="starve: the cgroup's period in ms (the quota is 5 %% of it)")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--keep", action="store_true", help="keep the logs")
    args = ap.parse_args(argv)
    names = args.scenario or DEFAULT_ORDER
    args.rollcall = os.path.abspath(args.rollcall)
    if args.delayer is None:
        cand = os.path.join(os.path.dirname(args.rollcall), "rcnet_delayer")
        args.delayer = cand if os.path.exists(cand) else None
    cmd = ["tests/net/rcnet.py"] + (argv if argv is not None else sys.argv[1:])
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    results = []
    try:
        preflight(args, any(n.startswith("delay") for n in names), "starve" in names)
        serf = None
        if not args.no_serf:
            serf = args.serf
            if serf is None:
                here = os.path.dirname(os.path.abspath(__file__))
                r = run(os.path.join(here, "serf.sh"))
                serf = r.stdout.strip()
        for name in names:
            res = run_scenario(args, name, args.rollcall, serf, args.delayer)
            results.append(res)
            print_table(args, res, cmd)
    except HarnessError as e:
        print("rcnet: cannot run: %s" % e, file=sys.stderr)
        return 2
    finally:
        cleanup_all()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
