#!/usr/bin/env python3
"""What the operator features cost (issue 13): CPU and RSS of an agent at
N = 500 peers with the HTTP endpoint scraped every second and a hook on every
event, against the same agent without them, in the same run.

    python3 tests/bench/ops_overhead.py [--rollcall PATH] [--peerd PATH]
                                        [--n 500] [--window 60] [--churn 10]

Both agents watch the same 500 multiplexed peers (tests/bench/peerd.c, as
bench.py's s5) at a 1 s interval, side by side. The "ops" agent has
`http = 127.0.0.1:PORT` with GET /metrics every 1 s (and /readyz, /members
every 5 s) and `on_event` = a shell script that reads its stdin line, for
every event (filter *). So that the hook has events to run for in the
window, one peerd process (a quarter of the peers) is stopped (SIGSTOP) for
3 s every --churn seconds: both agents see the same peer_down / peer_up
waves. The anchor is the plain agent (BEAM and Serf have no such features
to compare with the same peers).

Rows: RSS (MiB, sampled every 1 s), CPU (% of one core over 5 s steps) of
each agent process itself, the CPU its hook processes took (their reaped
children time), and the differences. Python 3 standard library plus
bench.py's helpers.
"""

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402


def proc_times(pid):
    """(own ticks, reaped children's ticks) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    f = s[s.rfind(")") + 2:].split()
    return int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rollcall", default=os.path.join(B.ROOT, "build", "rel", "rollcall"))
    ap.add_argument("--peerd", default=None)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--churn", type=int, default=10, help="seconds between peer freezes (0 = none)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    B.ROLLCALL = os.path.abspath(args.rollcall)
    B.PEERD = os.path.abspath(args.peerd or os.path.join(os.path.dirname(B.ROLLCALL),
                                                         "rollcall-bench-peerd"))
    for p in (B.ROLLCALL, B.PEERD):
        if not os.access(p, os.X_OK):
            sys.exit("ops_overhead: %s is not an executable" % p)
    B.ARGS = types.SimpleNamespace(peerd_procs=4, keep=args.keep,
                                   out=args.out or os.path.join(os.path.dirname(B.ROLLCALL),
                                                                "bench-results"))
    os.makedirs(B.ARGS.out, exist_ok=True)
    B.TMP = tempfile.mkdtemp(prefix="rollcall-opsbench-")
    for d in ("home", "logs", "peers", "reg"):
        os.mkdir(os.path.join(B.TMP, d))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    stop_scrape = threading.Event()
    try:
        print("ops_overhead: %s, N = %d, window %d s, load %s" % (
            B.ROLLCALL, args.n, args.window, " ".join("%.2f" % x for x in os.getloadavg())),
            flush=True)
        B.EPMD_PORT = B.free_port()
        B.popen(["epmd", "-port", str(B.EPMD_PORT)], os.path.join(B.TMP, "logs", "epmd.log"),
                {"ERL_EPMD_PORT": str(B.EPMD_PORT)})
        time.sleep(0.3)
        pool = B.MuxPool()
        pool.start(args.n)
        hook = os.path.join(B.TMP, "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nread line\n")
        os.chmod(hook, 0o755)
        port = B.free_port()
        plain = B.Agent("plain@127.0.200.1", "file://" + pool.registry(args.n, "plain"),
                        log_format="elixir", log_level="info").start()
        ops = B.Agent("ops@127.0.200.2", "file://" + pool.registry(args.n, "ops"),
                      log_format="elixir", log_level="info",
                      extra=["--http", "127.0.0.1:%d" % port, "--on-event", hook,
                             "--on-event-filter", "*"]).start()
        cmds = ["peers: " + pool.cmdline(), plain.cmdline(), ops.cmdline(),
                "scraper: GET http://127.0.0.1:%d/metrics every 1 s, /readyz and /members "
                "every 5 s; churn: SIGSTOP one peerd for 3 s every %d s" % (port, args.churn)]
        scrapes = [0, 0]  # ok, failed

        def scrape():
            i = 0
            while not stop_scrape.is_set():
                paths = ["/metrics"] + (["/readyz", "/members"] if i % 5 == 0 else [])
                for p in paths:
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, p),
                                                    timeout=2) as r:
                            r.read()
                        scrapes[0] += 1
                    except Exception as e:  # 503 from /readyz counts as an answer
                        scrapes[0 if getattr(e, "code", None) == 503 else 1] += 1
                i += 1
                stop_scrape.wait(1.0)

        time.sleep(5)  # warm-up: both agents have swept all 500
        threading.Thread(target=scrape, daemon=True).start()
        agents = [("without ops", plain), ("with ops", ops)]
        rss = {w: [] for w, _ in agents}
        cpu = {w: [] for w, _ in agents}
        t0 = {w: proc_times(a.p.pid) for w, a in agents}
        last = {w: t0[w][0] for w, _ in agents}
        t_start = t_last = time.monotonic()
        next_churn = t_start + args.churn if args.churn else None
        frozen = None
        while time.monotonic() - t_start < args.window:
            time.sleep(1.0)
            now = time.monotonic()
            if next_churn and frozen is None and now >= next_churn:
                frozen = (pool.procs[0], now)
                os.kill(frozen[0].pid, signal.SIGSTOP)
            elif frozen is not None and now - frozen[1] >= 3:
                os.kill(frozen[0].pid, signal.SIGCONT)
                frozen = None
                next_churn = now + args.churn - 3
            for w, a in agents:
                rss[w].append(B.proc_mem_kib(a.p.pid)[0] / 1024.0)
            if now - t_last >= 5 - 0.01:
                for w, a in agents:
                    own = proc_times(a.p.pid)[0]
                    cpu[w].append(100.0 * (own - last[w]) / B.CLK / (now - t_last))
                    last[w] = own
                t_last = now
        if frozen is not None:
            os.kill(frozen[0].pid, signal.SIGCONT)
        stop_scrape.set()
        elapsed = time.monotonic() - t_start
        t1 = {w: proc_times(a.p.pid) for w, a in agents}
        hooks = len([l for l in open(ops.log, errors="replace") if "hook" in l and "killed" in l])
        downs = {w: len([l for l in open(a.log, errors="replace") if "peer_down" in l])
                 for w, a in agents}
        for _, a in agents:
            a.stop()
        t = B.Table("ops_overhead",
                    "agent at N=%d, 1 s interval, %d s window: with /metrics scraped every 1 s and "
                    "a hook on every event, vs without, same run, same peers" % (args.n,
                                                                                args.window),
                    cmds)
        for w, _ in agents:
            t.add(w + " RSS", rss[w], "MiB")
            t.add(w + " CPU (agent process)", cpu[w], "%")
            t.rows.append((w + " CPU, whole-window average", 1,
                           100.0 * (t1[w][0] - t0[w][0]) / B.CLK / elapsed, None, None, "%", ""))
        ra, rb = B.quantiles(rss["without ops"])[0], B.quantiles(rss["with ops"])[0]
        ca = 100.0 * (t1["without ops"][0] - t0["without ops"][0]) / B.CLK / elapsed
        cb = 100.0 * (t1["with ops"][0] - t0["with ops"][0]) / B.CLK / elapsed
        t.rows.append(("difference RSS (medians)", 1, rb - ra, None, None, "MiB", "target <= 1"))
        t.rows.append(("difference CPU (window averages)", 1, cb - ca, None, None, "%",
                       "target <= 1"))
        t.rows.append(("hook processes' CPU (reaped children)", 1,
                       100.0 * (t1["with ops"][1] - t0["with ops"][1]) / B.CLK / elapsed, None,
                       None, "%", "outside the agent"))
        t.rows.append(("scrapes answered / failed", 1, float(scrapes[0]), None, None, "n",
                       "%d failed" % scrapes[1]))
        t.rows.append(("peer_down lines without / with ops", 1, float(downs["without ops"]), None,
                       None, "n", "with ops: %d; hooks killed: %d" % (downs["with ops"], hooks)))
        t.emit()
    finally:
        stop_scrape.set()
        B.cleanup()


if __name__ == "__main__":
    main()
