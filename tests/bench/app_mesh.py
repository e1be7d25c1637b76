#!/usr/bin/env python3
"""App connector benchmark (issue 12): how fast plain BEAM apps become a full
mesh with rollcall in app mode, against a libcluster-style polling loop in
the same run.

    ip netns add rc-bench; ip -n rc-bench link set lo up
    ip netns exec rc-bench python3 tests/bench/app_mesh.py --rollcall build/rel/rollcall \
        [--apps 5] [--trials 20] [--partition 3] [--smoke]

Root and a network namespace of its own: partitions are nftables rules
(table inet rc_app_mesh, removed at the end) that drop every packet between
one app's loopback address and the others'.

Systems (N apps a<i>@127.0.0.<10+i>, plain `erl -name`, one private epmd):
  rollcall  each app has an agent r<i>@ (same address) with --app-node,
            interval 1s, ping_timeout 500ms, one file registry;
  baseline  no agents; every app runs what libcluster's polling strategies
            do: every 5 s, net_kernel:connect_node/1 each registered name in
            turn (the registry is a directory of names, like the classic
            sync dir), first pass at boot.

Scenarios, --trials each, per system:
  join      kill -9 the last app, wait until no other app lists it, restart
            it: time from its restart (process spawn) to the moment its
            nodes() holds every other app (connections are symmetric, so the
            mesh is then full);
  heal      partition the last app (nftables drop both ways, and
            disconnect_node on both sides so that nobody waits for
            net_ticktime), keep it --partition seconds, heal: time from the
            heal to its nodes() holding every other app again.

Prints one table (median, p90, min, max per scenario and system, and the
baseline/rollcall ratio of medians) with the command that produced it.
--smoke: 3 apps, 2 trials, 1 s partition: a check that the bench runs.
Python 3 standard library only; every process is ended by its pid.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

NFT_TABLE = "rc_app_mesh"
POLL_MS = 5000


class Ctx:
    """What harness.ErlNode / Agent / SystemEpmd need of a 'test'."""

    def __init__(self, tmp, cookie, epmd_port, regdir, interval, ping_timeout):
        self.tmp = tmp
        self.home = os.path.join(tmp, "home")
        os.makedirs(self.home, exist_ok=True)
        self.procs = []
        self.cookie = cookie
        self.cookie_file = os.path.join(tmp, "cookie")
        harness.write_cookie_file(self.cookie_file, cookie)
        self.epmd_port = epmd_port
        self.regdir = regdir
        self.interval = interval
        self.ping_timeout = ping_timeout

    def id(self):
        return "app_mesh"

    def common_args(self):
        return ["--cookie-file", self.cookie_file, "--registry", "file://" + self.regdir,
                "--interval", self.interval, "--ping-timeout", self.ping_timeout,
                "--stale-after", "5s", "--prune-after", "60s", "--epmd", "auto",
                "--epmd-port", str(self.epmd_port), "--log-format", "json"]

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # a bench keeps cleaning up
                print("cleanup: %s" % e, file=sys.stderr)
        self.procs = []


def ip(i):
    return "127.0.0.%d" % (10 + i)


def app_name(i):
    return "a%d@%s" % (i, ip(i))


def nodes_of(app):
    try:
        v = app.eval("erlang:nodes()", timeout=10)
    except AssertionError:
        return None
    v = v.strip()
    if not (v.startswith("[") and v.endswith("]")):
        return None
    body = v[1:-1].strip()
    return set() if not body else {x.strip().strip("'") for x in body.split(",")}


def wait_full(app, others, timeout, t0):
    """Seconds from t0 until app's nodes() holds every name in others."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = nodes_of(app)
        if n is not None and all(o in n for o in others):
            return time.time() - t0
        time.sleep(0.02)
    return None


