#!/usr/bin/env python3
"""Issue 14 benchmark rows: distribution with and without TLS.

    python3 tests/bench/dist_tls.py [--rollcall PATH] [--peerd PATH] [--n 500]
                                    [--trials 10] [--pings 50] [--settle 10]

Rows (medians; the BEAM rows are the anchor, run in the same invocation):
  rtt      ping round trip over an established connection: a rollcall agent
           sweeping one peer every 100 ms (the sweep's rtt_ms), and an erl
           node timing net_adm:ping/1 to the same peer; plain and TLS
  setup    connection set-up + first ping: a fresh agent's first verdict on
           the peer (TCP connect [+ TLS handshake] + distribution handshake
           + ping; the entry carries the port, no EPMD lookup), and erl's
           first net_adm:ping after disconnect_node (which asks EPMD first)
  rss      VmRSS of an agent watching N peers (rollcall-bench-peerd, 4
           processes), after --settle seconds of 1 s sweeps with all alive:
           a plain agent, and a TLS agent of TLS peers; with --before PATH
           also the plain agent of another build (the "unchanged" check)

Peers: rollcall-bench-peerd (tests/bench/peerd.c) with --tls-* for TLS. The
BEAM pings with -proto_dist inet_tls and the -ssl_dist_optfile of
docs/tls.md. Certificates are made with openssl in a temp dir. A private
`epmd -port P`; every process started here is ended by its pid.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from test_interop import make_certs, ssl_dist_optfile  # noqa: E402
from harness import free_port, iso_now, parse_ts  # noqa: E402

PROCS = []
COOKIE = "ROLLCALLTLSBENCH"


def popen(argv, log, stdout=None):
    """argv with stderr (and stdout, unless given) into log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
    out = open(log, "wb")
    p = subprocess.Popen(argv, stdout=stdout if stdout is not None else out, stderr=out,
                         stdin=subprocess.DEVNULL, env=env)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()


