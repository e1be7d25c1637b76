#!/usr/bin/env python3
"""rollcall benchmarks (issue 4): one command, every scenario, on loopback.

    python3 tests/bench/bench.py [--rollcall PATH] [--peerd PATH] [--peerd-procs K]
                                 [--out DIR] [--smoke] [--only s1,s2,...] [--keep]

Scenarios (docs/BENCHMARKS.md says what each one measures and how):
  s1  sweep time against N peers, all alive (rollcall and the BEAM baseline)
  s2  sweep time with k frozen peers (kill -STOP) of 100
  s3  detection latency: kill -9 and kill -STOP, 20 trials each
  s4  convergence: start of a new agent -> every other agent logs it alive
  s5  cost: RSS and CPU over 60 s watching N peers (rollcall and the BEAM
      baseline, side by side); start-up to first published entry / first
      sweep line
  s6  registry cost per backend (file, Redis, PostgreSQL, S3) with 10, 100
      and 1000 entries

Peers: s1 and s5 ping multiplexed peers, N rc_nodes served by a few
rollcall-bench-peerd processes (tests/bench/peerd.c, built next to rollcall;
--peerd-procs, default 4), so that a 500-peer sweep measures the agent and
not the scheduler waking 500 processes; s1 adds one comparison row against
500 peer processes. s2 freezes single peers, so its peers are separate
`rollcall run` processes.

Every table is printed (with the command lines that produced it above it)
and written as CSV into --out (default: bench-results/ next to the binary).
--smoke: N = 10, one trial, short windows, file backend only: a CI check that
the bench still works (it fails when a scenario breaks or yields no rows,
never because a number is slow).

Python 3 standard library only. Every process started here is ended by its
pid (SIGCONT, SIGTERM, then SIGKILL), never by name.
"""

import argparse
import csv
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BASELINE = os.path.join(HERE, "baseline.escript")
SERVERS = os.path.join(ROOT, "tests", "integration", "servers")

ROLLCALL = None
PEERD = None
ARGS = None
TMP = None
COOKIE = "ROLLCALLBENCHCOOKIE"
EPMD_PORT = None
PROCS = []  # every Popen we started, ended in cleanup()
SERVER_DIRS = []  # (script, dir) to --cleanup
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FAILED = []


# ------------------------------------------------------------------ basics

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ip_of(block, i):
    """127.0.<block + i // 250>.<2 + i % 250>: distinct loopback addresses."""
    return "127.0.%d.%d" % (block + i // 250, 2 + i % 250)


def env(extra=None):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("ROLLCALL_") and k not in ("ERL_EPMD_PORT", "ERL_FLAGS", "ERL_AFLAGS",
                                                         "ERL_ZFLAGS")}
    e["HOME"] = os.path.join(TMP, "home")
    e["LC_ALL"] = "C.UTF-8"
    e["ROLLCALL_COOKIE"] = COOKIE
    if extra:
        e.update(extra)
    return e


def popen(argv, log, extra_env=None, stdin=subprocess.DEVNULL, stdout=None):
    f = open(log, "wb")
    p = subprocess.Popen(argv, env=env(extra_env), stdin=stdin,
                         stdout=stdout if stdout is not None else f, stderr=f,
                         start_new_session=True)
    p._bench_log = log
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=3):
    if p.poll() is not None:
        return
    try:
        os.kill(p.pid, signal.SIGCONT)
        os.kill(p.pid, sig)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def cleanup():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    for p in reversed(PROCS):
        try:
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for script, d in SERVER_DIRS:
        subprocess.run([os.path.join(SERVERS, script), "--cleanup", d],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if TMP and not ARGS.keep:
        shutil.rmtree(TMP, ignore_errors=True)
    elif TMP:
        print("kept %s" % TMP)


def wait_until(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")


def parse_ts(s):
    import calendar
    m = _TS.match(s or "")
    if not m:
        return None
    y, mo, d, h, mi, sec, frac = m.groups()
    t = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(sec)))
    return t + (int(frac) / 10 ** len(frac) if frac else 0.0)