def nft(*args):
    r = subprocess.run(["nft"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("nft %s: %s" % (" ".join(args), r.stdout))


def partition(addr):
    nft("add", "table", "inet", NFT_TABLE)
    nft("add", "chain", "inet", NFT_TABLE, "out", "{ type filter hook output priority 0 ; }")
    # Loopback traffic passes output once: drop it both ways, except the
    # app's own address talking to itself (its agent).
    nft("add", "rule", "inet", NFT_TABLE, "out", "ip", "saddr", addr, "ip", "daddr", "!=", addr, "drop")
    nft("add", "rule", "inet", NFT_TABLE, "out", "ip", "daddr", addr, "ip", "saddr", "!=", addr, "drop")


def heal():
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


BASELINE_LOOP = (
    "spawn(fun() -> Dir = \"%s\", Me = atom_to_list(node()), "
    "L = fun Loop() -> {ok, Fs} = file:list_dir(Dir), "
    "[net_kernel:connect_node(list_to_atom(F)) || F <- lists:sort(Fs), F =/= Me, hd(F) =/= $.], "
    "timer:sleep(%d), Loop() end, L() end)"
)


class System:
    def __init__(self, kind, ctx, n, rollcall):
        self.kind = kind
        self.ctx = ctx
        self.n = n
        self.rollcall = rollcall
        self.apps = [None] * n
        self.agents = []

    def start_app(self, i):
        a = harness.ErlNode(self.ctx, app_name(i), self.ctx.cookie, self.ctx.epmd_port)
        t0 = time.time()
        a.start(timeout=30)
        if self.kind == "baseline":
            a.eval(BASELINE_LOOP % (self.ctx.regdir, POLL_MS))
        self.apps[i] = a
        return t0

    def start(self):
        if self.kind == "rollcall":
            harness.ROLLCALL = self.rollcall
            for i in range(self.n):
                ag = harness.Agent(self.ctx, "r%d@%s" % (i, ip(i)),
                                   ["--app-node", app_name(i)], log_format=None).start()
                self.agents.append(ag)
            time.sleep(1.0)
        else:
            for i in range(self.n):
                harness.write_beam_entry(self.ctx.regdir, app_name(i))
        for i in range(self.n):
            self.start_app(i)
        last = self.n - 1
        others = [app_name(i) for i in range(self.n) if i != last]
        if wait_full(self.apps[last], others, 30, time.time()) is None:
            raise RuntimeError("%s: no full mesh at start" % self.kind)

    def others(self, i):
        return [app_name(j) for j in range(self.n) if j != i]

    def trial_join(self):
        x = self.n - 1
        victim = self.apps[x]
        victim.proc.kill()
        victim.proc.wait()
        self.ctx.procs.remove(victim)
        deadline = time.time() + 10
        while time.time() < deadline:
            if all(app_name(x) not in (nodes_of(self.apps[j]) or set()) for j in range(x)):
                break
            time.sleep(0.02)
        if self.kind == "rollcall":
            time.sleep(1.5)  # its entry withdrawn, every agent saw it down
        t0 = self.start_app(x)
        return wait_full(self.apps[x], self.others(x), 30, t0)

    def trial_heal(self, seconds):
        x = self.n - 1
        partition(ip(x))
        try:
            self.apps[x].eval("[erlang:disconnect_node(N) || N <- nodes()]")
            for j in range(x):
                self.apps[j].eval("erlang:disconnect_node('%s')" % app_name(x))
            time.sleep(seconds)
        finally:
            t0 = time.time()
            heal()
        return wait_full(self.apps[x], self.others(x), 30, t0)


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rollcall", default=os.path.join(ROOT, "build", "rel", "rollcall"))
    ap.add_argument("--apps", type=int, default=5)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--partition", type=float, default=3.0)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.apps, args.trials, args.partition = 3, 2, 1.0
    rollcall = os.path.abspath(args.rollcall)
    if not os.access(rollcall, os.X_OK):
        sys.exit("no rollcall binary at %s" % rollcall)
    if shutil.which("nft") is None or os.geteuid() != 0:
        sys.exit("needs root and nft (run it in a network namespace of its own)")
    harness.ensure_erlang()
    heal()
    command = "python3 tests/bench/app_mesh.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results = {}
    for kind in ("rollcall", "baseline"):
        tmp = tempfile.mkdtemp(prefix="rc-app-mesh-%s-" % kind)
        regdir = os.path.join(tmp, "registry")
        os.mkdir(regdir)
        ctx = Ctx(tmp, harness.random_cookie(), harness.free_port(), regdir, "1s", "500ms")
        sysm = System(kind, ctx, args.apps, rollcall)
        try:
            harness.SystemEpmd(ctx, ctx.epmd_port).start()
            sysm.start()
            for scen in ("join", "heal"):
                vals, lost = [], 0
                for t in range(args.trials):
                    v = sysm.trial_join() if scen == "join" else sysm.trial_heal(args.partition)
                    if v is None:
                        lost += 1
                    else:
                        vals.append(v)
                    print("%-8s %-4s trial %2d: %s" % (kind, scen, t + 1,
                                                       "none in 30 s" if v is None else
                                                       "%.0f ms" % (v * 1000)), flush=True)
                results[(scen, kind)] = (vals, lost)
        finally:
            heal()
            ctx.stop_all()
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print("kept %s" % tmp)

    print()
    print("$ " + command)
    print("%d apps (plain erl -name, OTP %s), %d trials; rollcall interval 1s, ping_timeout 500ms; "
          "baseline: connect_node each registered name in turn every %d s; partition %.0f s"
          % (args.apps, subprocess.run(["erl", "-noshell", "-eval",
                                         "io:format(erlang:system_info(otp_release)), halt()"],
                                        stdout=subprocess.PIPE, text=True).stdout.strip(),
             args.trials, POLL_MS // 1000, args.partition))
    print()
    print("| scenario | system | median | p90 | min | max | lost |")
    print("|---|---|---|---|---|---|---|")
    label = {"join": "last app start -> full mesh", "heal": "healed partition -> reconnected"}
    bad = False
    for scen in ("join", "heal"):
        for kind in ("rollcall", "baseline"):
            vals, lost = results[(scen, kind)]
            if not vals:
                bad = True
            f = lambda x: "%.0f ms" % (x * 1000)  # noqa: E731
            print("| %s | %s | %s | %s | %s | %s | %d |" % (
                label[scen], kind, f(pct(vals, 50)), f(pct(vals, 90)),
                f(min(vals)) if vals else "-", f(max(vals)) if vals else "-", lost))
    print()
    for scen in ("join", "heal"):
        r, b = results[(scen, "rollcall")][0], results[(scen, "baseline")][0]
        if r and b:
            print("%s: baseline median / rollcall median = %.2f" % (label[scen], pct(b, 50) / pct(r, 50)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