def wait_until(pred, timeout, step=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def events(log):
    out = []
    try:
        with open(log, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="rollcall-tlsbench-")
        self.certs = os.path.join(self.tmp, "certs")
        os.mkdir(self.certs)
        make_certs(self.certs, more_hosts=("127.0.0.2",))  # p000, the peer the BEAM pings
        self.cookie_file = os.path.join(self.tmp, "cookie")
        with open(self.cookie_file, "w") as f:
            f.write(COOKIE + "\n")
        os.chmod(self.cookie_file, 0o600)
        self.epmd_port = free_port()
        self.epmd = popen(["epmd", "-port", str(self.epmd_port)], os.path.join(self.tmp, "epmd.log"))
        time.sleep(0.3)
        self.rows = []
        self.commands = []

    def tls_args(self, who):
        c = self.certs
        return ["--tls-cert", "%s/%s.pem" % (c, who), "--tls-key", "%s/%s.key" % (c, who),
                "--tls-ca", "%s/ca.pem" % c]

    def peers(self, n, tls, tag):
        """n peers in 4 peerd processes (1 when n < 4); returns (procs, regdir)."""
        reg = os.path.join(self.tmp, "peers-%s" % tag)
        os.mkdir(reg)
        nprocs = 4 if n >= 4 else 1
        per = (n + nprocs - 1) // nprocs
        procs = []
        for k in range(nprocs):
            first = k * per
            cnt = min(per, n - first)
            if cnt <= 0:
                break
            argv = [self.a.peerd, "--count", str(cnt), "--first-index", str(first), "--out", reg,
                    "--epmd-port", str(self.epmd_port), "--cookie-file", self.cookie_file]
            if tls:
                argv += self.tls_args("beam")
            self.commands.append(" ".join(argv))
            log = os.path.join(self.tmp, "peerd-%s-%d.log" % (tag, k))
            p = popen(argv, log, stdout=subprocess.PIPE)
            procs.append(p)
        for p in procs:
            line = p.stdout.readline().decode()
            if not line.startswith("ready"):
                raise SystemExit("peerd did not get ready: %r" % line)
        return procs, reg

    def agent(self, binary, regdir, tls, tag, interval="100ms"):
        reg = os.path.join(self.tmp, "agent-reg-%s" % tag)
        if os.path.exists(reg):
            shutil.rmtree(reg)
        shutil.copytree(regdir, reg)
        log = os.path.join(self.tmp, "agent-%s.log" % tag)
        argv = [binary, "run", "--name", "bench-%s@127.0.0.1" % tag, "--cookie-file", self.cookie_file,
                "--registry", "file://" + reg, "--interval", interval, "--ping-timeout", "2s",
                "--stale-after", "1h", "--prune-after", "2h", "--epmd", "off",
                "--epmd-port", str(self.epmd_port), "--log-format", "json"]
        if tls:
            argv += self.tls_args("agent") + ["--tls-required", "true"]
        self.commands.append(" ".join(argv))
        return popen(argv, log), log

    def erl(self, tls, tag):
        argv = ["erl", "-name", "erl-%s@127.0.0.1" % tag, "-setcookie", COOKIE, "-noshell",
                "-start_epmd", "false"]
        if tls:
            argv += ["-proto_dist", "inet_tls", "-ssl_dist_optfile",
                     ssl_dist_optfile(self.certs, "beam")]
        return argv

    def erl_times(self, tls, peer, trials, pings):
        """erl: `trials` set-ups (disconnect + ping) and `pings` pings over
        the connection, microseconds each."""
        code = ("P = '%s', "
                "Setup = [begin erlang:disconnect_node(P), timer:sleep(20), "
                "{T, pong} = timer:tc(net_adm, ping, [P]), T end || _ <- lists:seq(1, %d)], "
                "Rtt = [begin {T, pong} = timer:tc(net_adm, ping, [P]), T end || _ <- lists:seq(1, %d)], "
                "io:format(\"~w~n~w~n\", [Setup, Rtt]), halt()." % (peer, trials, pings))
        argv = self.erl(tls, "t" if tls else "p") + ["-eval", code]
        self.commands.append(" ".join(argv[:-1]) + " -eval '<%d set-ups, %d pings>'" % (trials, pings))
        env = dict(os.environ, ERL_EPMD_PORT=str(self.epmd_port), HOME=self.tmp)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=120,
                           text=True, cwd=self.tmp)
        lines = [l for l in r.stdout.splitlines() if l.startswith("[")]
        if len(lines) < 2:
            raise SystemExit("erl %s pinging %s failed:\n%s\n%s" % (
                " ".join(argv[:-1]), peer, r.stdout[-3000:],
                "\n".join(open(os.path.join(self.tmp, f)).read()[-1500:]
                          for f in os.listdir(self.tmp) if f.startswith("peerd-one"))))
        return json.loads(lines[0]), json.loads(lines[1])

    def rollcall_rtt(self, tls, peer_reg, peer, pings):
        p, log = self.agent(self.a.rollcall, peer_reg, tls, "rtt-%s" % ("tls" if tls else "plain"))
        got = wait_until(lambda: len([e for e in events(log) if e.get("msg") == "sweep"
                                      and e.get("node") == peer and e.get("alive")]) >= pings + 5,
                         pings * 0.3 + 20)
        stop(p)
        ev = [e for e in events(log) if e.get("msg") == "sweep" and e.get("node") == peer]
        if not got:
            raise SystemExit("agent never swept %s %d times:\n%s" % (peer, pings, ev[-3:]))
        return [e["rtt_ms"] * 1000 for e in ev[5:5 + pings] if e.get("alive")]

    def rollcall_setup(self, tls, peer_reg, peer, trials):
        out = []
        for k in range(trials):
            p, log = self.agent(self.a.rollcall, peer_reg, tls, "setup-%s-%d" % ("tls" if tls else "plain", k))
            ev = wait_until(lambda: [e for e in events(log) if e.get("msg") == "sweep"
                                     and e.get("node") == peer], 10)
            stop(p)
            if not ev or not ev[0].get("alive"):
                raise SystemExit("setup trial failed: %r\n" % (ev,))
            out.append(ev[0]["rtt_ms"] * 1000)
        return out

    def rss(self, binary, tls, n, tag):
        procs, reg = self.peers(n, tls, "rss-" + tag)
        p, log = self.agent(binary, reg, tls, "rss-" + tag, interval="1s")
        names = set(os.listdir(reg))

        def all_alive_sweeps():
            sw = [e for e in events(log) if e.get("msg") == "sweep" and e.get("node") in names]
            ok = [e for e in sw if e.get("alive")]
            return len(ok) >= n * 3

        if not wait_until(all_alive_sweeps, 60):
            raise SystemExit("%s agent: 500 peers never all alive\n%s" % (tag, open(log).read()[-2000:]))
        time.sleep(self.a.settle)
        kib = rss_kib(p.pid)
        alive = len([e for e in events(log) if e.get("msg") == "sweep" and e.get("alive")])
        stop(p)
        for q in procs:
            stop(q)
        return kib, alive

    def run(self):
        a = self.a
        rows = []
        for tls in (False, True):
            kind = "TLS" if tls else "plain"
            procs, reg = self.peers(1, tls, "one-" + kind)
            peer = [f for f in os.listdir(reg) if "@" in f][0]
            r_rtt = self.rollcall_rtt(tls, reg, peer, a.pings)
            r_set = self.rollcall_setup(tls, reg, peer, a.trials)
            b_set, b_rtt = self.erl_times(tls, peer, a.trials, a.pings)
            for q in procs:
                stop(q)
            rows.append(("ping RTT, established (%s)" % kind, r_rtt, b_rtt))
            rows.append(("connection set-up + first ping (%s)" % kind, r_set, b_set))
        print("\ncommands:")
        for c in self.commands:
            print("  " + c)
        print("\n| row | rollcall median (us) | BEAM median (us) | rollcall / BEAM |")
        print("|---|---|---|---|")
        med = {}
        for what, r, b in rows:
            mr, mb = statistics.median(r), statistics.median(b)
            med[what] = mr
            print("| %s | %.0f (n=%d) | %.0f (n=%d) | %.2f |" % (what, mr, len(r), mb, len(b), mr / mb))
        print("| TLS / plain, rollcall RTT | %.2f | | |" % (med["ping RTT, established (TLS)"] /
                                                          med["ping RTT, established (plain)"]))
        print("| TLS / plain, rollcall set-up | %.2f | | |" % (
            med["connection set-up + first ping (TLS)"] / med["connection set-up + first ping (plain)"]))
        self.commands = []
        print("\n| agent at %d peers | VmRSS (KiB) | alive verdicts seen |" % a.n)
        print("|---|---|---|")
        kinds = [("plain (this build)", a.rollcall, False, "plain"),
                 ("TLS (this build)", a.rollcall, True, "tls")]
        if a.before:
            kinds.insert(0, ("plain (--before build)", a.before, False, "before"))
        for label, binary, tls, tag in kinds:
            kib, alive = self.rss(binary, tls, a.n, tag)
            print("| %s | %d | %d |" % (label, kib, alive), flush=True)
        print("\ncommands:")
        for c in self.commands:
            print("  " + c)


def main():
    ap = argparse.ArgumentParser()
    build = os.path.join(ROOT, "build", "rel")
    ap.add_argument("--rollcall", default=os.path.join(build, "rollcall"))
    ap.add_argument("--peerd", default=os.path.join(build, "rollcall-bench-peerd"))
    ap.add_argument("--before", default=None, help="another build's rollcall for the plain RSS row")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--pings", type=int, default=50)
    ap.add_argument("--settle", type=float, default=10.0)
    a = ap.parse_args()
    print("command: %s" % " ".join([sys.executable] + sys.argv), flush=True)
    b = Bench(a)
    try:
        b.run()
    finally:
        for p in reversed(PROCS):
            stop(p)
        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