def quantiles(xs):
    xs = sorted(xs)
    if not xs:
        return None, None, None
    n = len(xs)
    med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    p90 = xs[min(n - 1, max(0, -(-9 * n // 10) - 1))]  # nearest rank
    return med, p90, xs[-1]


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(l if len(l) < 400 else l[:400] + "[...]\n" for l in f.readlines()[-n:])
    except OSError as e:
        return str(e)


# ------------------------------------------------------------------ rollcall agents

_help_text = None


def rollcall_has_option(opt):
    """Whether the rollcall under test knows a command-line option (the
    benchmark also runs builds from before an option existed)."""
    global _help_text
    if _help_text is None:
        r = subprocess.run([ROLLCALL, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        _help_text = r.stdout
    return opt in _help_text


class Agent:
    """A `rollcall run` with a json log we read as it grows."""

    def __init__(self, name, registry, interval="1s", ping_timeout="500ms", epmd="off",
                 log_format="json", log_level="debug", extra=()):
        self.name = name
        self.registry = registry
        self.argv = [ROLLCALL, "run", "--name", name, "--registry", registry,
                     "--interval", interval, "--ping-timeout", ping_timeout,
                     "--stale-after", "1h", "--prune-after", "1h",
                     "--epmd", epmd, "--epmd-port", str(EPMD_PORT),
                     "--log-format", log_format, "--log-level", log_level] + list(extra)
        self.log = os.path.join(TMP, "logs", "%s.log" % name.replace("@", "_"))
        self._off = 0
        self._buf = b""
        self.ev = []
        self.p = None
        self.t_start = None

    def start(self):
        self._off, self._buf, self.ev = 0, b"", []
        self.t_start = time.time()
        self.p = popen(self.argv, self.log)
        return self

    def cmdline(self):
        return " ".join(shlex.quote(a) for a in self.argv)

    def poll(self):
        """New json events since the last call (all kept in self.ev)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._off)
                data = f.read()
        except OSError:
            return []
        self._off += len(data)
        data = self._buf + data
        cut = data.rfind(b"\n") + 1
        self._buf = data[cut:]
        new = []
        for line in data[:cut].splitlines():
            if line.startswith(b"{"):
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                o["_t"] = parse_ts(o.get("ts"))
                new.append(o)
        self.ev.extend(new)
        return new

    def find(self, since=None, **match):
        self.poll()
        return [e for e in self.ev
                if (since is None or (e["_t"] is not None and e["_t"] >= since))
                and all(e.get(k) == v for k, v in match.items())]

    def wait(self, timeout, since=None, **match):
        r = wait_until(lambda: self.find(since, **match), timeout, 0.005)
        return r[0] if r else None

    def sweeps_done(self):
        return self.find(msg="sweep_done")

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.p:
            stop(self.p, sig)

    def fail(self, what):
        raise RuntimeError("%s: %s\n--- %s:\n%s" % (self.name, what, self.log, tail(self.log)))


class PeerPool:
    """Peers as separate processes (s2, which freezes single peers with
    SIGSTOP, and s1's comparison row): `rollcall run` agents q000@127.0.40.2
    ... with a 60 s interval and a registry dir of their own (so they never
    ping each other), registered with the bench's EPMD so the BEAM baseline
    can find them. They only answer pings. Grown and shrunk on demand: 100
    idle agents cost ~0.2 GiB. Their alive names (qNNN) differ from peerd's
    (pNNN): EPMD keys registrations by alive name alone."""

    def __init__(self):
        self.peers = []  # (name, entry text, Agent)

    def grow(self, n):
        start = len(self.peers)
        if n <= start:
            return
        t0 = time.monotonic()
        pending = []
        for i in range(start, n):
            name = "q%03d@%s" % (i, ip_of(40, i))
            d = os.path.join(TMP, "peers", "q%03d" % i)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            a = Agent(name, "file://" + d, interval="60s", epmd="system", log_level="info")
            a.start()
            pending.append((name, d, a))
        for name, d, a in pending:
            path = os.path.join(d, name)
            if not wait_until(lambda: os.path.exists(path) and a.alive(), 30, 0.02):
                a.fail("peer did not publish its entry")
            with open(path) as f:
                text = f.read()
            self.peers.append((name, text, a))
        # every peer registered with EPMD (the baseline looks them up there)
        if not wait_until(lambda: all("system: registered" in tail(a.log, 5)
                                      for _, _, a in self.peers[start:]), 30, 0.05):
            raise RuntimeError("peers did not all register with EPMD")
        print("peer processes: %d -> %d in %.1f s" % (start, n, time.monotonic() - t0), flush=True)

    def shrink(self, n):
        """Stops every peer process past the first n (SIGTERM to all, then wait)."""
        gone = self.peers[n:]
        if not gone:
            return
        del self.peers[n:]
        for _, _, a in gone:
            try:
                os.kill(a.p.pid, signal.SIGCONT)
                os.kill(a.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for _, _, a in gone:
            a.stop()  # waits; SIGKILL after 3 s
            PROCS.remove(a.p)

    def registry(self, n, tag):
        """A fresh file registry dir holding the entries of the first n peers."""
        return copy_entries(self.peers[:n], tag)

    def describe(self, n):
        """The command line of the first n peers, for the tables."""
        first, last = self.peers[0], self.peers[n - 1]
        return "%d x (%s ... %s): %s" % (n, first[0], last[0], first[2].cmdline().replace(
            first[0], "qNNN@IP").replace(os.path.join(TMP, "peers", "q000"), "DIR"))

    def names(self, n):
        return [p[0] for p in self.peers[:n]]

    def procs(self, idx):
        return [self.peers[i][2] for i in idx]


def copy_entries(peers, tag):
    d = os.path.join(TMP, "reg", tag)
    os.makedirs(d)
    for name, text, _ in peers:
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


class MuxPool:
    """Multiplexed peers (s1, s5): ARGS.peerd_procs (default 4)
    `rollcall-bench-peerd` processes (tests/bench/peerd.c) serving n rc_nodes
    p000@127.0.0.2 ... (ip_of(0, i)) between them, one event loop each,
    registered with the bench's EPMD. On a 2-core box 500 peer processes make
    a 500-ping sweep measure the scheduler; a few processes answering them all
    leave the agent measured. (One process is slower: it answers 500 pings
    in series on one core, ~5 ms more per sweep at N = 500; 2 and 4 were
    alike, 4 had the lower p90.)
    peerd writes each node's entry (the agent's own file-backend format) into
    one dir; registry() copies the first n. The entries are not refreshed:
    the file backend ages an entry by the copy's mtime, and answering peers
    are never pruned, so their age does not matter."""

    def __init__(self):
        self.peers = []  # (name, entry text, None)
        self.procs = []  # Popen
        self.argvs = []

    def start(self, n):
        if self.procs:
            return
        t0 = time.monotonic()
        out = os.path.join(TMP, "peerd-entries")
        shutil.rmtree(out, ignore_errors=True)
        k = max(1, min(ARGS.peerd_procs, n))
        waits = []
        for j in range(k):
            lo, hi = n * j // k, n * (j + 1) // k
            argv = [PEERD, "--count", str(hi - lo), "--first-index", str(lo), "--out", out,
                    "--epmd-port", str(EPMD_PORT)]
            log = os.path.join(TMP, "logs", "peerd%d" % j)
            so = open(log + ".out", "wb")
            p = popen(argv, log + ".err", stdout=so)
            self.procs.append(p)
            self.argvs.append(argv)
            waits.append((p, log, hi - lo))

        def ready():
            for p, log, c in waits:
                if p.poll() is not None:
                    raise RuntimeError("peerd exited (%s):\n%s" % (p.returncode, tail(log + ".err")))
                if "ready %d" % c not in tail(log + ".out", 5):
                    return False
            return True
        if not wait_until(ready, 30, 0.02):
            raise RuntimeError("peerd not ready within 30 s:\n%s" % tail(waits[0][1] + ".err"))
        self.peers = []
        for i in range(n):
            name = "p%03d@%s" % (i, ip_of(0, i))
            with open(os.path.join(out, name)) as f:
                self.peers.append((name, f.read(), None))
        print("peerd: %d peers in %d process%s up in %.1f s" % (
            n, k, "" if k == 1 else "es", time.monotonic() - t0), flush=True)

    def stop(self):
        for p in self.procs:
            stop(p)
            PROCS.remove(p)
        self.procs, self.peers, self.argvs = [], [], []

    def cmdline(self):
        """One line for the tables: the first process's argv, and the others' first indexes."""
        line = " ".join(shlex.quote(a) for a in self.argvs[0])
        if len(self.argvs) > 1:
            line = "%d processes, first: %s; the others: --first-index %s" % (
                len(self.argvs), line, ",".join(argv[argv.index("--first-index") + 1] for argv in self.argvs[1:]))
        return line

    def registry(self, n, tag):
        return copy_entries(self.peers[:n], tag)

    def names(self, n):
        return [p[0] for p in self.peers[:n]]


class Pools:
    def __init__(self):
        self.procs = PeerPool()
        self.mux = MuxPool()


class Baseline:
    """The BEAM node running tests/bench/baseline.escript over a registry dir."""

    def __init__(self, name, regdir, sweeps, interval_ms=1000):
        self.name = name
        self.argv = ["escript", BASELINE, regdir, str(interval_ms), str(sweeps)]
        self.erl_flags = "-name %s -setcookie %s -hidden -start_epmd false" % (name, COOKIE)
        self.out = os.path.join(TMP, "logs", "%s.out" % name.replace("@", "_"))
        self.p = None

    def cmdline(self):
        return "ERL_FLAGS=%s ERL_EPMD_PORT=%d %s" % (
            shlex.quote(self.erl_flags), EPMD_PORT, " ".join(shlex.quote(a) for a in self.argv))

    def start(self):
        self._outf = open(self.out, "wb")
        self.p = popen(self.argv, self.out + ".err",
                       {"ERL_FLAGS": self.erl_flags, "ERL_EPMD_PORT": str(EPMD_PORT)},
                       stdin=subprocess.PIPE, stdout=self._outf)
        if not wait_until(lambda: "READY" in tail(self.out, 200) or self.p.poll() is not None, 30):
            raise RuntimeError("baseline %s did not start:\n%s" % (self.name, tail(self.out + ".err")))
        if self.p.poll() is not None:
            raise RuntimeError("baseline %s exited:\n%s" % (self.name, tail(self.out + ".err")))
        return self

    def sweeps(self):
        """[(wall s, duration s, names, pongs)]"""
        out = []
        try:
            with open(self.out) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 5 and parts[0] == "SWEEP":
                        out.append((int(parts[1]) / 1000.0, int(parts[2]) / 1e6, int(parts[3]),
                                    int(parts[4])))
        except OSError:
            pass
        return out

    def wait_sweeps(self, n, timeout):
        if not wait_until(lambda: len(self.sweeps()) >= n or self.p.poll() is not None, timeout, 0.05):
            raise RuntimeError("baseline %s: fewer than %d sweeps within %ss" % (self.name, n, timeout))
        s = self.sweeps()
        if len(s) < n:
            raise RuntimeError("baseline %s ended after %d sweeps:\n%s" % (
                self.name, len(s), tail(self.out + ".err")))
        return s

    def stop(self):
        if self.p and self.p.poll() is None:
            try:
                self.p.stdin.close()  # EOF: the node halts
                self.p.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                stop(self.p)


# ------------------------------------------------------------------ tables

class Table:
    def __init__(self, key, title, commands):
        self.key = key
        self.title = title
        self.commands = commands
        self.rows = []

    def add(self, what, samples, unit, note=""):
        med, p90, mx = quantiles(samples)
        self.rows.append((what, len(samples), med, p90, mx, unit, note))

    def emit(self):
        out = ["", "=" * 100, "%s  %s" % (self.key, self.title)]
        out.append("$ " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
        for c in self.commands:
            out.append("  " + c)
        out.append("%-52s %4s %10s %10s %10s  %-6s %s" % ("", "n", "median", "p90", "max", "unit", ""))
        for what, n, med, p90, mx, unit, note in self.rows:
            f = lambda v: "-" if v is None else ("%.3f" % v if abs(v) < 10 else "%.1f" % v)
            out.append("%-52s %4d %10s %10s %10s  %-6s %s" % (what, n, f(med), f(p90), f(mx), unit, note))
        text = "\n".join(out)
        print(text, flush=True)
        path = os.path.join(ARGS.out, "%s.csv" % self.key)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["scenario", "what", "n", "median", "p90", "max", "unit", "note"])
            for r in self.rows:
                w.writerow([self.key] + [("%.4f" % v) if isinstance(v, float) else v for v in r])
        with open(os.path.join(ARGS.out, "tables.txt"), "a") as f:
            f.write(text + "\n")
        if not self.rows or any(r[1] == 0 for r in self.rows):
            raise RuntimeError("%s: empty table or row without samples" % self.key)


# ------------------------------------------------------------------ scenarios

def measured_sweeps(agent, want, warmup, timeout):
    """duration_ms of `want` sweep_done lines after the first `warmup`."""
    if not wait_until(lambda: len(agent.sweeps_done()) >= warmup + want or not agent.alive(),
                      timeout, 0.05):
        agent.fail("fewer than %d sweeps within %ss" % (warmup + want, timeout))
    if not agent.alive():
        agent.fail("exited")
    s = agent.sweeps_done()
    return s[:warmup], s[warmup:warmup + want]


def s1(pools):
    """Sweep time against N peers, all alive: multiplexed peers (peerd), then
    one comparison row against as many peer processes."""
    trials, warm = ARGS.trials, 2
    rows = []
    cmds = []
    pool = pools.mux
    pool.start(max(ARGS.ns))
    for n in ARGS.ns:
        reg = pool.registry(n, "s1-%d" % n)
        a = Agent("m1n%d@127.0.200.1" % n, "file://" + reg).start()
        first, sw = measured_sweeps(a, trials, warm, trials + warm + 20)
        a.stop()
        bad = [s for s in sw if s.get("alive") != n or s.get("peers") != n]
        if bad:
            a.fail("sweeps with peers down: %s" % bad[:2])
        b = Baseline("b1n%d@127.0.0.1" % n, reg, trials + warm).start()
        bs = b.wait_sweeps(trials + warm, 30 + (trials + warm) * (1 + n / 100.0))
        b.stop()
        if any(x[3] != n for x in bs):
            raise RuntimeError("baseline: not every peer answered: %s" % bs)
        rows.append(("rollcall N=%d" % n, [s["duration_ms"] for s in sw], ""))
        rows.append(("baseline N=%d" % n, [x[1] * 1000 for x in bs[warm:]], ""))
        rows.append(("rollcall N=%d first sweep (connecting)" % n, [first[0]["duration_ms"]], ""))
        rows.append(("baseline N=%d first sweep (connecting)" % n, [bs[0][1] * 1000], ""))
        if not cmds:
            cmds = ["peers: " + pool.cmdline(),
                    a.cmdline().replace("m1n%d" % n, "m1n$N"), b.cmdline().replace("b1n%d" % n, "b1n$N")]
    nprocs = len(pool.procs)
    # Stop peerd first: EPMD (select(), at most 1024 descriptors) then holds
    # only the peer processes' registrations.
    pool.stop()

    # The comparison row: the same sweep against n peer *processes* (the
    # set-up before peerd), which on a 2-core box mostly measures the
    # scheduler waking n processes.
    n = max(ARGS.ns)
    pools.procs.grow(n)
    reg = pools.procs.registry(n, "s1-procs-%d" % n)
    a = Agent("m1p%d@127.0.200.3" % n, "file://" + reg).start()
    first, sw = measured_sweeps(a, trials, warm, trials + warm + 20)
    a.stop()
    if any(s.get("alive") != n or s.get("peers") != n for s in sw):
        a.fail("sweeps with peer processes down: %s" % sw[:2])
    rows.append(("rollcall N=%d (%d peer processes)" % (n, n), [s["duration_ms"] for s in sw],
                 "first sweep (connecting) %.1f ms" % first[0]["duration_ms"]))
    cmds.append("comparison row, peers = " + pools.procs.describe(n))
    cmds.append(a.cmdline().replace("m1p%d" % n, "m1p$N"))
    pools.procs.shrink(ARGS.s2_n if "s2" in ARGS.run else 0)

    t = Table("s1_sweep", "sweep time, N peers all alive (%d sweeps after %d warm-up; N = %s); peers: %d "
              "rc_nodes in %d peerd process%s, unless the row says otherwise" % (
                  trials, warm, ",".join(map(str, ARGS.ns)), max(ARGS.ns), nprocs,
                  "" if nprocs == 1 else "es"), cmds)
    for what, xs, note in rows:
        t.add(what, xs, "ms", note)
    for n in ARGS.ns:
        r = [x for x in t.rows if x[0] == "rollcall N=%d" % n][0]
        b = [x for x in t.rows if x[0] == "baseline N=%d" % n][0]
        t.rows.append(("baseline/rollcall median ratio N=%d" % n, 1, b[2] / r[2], None, None, "x", ""))
    t.emit()


def s2(pools):
    """Sweep time with k frozen peers of n: peer processes, each frozen on its own."""
    n = ARGS.s2_n
    pool = pools.procs
    pool.grow(n)
    reg = pool.registry(n, "s2")
    a = Agent("m2@127.0.200.2", "file://" + reg).start()
    measured_sweeps(a, 1, 2, 30)
    t = Table("s2_frozen", "sweep time with k of %d peers frozen (kill -STOP); ping_timeout 500 ms" % n,
              [a.cmdline()])
    base_cmd = None
    for k in ARGS.ks:
        idx = list(range(n - k, n))
        frozen = pool.procs(idx)
        for fa in frozen:
            os.kill(fa.p.pid, signal.SIGSTOP)
        t0 = time.time()
        b = None
        if not ARGS.smoke:
            b = Baseline("b2k%d@127.0.0.1" % k, reg, 1).start()
            base_cmd = b.cmdline()
        # rollcall: sweeps after the frozen ones are confirmed down (a missed
        # ping makes a peer suspect first, still alive in the sweep line:
        # docs/detection.md), so each measured sweep has k frozen peers
        before = len(a.sweeps_done())

        def confirmed():
            done = a.sweeps_done()[before:]
            return next((before + i for i, s in enumerate(done) if s.get("alive") == n - k), None)

        if not wait_until(lambda: confirmed() is not None, 30, 0.05):
            a.fail("the %d frozen peers were never confirmed down" % k)
        first = confirmed()
        if not wait_until(lambda: len(a.sweeps_done()) >= first + 1 + ARGS.trials, ARGS.trials + 15, 0.05):
            a.fail("no sweeps with %d frozen" % k)
        sw = a.sweeps_done()[first + 1: first + 1 + ARGS.trials]
        if any(s.get("alive") != n - k for s in sw):
            a.fail("expected %d alive with %d frozen: %s" % (n - k, k, sw))
        t.add("rollcall k=%d" % k, [s["duration_ms"] for s in sw], "ms")
        if b:
            bs = b.wait_sweeps(1, 30 + 8 * k)
            b.stop()
            t.add("baseline k=%d (one sweep, fresh node)" % k, [bs[0][1] * 1000], "ms",
                  "%d/%d pong" % (bs[0][3], bs[0][2]))
        for fa in frozen:
            os.kill(fa.p.pid, signal.SIGCONT)
        before = len(a.sweeps_done())
        if not wait_until(lambda: any(s.get("alive") == n for s in a.sweeps_done()[before:]), 15, 0.05):
            a.fail("peers did not come back after SIGCONT")
    if base_cmd:
        t.commands.append(base_cmd.replace("b2k%d" % ARGS.ks[-1], "b2k$K"))
    t.commands.insert(0, "peers = " + pool.describe(n))
    for k in ARGS.ks:
        r = [x for x in t.rows if x[0] == "rollcall k=%d" % k]
        b = [x for x in t.rows if x[0].startswith("baseline k=%d " % k)]
        if r and b:
            t.rows.append(("baseline/rollcall median ratio k=%d" % k, 1, b[0][2] / r[0][2], None, None, "x", ""))
    a.stop()
    pool.shrink(0)  # no later scenario needs peer processes
    t.emit()


def cluster(m, tag, block):
    reg = os.path.join(TMP, "reg", tag)
    os.makedirs(reg)
    agents = [Agent("c%02d@%s" % (i, ip_of(block, i)), "file://" + reg, log_level="info").start()
              for i in range(m)]
    names = [x.name for x in agents]

    def all_up():
        for x in agents:
            ups = {e["node"] for e in x.find(msg="peer_up")}
            if not all(nm in ups for nm in names if nm != x.name):
                return False
        return True

    if not wait_until(all_up, 20, 0.05):
        agents[0].fail("cluster did not converge")
    return reg, agents


def wait_all(agents, msg, node, since, timeout):
    """max over agents of the ts of their first `msg` about node since `since`."""
    def check():
        ts = []
        for x in agents:
            e = x.find(since - 0.002, msg=msg, node=node)
            if not e:
                return None
            ts.append(e[0]["_t"])
        return ts
    r = wait_until(check, timeout, 0.005)
    if r is None:
        raise RuntimeError("not every agent logged %s %s within %ss: %s" % (
            msg, node, timeout, [x.name for x in agents if not x.find(since - 0.002, msg=msg, node=node)]))
    return r


def s3_s4(pools):
    """Detection latency (kill -9, kill -STOP) and convergence."""
    m = ARGS.cluster
    reg, agents = cluster(m, "s3", 10)
    t3 = Table("s3_detect", "detection latency in a %d-agent cluster (interval 1s, ping_timeout 500ms): "
               "signal -> the last of the others logs peer_down" % m, [agents[0].cmdline()])
    t4 = Table("s4_converge", "convergence in a %d-agent cluster: start -> every other agent logs peer_up" % m,
               [agents[0].cmdline()])
    kill, stopl, rejoin, reasons = [], [], [], {}
    for trial in range(ARGS.detect_trials):
        v = agents[trial % m]
        others = [x for x in agents if x is not v]
        # kill -9, then the same name comes back
        t0 = time.time()
        os.kill(v.p.pid, signal.SIGKILL)
        v.p.wait()
        ts = wait_all(others, "peer_down", v.name, t0, 10)
        kill.append((max(ts) - t0) * 1000)
        for x in others:
            e = x.find(t0 - 0.002, msg="peer_down", node=v.name)[0]
            reasons[e.get("reason")] = reasons.get(e.get("reason"), 0) + 1
        t1 = time.time()
        v.start()
        ts = wait_all(others, "peer_up", v.name, t1, 15)
        rejoin.append((max(ts) - t1) * 1000)
        if not wait_until(lambda: {e["node"] for e in v.find(msg="peer_up")} >=
                          {x.name for x in others}, 10, 0.02):
            v.fail("restarted agent does not see the others")
        # kill -STOP, then CONT
        v2 = agents[(trial + 1) % m]
        others2 = [x for x in agents if x is not v2]
        time.sleep(0.05 + (trial % 10) * 0.1)  # spread the freeze over the sweep cycle
        t0 = time.time()
        os.kill(v2.p.pid, signal.SIGSTOP)
        ts = wait_all(others2, "peer_down", v2.name, t0, 10)
        stopl.append((max(ts) - t0) * 1000)
        t1 = time.time()
        os.kill(v2.p.pid, signal.SIGCONT)
        wait_all(others2, "peer_up", v2.name, t1, 15)
    t3.add("kill -9 -> all others log peer_down", kill, "ms",
           "reasons: %s" % ",".join("%s=%d" % kv for kv in sorted(reasons.items())))
    t3.add("kill -STOP -> all others log peer_down", stopl, "ms", "target <= interval + ping_timeout + one confirmation round (~2 s)")
    t3.emit()

    conv, own = [], []
    for trial in range(ARGS.conv_trials):
        nn = Agent("new%02d@%s" % (trial, ip_of(20, trial)), "file://" + reg, log_level="info")
        nn.start()
        ts = wait_all(agents, "peer_up", nn.name, nn.t_start, 15)
        conv.append((max(ts) - nn.t_start) * 1000)
        if not wait_until(lambda: {e["node"] for e in nn.find(msg="peer_up")} >=
                          {x.name for x in agents}, 10, 0.02):
            nn.fail("new agent does not see the cluster")
        own.append((max(e["_t"] for e in nn.find(msg="peer_up")) - nn.t_start) * 1000)
        t1 = time.time()
        nn.stop()
        wait_all(agents, "peer_down", nn.name, t1, 10)
    t4.add("new agent: start -> all others log peer_up", conv, "ms")
    t4.add("new agent: start -> it logs all others up", own, "ms")
    t4.add("kill -9'd agent restarted: start -> all others up", rejoin, "ms")
    for x in agents:
        x.stop()
    t4.emit()


def tree_pids(pid):
    """pid and its descendants (BEAM: beam.smp + erl_child_setup)."""
    out = [pid]
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                for c in f.read().split():
                    out += tree_pids(int(c))
    except OSError:
        pass
    return out


def proc_cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_mem_kib(pid):
    """(RSS, private = Private_Clean + Private_Dirty) in KiB."""
    rss = priv = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "Rss":
                rss = int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                priv += int(v.split()[0])
    return rss, priv


def proc_smaps_by_file(pid):
    """{mapping name: [Rss KiB, Private KiB, mappings]} from /proc/PID/smaps;
    anonymous mappings are "[anon]"."""
    out = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", parts[0]):
                name = parts[5] if len(parts) > 5 else "[anon]"
                cur = out.setdefault(os.path.basename(name) if name.startswith("/") else name, [0, 0, 0])
                cur[2] += 1
            elif parts[0] == "Rss:" and cur is not None:
                cur[0] += int(parts[1])
            elif parts[0] in ("Private_Clean:", "Private_Dirty:") and cur is not None:
                cur[1] += int(parts[1])
    return out


def s5(pools):
    """Cost over a window, rollcall and the baseline side by side; start-up.
    Peers: peerd (multiplexed)."""
    window, step = ARGS.window, ARGS.cpu_step
    measured = []
    pool = pools.mux
    pool.start(max(ARGS.ns))
    cmds = []
    for n in ARGS.ns:
        reg = pool.registry(n, "s5-%d" % n)
        a = Agent("m5n%d@127.0.200.%d" % (n, 10 + ARGS.ns.index(n)), "file://" + reg,
                  log_format="elixir", log_level="info").start()
        b = Baseline("b5n%d@127.0.0.1" % n, reg, 0).start()
        measured.append(("rollcall N=%d" % n, a.p.pid, a))
        measured.append(("baseline N=%d" % n, b.p.pid, b))
        if not cmds:
            cmds = ["peers: " + pool.cmdline(),
                    a.cmdline().replace("m5n%d" % n, "m5n$N"), b.cmdline().replace("b5n%d" % n, "b5n$N")]
    time.sleep(ARGS.warmup)
    for what, pid, obj in measured:
        if obj.p.poll() is not None:
            raise RuntimeError("%s exited before the window" % what)
    rss = {w: [] for w, _, _ in measured}
    priv = {w: [] for w, _, _ in measured}
    cpu = {w: [] for w, _, _ in measured}
    ticks0 = {w: sum(proc_cpu_ticks(p) for p in tree_pids(pid)) for w, pid, _ in measured}
    last = dict(ticks0)
    t_start = time.monotonic()
    t_last = t_start
    while time.monotonic() - t_start < window:
        time.sleep(1.0)
        now = time.monotonic()
        for w, pid, _ in measured:
            pids = tree_pids(pid)
            r = p = 0
            for x in pids:
                rr, pp = proc_mem_kib(x)
                r += rr
                p += pp
            rss[w].append(r / 1024.0)
            priv[w].append(p / 1024.0)
        if now - t_last >= step - 0.01 or now - t_start >= window:
            for w, pid, _ in measured:
                tk = sum(proc_cpu_ticks(p) for p in tree_pids(pid))
                cpu[w].append(100.0 * (tk - last[w]) / CLK / (now - t_last))
                last[w] = tk
            t_last = now
    elapsed = time.monotonic() - t_start
    smaps = proc_smaps_by_file(measured[-2][1])  # rollcall at the largest N, end of the window
    # the rollcall agents must have swept all along with everyone alive
    for w, pid, obj in measured:
        if isinstance(obj, Agent):
            lines = [l for l in open(obj.log, errors="replace") if "[info] %s[" % obj.name in l]
            n = int(w.split("=")[1])
            if len(lines) < window - 2:
                obj.fail("only %d sweep lines in the window" % len(lines))
            downs = sum(1 for l in lines[-window:] if ": false" in l)
            if downs:
                print("s5: %s: %d of the last %d sweep lines show a peer down" % (
                    w, downs, min(window, len(lines))), flush=True)
        obj.stop()
    t = Table("s5_cost", "cost of one node watching N peers at a 1 s interval, %.0f s window, side by side "
              "(RSS and private memory sampled every 1 s; CPU %% of one core per %.0f s step)" % (window, step),
              cmds)
    for w, _, _ in measured:
        t.add(w + " RSS", rss[w], "MiB")
        t.add(w + " private (Private_Clean+Dirty)", priv[w], "MiB")
        t.add(w + " CPU", cpu[w], "%")
        avg = 100.0 * (last[w] - ticks0[w]) / CLK / elapsed
        t.rows.append((w + " CPU, whole-window average", 1, avg, None, None, "%", ""))
    for n in ARGS.ns:
        for what in (" RSS", " private (Private_Clean+Dirty)", " CPU, whole-window average"):
            r = [x for x in t.rows if x[0] == "rollcall N=%d%s" % (n, what)][0]
            b = [x for x in t.rows if x[0] == "baseline N=%d%s" % (n, what)][0]
            if r[2]:
                t.rows.append(("baseline/rollcall ratio N=%d%s" % (n, what), 1, b[2] / r[2], None, None, "x",
                               "medians" if "average" not in what else ""))
    t.emit()

    t = Table("s5_smaps", "where the RSS of rollcall N=%d is: /proc/PID/smaps at the end of the window, by "
              "mapping (KiB; the n column counts mappings)" % ARGS.ns[-1], [measured[-2][0]])
    tot_r = sum(v[0] for v in smaps.values())
    tot_p = sum(v[1] for v in smaps.values())
    for f, (r, p, n) in sorted(smaps.items(), key=lambda kv: -kv[1][0]):
        if r >= 64 or f.startswith("["):
            t.rows.append((f[-52:], n, float(r), None, None, "KiB", "private %d KiB, shared %d KiB" % (p, r - p)))
    t.rows.append(("total", sum(v[2] for v in smaps.values()), float(tot_r), None, None, "KiB",
                   "private %d KiB, shared %d KiB" % (tot_p, tot_r - tot_p)))
    t.emit()

    # start-up: to the first published entry (its timestamp line, written at
    # publish time) and to the first sweep line, 10 live peers
    n = min(10, len(pool.peers))
    reg = pool.registry(n, "s5-start")
    ent, swp = [], []
    a = None
    for trial in range(ARGS.start_trials):
        a = Agent("m5s@127.0.200.20", "file://" + reg, log_level="info")
        a.start()
        path = os.path.join(reg, a.name)
        if not wait_until(lambda: os.path.exists(path), 10, 0.002):
            a.fail("no entry published")
        e = a.wait(10, msg="sweep")
        if not e:
            a.fail("no sweep line")
        with open(path) as f:
            t_pub = parse_ts(f.readline().strip())
        ent.append((t_pub - a.t_start) * 1000)
        swp.append((e["_t"] - a.t_start) * 1000)
        a.stop()
    t = Table("s5_startup", "start-up, file backend, %d live peers: process start -> first published entry "
              "(its timestamp) / first sweep line (its ts); ms resolution" % n, [a.cmdline()])
    t.add("start -> first published entry", ent, "ms")
    t.add("start -> first sweep line", swp, "ms", "target < 50 ms")
    pool.stop()
    t.emit()


def start_server(script):
    d = tempfile.mkdtemp(prefix="bench-%s-" % script.split("-")[1].split(".")[0], dir="/tmp")
    r = subprocess.run([os.path.join(SERVERS, script), d], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    SERVER_DIRS.append((script, d))
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (script, r.stderr[-1000:]))
    return r.stdout.strip().splitlines()[-1]


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def s6_entries(lo, hi, port):
    """Entries e<j>@127.0.3x.y for j in [lo, hi): (name, entry text without
    its first (time) line). They point at `port`, which nothing listens on,
    so the measured agent's pings of them are refused at once."""
    started = iso_ms(time.time())
    return [("e%04d@%s" % (j, ip_of(30, j)),
             "name=e%04d@%s\nport=%d\nstarted_at=%s\n" % (j, ip_of(30, j), port, started))
            for j in range(lo, hi)]


def run_tool(argv, what, stdin=None, extra_env=None, timeout=120):
    r = subprocess.run(argv, input=stdin, env=env(extra_env), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (what, r.returncode,
                                                   (r.stderr or r.stdout)[-800:].decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def fill_registry(be, url, lo, hi, port):
    """Adds entries lo..hi-1 to the registry at url directly, in the agent's
    own data layout (docs/registry.md), with the store's own client: files in
    the entry text format; redis-cli --pipe (ZADD nodes + HSET info); psql
    (INSERT into rollcall_nodes); curl --aws-sigv4 PUTs (S3)."""
    from urllib.parse import urlsplit, unquote, parse_qs, quote
    ents = s6_entries(lo, hi, port)
    u = urlsplit(url)
    if be == "file":
        now = iso_ms(time.time())
        for name, text in ents:
            with open(os.path.join(unquote(u.path), name), "w") as f:
                f.write(now + "\n" + text)
    elif be == "redis":
        argv = ["redis-cli", "-h", u.hostname, "-p", str(u.port or 6379), "-n", (u.path.strip("/") or "0"),
                "--no-auth-warning"]
        extra = {}
        if u.username:
            argv += ["--user", unquote(u.username)]
        if u.password is not None:
            extra["REDISCLI_AUTH"] = unquote(u.password)
        sec, usec = run_tool(argv + ["TIME"], "redis-cli TIME", extra_env=extra).split()
        now_ms = int(sec) * 1000 + int(usec) // 1000

        def resp(*args):
            bs = [a if isinstance(a, bytes) else str(a).encode() for a in args]
            return b"*%d\r\n" % len(bs) + b"".join(b"$%d\r\n%s\r\n" % (len(b), b) for b in bs)
        cmds = b"".join(resp("ZADD", "rollcall:{rollcall}:nodes", now_ms, name) +
                        resp("HSET", "rollcall:{rollcall}:info", name, text) for name, text in ents)
        out = run_tool(argv + ["--pipe"], "redis-cli --pipe", stdin=cmds, extra_env=extra)
        if "errors: 0," not in out:
            raise RuntimeError("redis-cli --pipe: %s" % out[-500:])
    elif be == "postgres":
        sql = ["\\set ON_ERROR_STOP 1",
               "CREATE TABLE IF NOT EXISTS rollcall_nodes (cluster text NOT NULL, name text NOT NULL,"
               " host text NOT NULL DEFAULT '', port integer NOT NULL DEFAULT 0, started_at timestamptz,"
               " last_seen timestamptz NOT NULL DEFAULT now(), details text NOT NULL DEFAULT '',"
               " PRIMARY KEY (cluster, name));",
               "INSERT INTO rollcall_nodes (cluster, name, host, port, started_at, last_seen) VALUES"]
        sql.append(",\n".join("('rollcall', '%s', '', %d, now(), now())" % (name, port) for name, _ in ents))
        sql.append("ON CONFLICT (cluster, name) DO UPDATE SET last_seen = now();")
        run_tool(["psql", "-X", "-q", "-d", url], "psql", stdin="\n".join(sql).encode())
    elif be == "s3":
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        endpoint, region = q["endpoint"], q.get("region", "us-east-1")
        prefix = "/".join(quote(unquote(s), safe="-._~") for s in u.path.split("/") if s)
        d = os.path.join(TMP, "s3fill")
        os.makedirs(d, exist_ok=True)

        def cq(s):
            return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
        cfg = ["aws-sigv4 = " + cq("aws:amz:%s:s3" % region),
               "user = " + cq("%s:%s" % (unquote(u.username), unquote(u.password))),
               "header = " + cq("x-amz-content-sha256: UNSIGNED-PAYLOAD"),
               "silent", "show-error", "parallel", "parallel-max = 16",
               "write-out = " + cq("%{http_code}\\n")]
        for name, text in ents:
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            cfg += ["url = " + cq("%s/%s/%s/%s" % (endpoint, u.hostname, prefix, quote(name, safe="-._~"))),
                    "upload-file = " + cq(path), "output = /dev/null"]
        with open(os.path.join(d, "curl.cfg"), "w") as f:
            f.write("\n".join(cfg) + "\n")
        codes = run_tool(["curl", "-K", os.path.join(d, "curl.cfg")], "curl PUTs").split()
        if len(codes) != len(ents) or any(c != "200" for c in codes):
            raise RuntimeError("S3 PUTs: %d answers, not all 200: %s" % (len(codes), sorted(set(codes))))
    else:
        raise ValueError(be)
    return hi


def s6(pools):
    """Registry cost per sweep: the agent's own registry_round debug line
    (publish_ms, list_ms) against a store filled with N entries."""
    backends = [("file", None)]
    if not ARGS.smoke:
        backends += [("redis", "start-redis.sh"), ("postgres", "start-postgres.sh")]
        if os.path.exists(os.path.expanduser("~/.cache/rollcall/bin/minio")):
            backends.append(("s3", "start-minio.sh"))
        else:
            print("s6: no MinIO binary in ~/.cache/rollcall/bin: S3 skipped", flush=True)
    sizes = [10] if ARGS.smoke else [10, 100, 1000]
    trials = ARGS.trials
    dead_port = free_port()  # nothing listens there: pings of the filled entries are refused at once
    empty = os.path.join(TMP, "reg", "s6-empty")
    os.makedirs(empty)

    def members(url):
        argv = [ROLLCALL, "members", "--registry", url, "--ping-timeout", "500ms", "--epmd", "off",
                "--epmd-port", str(EPMD_PORT)]
        t0 = time.monotonic()
        r = subprocess.run(argv, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        dt = (time.monotonic() - t0) * 1000
        if r.returncode not in (0, 1) or "members answer" not in r.stdout:
            raise RuntimeError("rollcall members %s: %s %s" % (url, r.returncode, r.stderr[-500:]))
        return dt

    def rounds(url, n):
        """registry_round lines of one agent: the first (connecting; S3: a GET
        of every body) and `trials` more, one per interval."""
        # the cost of a full round every interval, as before issue 15 (which
        # lists only on a change signal or every resync, and writes its entry
        # every heartbeat): --resync 0 --heartbeat 1s
        extra = (["--resync", "0", "--heartbeat", "1s"] if rollcall_has_option("--resync")
                 else [])
        a = Agent("m6@127.0.200.30", url, interval="1s", ping_timeout="100ms", extra=extra).start()
        if not wait_until(lambda: len(a.find(msg="registry_round")) >= 1 + trials or not a.alive(),
                          trials + 30, 0.05):
            a.fail("fewer than %d registry_round lines" % (1 + trials))
        a.stop()
        ev = a.find(msg="registry_round")[:1 + trials]
        if len(ev) < 1 + trials:
            a.fail("exited after %d registry_round lines" % len(ev))
        bad = [e for e in ev if e.get("entries") != n + 1 or e.get("rejects") != 0]
        if bad:
            a.fail("expected %d entries (the filled ones + its own), no rejects: %s" % (n + 1, bad[:2]))
        return a, ev[0], ev[1:]

    t = Table("s6_registry", "registry cost per sweep, per backend and N entries: the agent's registry_round "
              "debug line (publish_ms, list_ms; monotonic, in the worker); %d rounds at 1 s after the first" % trials,
              [])
    base_m = [members("file://" + empty) for _ in range(trials)]
    t.add("baseline: members, empty file registry", base_m, "ms", "CLI wall time: process start, no entries")
    mb = quantiles(base_m)[0]
    for be, script in backends:
        try:
            if be == "file":
                d = os.path.join(TMP, "reg", "s6-file")
                os.makedirs(d)
                url = "file://" + d
            else:
                url = start_server(script)
            have = 0
            for n in sizes:
                t0 = time.monotonic()
                have = fill_registry(be, url, have, n, dead_port)
                fill_s = time.monotonic() - t0
                a, first, steady = rounds(url, n)
                if not t.commands:
                    t.commands = [a.cmdline().replace(url, "URL"),
                                  "rollcall members --registry URL --ping-timeout 500ms --epmd off   "
                                  "(wall time, %d runs)" % trials]
                pub = [e.get("publish_ms", 0.0) for e in steady]
                lst = [e["list_ms"] for e in steady]
                tot = [e.get("publish_ms", 0.0) + e["list_ms"] for e in steady]
                t.add("%s N=%d publish" % (be, n), pub, "ms")
                t.add("%s N=%d list" % (be, n), lst, "ms")
                t.add("%s N=%d publish + list" % (be, n), tot, "ms", "filled in %.2f s" % fill_s)
                t.add("%s N=%d first round publish + list" % (be, n),
                      [first.get("publish_ms", 0.0) + first["list_ms"]], "ms",
                      "connect%s; publish %.1f, list %.1f" % (
                          ", a GET per body" if be == "s3" else "", first.get("publish_ms", 0.0), first["list_ms"]))
                ms = [members(url) for _ in range(trials)]
                t.add("%s N=%d members (CLI wall time)" % (be, n), ms, "ms",
                      "median - baseline = %.1f ms" % (quantiles(ms)[0] - mb))
        except Exception as e:
            traceback.print_exc()
            FAILED.append("s6 %s: %s" % (be, str(e).splitlines()[0]))
    t.emit()


SCENARIOS = [("s1", s1), ("s2", s2), ("s3", s3_s4), ("s5", s5), ("s6", s6)]


def main():
    global ROLLCALL, PEERD, ARGS, TMP, EPMD_PORT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rollcall", default=os.path.join(ROOT, "build-bench", "rollcall"))
    ap.add_argument("--peerd", default=None,
                    help="the multiplexed peers (default: rollcall-bench-peerd next to --rollcall)")
    ap.add_argument("--peerd-procs", type=int, default=4,
                    help="split the multiplexed peers over this many peerd processes (default 4: on 2 "
                         "cores one process serialises the peers' replies, ~5 ms at N = 500)")
    ap.add_argument("--out", default=None, help="results dir (default: bench-results next to the binary)")
    ap.add_argument("--smoke", action="store_true", help="N = 10, one trial, short windows (CI)")
    ap.add_argument("--only", default="", help="comma list of s1,s2,s3 (s3 includes s4),s5,s6")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ARGS = ap.parse_args()
    ROLLCALL = os.path.abspath(ARGS.rollcall)
    if not os.access(ROLLCALL, os.X_OK):
        sys.exit("bench: %s is not an executable (build it first, see docs/BENCHMARKS.md)" % ROLLCALL)
    PEERD = os.path.abspath(ARGS.peerd or os.path.join(os.path.dirname(ROLLCALL), "rollcall-bench-peerd"))
    if not os.access(PEERD, os.X_OK):
        sys.exit("bench: %s is not an executable (build the rollcall-bench-peerd target, see "
                 "docs/BENCHMARKS.md, or give --peerd)" % PEERD)
    if ARGS.peerd_procs < 1:
        sys.exit("bench: --peerd-procs must be >= 1")
    if not shutil.which("escript") or not shutil.which("epmd"):
        sys.exit("bench: escript and epmd are needed (apt-get install erlang-base)")
    if ARGS.smoke:
        ARGS.ns, ARGS.trials, ARGS.s2_n, ARGS.ks = [10], 1, 10, [1]
        ARGS.cluster, ARGS.detect_trials, ARGS.conv_trials, ARGS.start_trials = 3, 1, 1, 1
        ARGS.window, ARGS.cpu_step, ARGS.warmup = 3, 1, 2
    else:
        ARGS.ns, ARGS.trials, ARGS.s2_n, ARGS.ks = [10, 100, 500], 10, 100, [1, 5, 20]
        ARGS.cluster, ARGS.detect_trials, ARGS.conv_trials, ARGS.start_trials = 8, 20, 10, 20
        ARGS.window, ARGS.cpu_step, ARGS.warmup = 60, 5, 5
    if ARGS.out is None:
        ARGS.out = os.path.join(os.path.dirname(ROLLCALL), "bench-results")
    os.makedirs(ARGS.out, exist_ok=True)
    open(os.path.join(ARGS.out, "tables.txt"), "w").close()
    only = [x for x in ARGS.only.split(",") if x]
    ARGS.run = [k for k, _ in SCENARIOS if not only or k in only]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    TMP = tempfile.mkdtemp(prefix="rollcall-bench-")
    for d in ("home", "logs", "peers", "reg"):
        os.mkdir(os.path.join(TMP, d))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    t_all = time.monotonic()
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout.strip()
        print("rollcall bench: %s (commit %s), %s, %d CPUs, load %s" % (
            ROLLCALL, rev or "?", "smoke" if ARGS.smoke else "full", os.cpu_count(),
            " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
        EPMD_PORT = free_port()
        popen(["epmd", "-port", str(EPMD_PORT)], os.path.join(TMP, "logs", "epmd.log"),
              {"ERL_EPMD_PORT": str(EPMD_PORT)})
        time.sleep(0.3)
        pools = Pools()
        for key, fn in SCENARIOS:
            if key not in ARGS.run:
                continue
            t0 = time.monotonic()
            try:
                fn(pools)
            except Exception as e:
                traceback.print_exc()
                FAILED.append("%s: %s" % (key, str(e).splitlines()[0] if str(e) else repr(e)))
            print("(%s took %.1f s; load %s)" % (key, time.monotonic() - t0,
                                                 " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    finally:
        cleanup()
    print("\nbench finished in %.1f s; CSV and tables.txt in %s" % (time.monotonic() - t_all, ARGS.out))
    if FAILED:
        print("FAILED: " + "; ".join(FAILED))
        sys.exit(1)


if __name__ == "__main__":
    main()
