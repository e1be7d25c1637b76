#!/usr/bin/env python3
"""What the registry costs the store (issue 15), counted at the store itself.

    python3 tests/bench/store_cost.py --before OLD/rollcall --after NEW/rollcall
        [--backends file,redis,postgres,s3] [--sizes 10,100,500] [--agents K]
        [--steady 30] [--churn 30] [--prune] [--out DIR] [--keep]

One invocation measures both binaries, cell by cell (backend, N, binary),
against the same store server, so BEFORE and AFTER share the machine's state.

A cell: the registry holds N entries: K real `rollcall run` agents (default
10, all of them when N <= K) plus N - K filled entries in the agents' own data
layout (bench.py's fill_registry: names e0000@..., pointing at a port where
nothing listens, so pings of them are refused at once). The agents run with
the defaults (interval 1 s, stale_after 10 s; the AFTER binary's heartbeat and
resync defaults) except --prune-after 1h, so that the filled entries are
never pruned during a cell. In steady state every agent's store traffic is
its own (N agents cost N times one agent), so the table gives what the K
agents cost, per agent, and that times N ("xN"): the store bill of an
N-agent cluster. Counted at the store:

  file      each agent's registry thread (the one thread besides main):
            its read and write syscalls (syscr + syscw) and bytes read
            (rchar) from /proc/PID/task/TID/io; no ptrace, so the count does
            not slow the agents down. Includes the one write per interval
            that wakes the loop (both binaries make it); open, stat,
            getdents and rename are not in these counters
  redis     INFO commandstats: calls of the commands a client sends (EVALSHA,
            EVAL, GET, SUBSCRIBE, AUTH, SELECT, SCRIPT, ...; not the
            commands a script runs); bytes = INFO stats total_net_output_bytes
  postgres  pg_stat_statements (preloaded by this script) for the agents'
            role: calls (requests) and rows (rows read/written)
  s3        MinIO's own metrics (/minio/metrics/v3/api/requests, public
            through MINIO_PROMETHEUS_AUTH_TYPE): minio_api_requests_total by
            API (GetObject includes the 304s of the change check) and
            minio_api_requests_traffic_sent_bytes. --s3-count proxy counts
            with an HTTP proxy in this script instead (requests by method and
            304s apart, response bytes), but that one Python process serves
            ~150 GETs a second and then paces the agents it counts

Scenarios per cell: steady (--steady s, nothing changes) and churn (--churn
s, one join every 6 s and one leave every 6 s, 3 s apart: 10 joins and 10
leaves a minute). For each join: time from the newcomer's process start
until every one of the K agents logged peer_up for it (median, p90 over the
joins). --prune: once per backend and binary, 3 agents with the default
stale_after and prune_after; one is killed with SIGKILL; time until its
entry is gone from the store (polled at the store).

Python 3 standard library only, plus bench.py (same folder) for the server
scripts and fill_registry. Every process started here is ended by its pid.
"""

import argparse
import http.client
import http.server
import os
import re
import shlex
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import quote, urlsplit, urlunsplit, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

OUT_LINES = []


def say(s=""):
    print(s, flush=True)
    OUT_LINES.append(s)


# ------------------------------------------------------------------ stores

class Store:
    """One store server for all cells of a backend; counters and a reset."""

    name = "?"

    def url(self, cell):
        raise NotImplementedError

    def reset(self, cell):
        pass

    def counters(self, agents):
        """(requests, bytes, {detail: count})"""
        raise NotImplementedError

    def has_entry(self, cell, name):
        raise NotImplementedError

    def begin(self, agents):
        pass

    def end(self, agents):
        pass


class FileStore(Store):
    name = "file"

    def __init__(self):
        self.root = os.path.join(B.TMP, "fsreg")
        os.makedirs(self.root)
        self.threads = []

    def url(self, cell):
        d = os.path.join(self.root, cell)
        os.makedirs(d, exist_ok=True)
        return "file://" + d

    def has_entry(self, cell, name):
        return os.path.exists(os.path.join(self.root, cell, name))

    @staticmethod
    def reg_tid(pid):
        tids = []
        for t in os.listdir("/proc/%d/task" % pid):
            if int(t) == pid:
                continue
            try:
                with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            tids.append((comm != "rc-registry", int(t)))
        tids.sort()
        return tids[0][1] if tids else None

    @staticmethod
    def rchar(pid, tid):
        try:
            with open("/proc/%d/task/%d/io" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("rchar:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def io(pid, tid):
        """(read + write syscalls, bytes read) of one thread so far."""
        v = {}
        try:
            with open("/proc/%d/task/%d/io" % (pid, tid)) as f:
                for line in f:
                    k, _, n = line.partition(":")
                    v[k] = int(n)
        except OSError:
            pass
        return v.get("syscr", 0) + v.get("syscw", 0), v.get("rchar", 0)

    def begin(self, agents):
        self.threads = []
        for a in agents:
            tid = self.reg_tid(a.p.pid)
            if tid is not None:
                self.threads.append((a.p.pid, tid, self.io(a.p.pid, tid)))

    def end(self, agents):
        calls, rbytes = 0, 0
        for pid, tid, (c0, b0) in self.threads:
            c1, b1 = self.io(pid, tid)
            calls += c1 - c0
            rbytes += b1 - b0
        self.threads = []
        return calls, rbytes, {}


class RedisStore(Store):
    name = "redis"
    # what a client sends; the rest (ZADD, HGET, TIME, ...) run inside scripts
    TOP = {"auth", "select", "script", "eval", "evalsha", "eval_ro", "evalsha_ro", "get", "mget",
           "subscribe", "psubscribe", "unsubscribe", "ping", "hello", "client", "exists"}

    def __init__(self):
        self.base = B.start_server("start-redis.sh")
        u = urlsplit(self.base)
        self.cli = ["redis-cli", "-h", u.hostname, "-p", str(u.port), "--user", unquote(u.username),
                    "--no-auth-warning"]
        self.cli_env = {"REDISCLI_AUTH": unquote(u.password)}
        self.own_auth = 0

    def cmd(self, *args):
        self.own_auth += 1  # redis-cli --user sends AUTH first
        return B.run_tool(self.cli + list(args), "redis-cli", extra_env=self.cli_env)

    def url(self, cell):
        return self.base

    def reset(self, cell):
        self.cmd("FLUSHALL")

    def has_entry(self, cell, name):
        return self.cmd("ZSCORE", "rollcall:{rollcall}:nodes", name).strip() != ""

    def counters(self, agents=None):
        calls, detail = 0, {}
        own = self.own_auth + 1
        for line in self.cmd("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([a-z_|]+):calls=(\d+)", line)
            if m and m.group(1) in self.TOP:
                c = int(m.group(2)) - (own if m.group(1) == "auth" else 0)
                detail[m.group(1)] = c
                calls += c
        out = 0
        for line in self.cmd("INFO", "stats").splitlines():
            if line.startswith("total_net_output_bytes:"):
                out = int(line.split(":")[1])
        # our own INFO commands are not counted (redis-cli sends INFO, not in TOP)
        return calls, out, detail


class PgStore(Store):
    name = "postgres"

    def __init__(self):
        self.base = B.start_server("start-postgres.sh")
        self.dir = B.SERVER_DIRS[-1][1]
        conf = os.path.join(self.dir, "data", "postgresql.conf")
        with open(conf, "a") as f:
            f.write("\nshared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track_utility = on\n")
        script = os.path.join(B.SERVERS, "start-postgres.sh")
        subprocess.run([script, "--stop", self.dir], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([script, "--restart", self.dir], check=True, stdout=subprocess.DEVNULL)
        self.admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def admin(self, sql):
        with open(os.path.join(self.dir, "port")) as f:
            port = f.read().strip()
        argv = ["psql", "-X", "-q", "-At", "-h", os.path.join(self.dir, "sock"), "-p", port, "-U",
                "postgres", "-d", "rollcall", "-c", sql]
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                           cwd="/")
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr[-500:])
        return r.stdout

    def url(self, cell):
        return self.base

    def reset(self, cell):
        self.admin("DO $$ BEGIN IF to_regclass('rollcall_nodes') IS NOT NULL THEN "
                   "TRUNCATE rollcall_nodes; END IF; END $$")

    def has_entry(self, cell, name):
        return self.admin("SELECT count(*) FROM rollcall_nodes WHERE name = '%s'" % name).strip() == "1"

    def counters(self, agents=None):
        out = self.admin("SELECT regexp_replace(s.query, '[[:space:]|]+', ' ', 'g'), s.calls, s.rows FROM pg_stat_statements s "
                         "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'rollcall'")
        calls, rows, detail = 0, 0, {}
        for line in out.splitlines():
            q, c, r = line.rsplit("|", 2)
            key = " ".join(q.split())[:40]
            detail[key] = detail.get(key, 0) + int(c)
            calls += int(c)
            rows += int(r)
        return calls, rows, detail


class CountingProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class S3Store(Store):
    name = "s3"

    def __init__(self):
        os.environ["MINIO_PROMETHEUS_AUTH_TYPE"] = "public"  # the metrics, without a token
        self.base = B.start_server("start-minio.sh")
        u = urlsplit(self.base)
        q = dict(p.split("=", 1) for p in u.query.split("&"))
        up = urlsplit(unquote(q["endpoint"]))
        self.up = (up.hostname, up.port)
        self.lock = threading.Lock()
        self.n, self.bytes, self.detail = 0, 0, {}
        self.u = u
        self.q = q
        self.proxy = ARGS.s3_count == "proxy"
        if self.proxy:
            self.start_proxy()

    def start_proxy(self):
        store = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle(self):
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # an agent killed mid-request

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                c = http.client.HTTPConnection(*store.up, timeout=30)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                c.request(self.command, self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response_only(r.status, r.reason)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()
                kind = self.command
                if self.command == "GET" and "list-type=2" in self.path:
                    kind = "LIST"
                if r.status == 304:
                    kind += " 304"
                with store.lock:
                    store.n += 1
                    store.bytes += len(data)
                    store.detail[kind] = store.detail.get(kind, 0) + 1

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = relay

        self.srv = CountingProxy(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, cell, direct=False):
        q = dict(self.q)
        if self.proxy and not direct:
            q["endpoint"] = "http://127.0.0.1:%d" % self.port
        query = "&".join("%s=%s" % kv for kv in q.items())
        return urlunsplit((self.u.scheme, self.u.netloc, "/registry/%s" % cell, query, ""))

    def has_entry(self, cell, name):
        argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4",
                "aws:amz:%s:s3" % self.q.get("region", "us-east-1"), "--user",
                "%s:%s" % (unquote(self.u.username), unquote(self.u.password)),
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-I",
                "%s/%s/registry/%s/%s" % (unquote(self.q["endpoint"]), self.u.hostname, cell,
                                          quote(name, safe="-._~"))]
        return subprocess.run(argv, stdout=subprocess.PIPE, text=True).stdout.strip() == "200"

    def counters(self, agents=None):
        if self.proxy:
            with self.lock:
                return self.n, self.bytes, dict(self.detail)
        # MinIO's own counters, v3 (live; v2's are cached for ~10 s). Our own
        # has_entry HEADs are not in any window.
        c = http.client.HTTPConnection(*self.up, timeout=30)
        c.request("GET", "/minio/metrics/v3/api/requests")
        text = c.getresponse().read().decode()
        c.close()
        calls, out, detail = 0, 0, {}
        for line in text.splitlines():
            m = re.match(r'minio_api_requests_total\{name="(\w+)".*type="s3"\} (\S+)$', line)
            if m and m.group(1) not in ("ListBuckets", "PutBucket", "HeadBucket"):
                detail[m.group(1)] = int(float(m.group(2)))
                calls += detail[m.group(1)]
            m = re.match(r'minio_api_requests_traffic_sent_bytes\{.*type="s3"\} (\S+)$', line)
            if m:
                out += int(float(m.group(1)))
        return calls, out, detail


# ------------------------------------------------------------------ agents

class Agent(B.Agent):
    def __init__(self, binary, name, url, extra=()):
        level = ARGS.log_level if ARGS is not None else "info"
        super().__init__(name, url, log_level=level)
        self.argv = [binary, "run", "--name", name, "--registry", url, "--epmd", "off",
                     "--log-format", "json", "--log-level", level] + list(extra)


def fill(store, be, url, n):
    if n > 0:
        B.fill_registry(be, url if be != "s3" else store.url(url_cell(url), direct=True), 0, n, DEAD_PORT)


def url_cell(url):
    return urlsplit(url).path.rsplit("/", 1)[-1]


def seen_by_all(base, name, t0, timeout):
    """Seconds from t0 until every agent in base logged peer_up for name."""
    times = []
    for a in base:
        e = a.wait(max(0.01, t0 + timeout - time.time()), msg="peer_up", node=name)
        if not e:
            return None
        times.append(e["_t"])
    return max(times) - t0


CELL = [0]


def run_cell(store, be, binary, tag, n):
    CELL[0] += 1
    cell = "c%03d" % CELL[0]
    store.reset(cell)
    url = store.url(cell)
    k = min(n, ARGS.agents)
    fill(store, be, url, n - k)
    extra = ["--prune-after", "1h"]
    base = [Agent(binary, "a%02d@127.0.150.%d" % (i, 10 + i), url, extra).start() for i in range(k)]
    ok = B.wait_until(lambda: all(len(a.find(msg="sweep")) >= 2 for a in base), 60, 0.2)
    if not ok:
        base[0].fail("no sweeps")
    time.sleep(ARGS.warmup)
    rows = {}
    for phase, secs in (("steady", ARGS.steady), ("churn", ARGS.churn)):
        store.begin(base)
        c0 = store.counters(base)
        t0 = time.monotonic()
        joins, lat = [], []
        if phase == "churn":
            pre = [Agent(binary, "j%02d@127.0.151.%d" % (i, 10 + i), url, extra).start() for i in range(5)]
            step = 0
            while time.monotonic() - t0 < secs:
                at = t0 + 3 * step
                time.sleep(max(0, at - time.monotonic()))
                if step % 2 == 0:
                    i = 5 + step // 2
                    a = Agent(binary, "j%02d@127.0.151.%d" % (i, 10 + i), url, extra).start()
                    joins.append(a)
                else:
                    victim = (pre + joins)[step // 2]
                    victim.stop()
                step += 1
                if 3 * step >= secs:
                    break
        time.sleep(max(0, t0 + secs - time.monotonic()))
        dt = time.monotonic() - t0
        c1 = store.counters(base)
        store.end(base)
        if phase == "churn":
            for a in joins:
                v = seen_by_all(base, a.name, a.t_start, 15)
                lat.append(v if v is not None else float("inf"))
            for a in pre + joins:
                a.stop()
        if store.name == "file":
            c0, c1 = (0, 0, {}), store.last
        req = (c1[0] - c0[0]) / dt
        byt = (c1[1] - c0[1]) / dt
        detail = {kk: c1[2].get(kk, 0) - c0[2].get(kk, 0) for kk in c1[2]}
        detail = {kk: round(v / dt, 2) for kk, v in detail.items() if v}
        rows[phase] = (req, byt, detail, lat)
    for a in base:
        a.stop()
    return rows, k, base[0].cmdline().replace(url, "URL")


def prune_cell(store, be, binary, tag):
    CELL[0] += 1
    cell = "c%03d" % CELL[0]
    store.reset(cell)
    url = store.url(cell)
    ags = [Agent(binary, "k%02d@127.0.152.%d" % (i, 10 + i), url).start() for i in range(3)]
    if not B.wait_until(lambda: all(store.has_entry(cell, a.name) for a in ags), 30, 0.2):
        ags[0].fail("no entries")
    time.sleep(3)
    victim = ags[2]
    t0 = time.monotonic()
    victim.stop(signal.SIGKILL)
    gone = B.wait_until(lambda: not store.has_entry(cell, victim.name), 120, 0.25)
    dt = time.monotonic() - t0 if gone else float("inf")
    for a in ags[:2]:
        a.stop()
    return dt


DEAD_PORT = None
ARGS = None


def fmt(v):
    if v is None:
        return "-"
    if v == float("inf"):
        return "never"
    return "%.3g" % v if v < 100 else "%.0f" % v


def summary(path):
    """Markdown tables (before vs after, ratios) from a store_cost.txt."""
    rows, prune, be = {}, {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^(file|redis|postgres|s3): requests/s", line)
            if m:
                be = m.group(1)
                continue
            p = line.split()
            if len(p) >= 11 and p[0] in ("before", "after") and p[1].isdigit():
                rows[(be, int(p[1]), p[3], p[0])] = (float(p[6]), float(p[8]), p[9], p[10])
            m = re.match(r"^(before|after)\s+prune: .*: (\S+) s", line)
            if m:
                prune[(be, m.group(1))] = m.group(2)
    out = []
    for b in ("file", "redis", "postgres", "s3"):
        keys = sorted({(n, ph) for (bb, n, ph, _) in rows if bb == b}, key=lambda k: (k[0], k[1] != "steady"))
        if not keys:
            continue
        unit = "statements/s" if b == "postgres" else ("syscalls/s" if b == "file" else "req/s")
        bunit = "rows/s" if b == "postgres" else "bytes/s"
        out.append("")
        out.append("**%s** (store requests and %s for an N-agent cluster: K = 10 measured agents x N / K; "
                   "newcomer seen by all: median / p90 over the joins)" % (b, bunit))
        out.append("")
        out.append("| N | phase | %s before | after | ratio | %s before | after | ratio | seen by all before | after |"
                   % (unit, bunit))
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for n, ph in keys:
            bf, af = rows.get((b, n, ph, "before")), rows.get((b, n, ph, "after"))
            if not bf or not af:
                continue

            def ratio(x, y):
                if y == 0:
                    return "0" if x == 0 else "none left"
                if x / y >= 1.5:
                    return "1/%.1f" % (x / y) if x / y < 10 else "1/%.0f" % (x / y)
                return "%.2f" % (y / x) if x > 0 else "-"
            seen = lambda r: "-" if r[2] == "-" else "%s / %s s" % (r[2], r[3])
            out.append("| %d | %s | %.0f | %.0f | %s | %.0f | %.0f | %s | %s | %s |" % (
                n, ph, bf[0], af[0], ratio(bf[0], af[0]), bf[1], af[1], ratio(bf[1], af[1]), seen(bf), seen(af)))
        if prune:
            out.append("")
            out.append("SIGKILL to entry gone from the store (stale_after 10 s, prune_after 30 s): before %s s, "
                       "after %s s." % (prune.get((b, "before"), "-"), prune.get((b, "after"), "-")))
    print("\n".join(out))


def main():
    global ARGS, DEAD_PORT
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        return summary(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default=None, help="omit to measure --before alone")
    ap.add_argument("--backends", default="file,redis,postgres,s3")
    ap.add_argument("--sizes", default="10,100,500")
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--steady", type=float, default=30)
    ap.add_argument("--churn", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=2,
                    help="seconds between the agents' first sweeps and the steady window (S3 polls "
                         "its change marker every 10 s: give it 15)")
    ap.add_argument("--s3-count", choices=("metrics", "proxy"), default="metrics",
                    help="S3: count with MinIO's own request metrics (default) or with a "
                         "counting HTTP proxy in this script between the agents and MinIO "
                         "(one Python process: ~150 GET/s, a bottleneck at N = 500)")
    ap.add_argument("--log-level", default="info",
                    help="the agents' log level (debug: timestamps of each step, for --keep)")
    ap.add_argument("--prune", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    ARGS = ap.parse_args()
    B.ARGS = ARGS
    bins = [("before", os.path.abspath(ARGS.before))]
    if ARGS.after:
        bins.append(("after", os.path.abspath(ARGS.after)))
    for _, b in bins:
        if not os.access(b, os.X_OK):
            sys.exit("store_cost: %s is not an executable" % b)
    B.TMP = tempfile.mkdtemp(prefix="rollcall-storecost-")
    for d in ("home", "logs", "reg"):
        os.mkdir(os.path.join(B.TMP, d))
    B.ROLLCALL = bins[-1][1]
    B.EPMD_PORT = B.free_port()
    DEAD_PORT = B.free_port()
    out = ARGS.out or os.path.join(B.TMP, "out")
    os.makedirs(out, exist_ok=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    say("$ " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    say("%s, %d CPUs, load %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.cpu_count(),
                                  " ".join("%.2f" % x for x in os.getloadavg())))
    sizes = [int(x) for x in ARGS.sizes.split(",")]
    try:
        for be in ARGS.backends.split(","):
            if be == "s3" and not os.path.exists(os.path.expanduser("~/.cache/rollcall/bin/minio")):
                say("s3: no MinIO binary in ~/.cache/rollcall/bin: skipped")
                continue
            store = {"file": FileStore, "redis": RedisStore, "postgres": PgStore, "s3": S3Store}[be]()
            if be == "file":
                # FileStore.end returns the totals; adapt to the counters() protocol
                orig_end = store.end

                def end(agents, s=store, oe=orig_end):
                    s.last = oe(agents)
                store.end = end
                store.counters = lambda agents=None: (0, 0, {})
            say("")
            say("=" * 110)
            say("%s: requests/s and %s at the store; K measured agents, xN = per agent x N" % (
                be, "rows/s" if be == "postgres" else "bytes/s"))
            say("%-8s %5s %3s %-7s %10s %10s %10s %12s %12s %8s %8s  %s" % (
                "binary", "N", "K", "phase", "req/s", "req/s/ag", "req/s xN", "bytes/s",
                "bytes/s xN", "seen med", "seen p90", "detail (per s, all K)"))
            for n in sizes:
                for tag, b in bins:
                    rows, k, cmd = run_cell(store, be, b, tag, n)
                    for phase, (req, byt, detail, lat) in rows.items():
                        med, p90, _ = B.quantiles(lat) if lat else (None, None, None)
                        say("%-8s %5d %3d %-7s %10.1f %10.3f %10.1f %12.0f %12.0f %8s %8s  %s" % (
                            tag, n, k, phase, req, req / k, req / k * n, byt, byt / k * n,
                            fmt(med), fmt(p90), " ".join("%s=%s" % kv for kv in sorted(detail.items()))))
                    say("  cmd: " + cmd)
            if ARGS.prune:
                for tag, b in bins:
                    say("%-8s prune: SIGKILL -> entry gone from the store: %s s" % (
                        tag, fmt(prune_cell(store, be, b, tag))))
    finally:
        with open(os.path.join(out, "store_cost.txt"), "w") as f:
            f.write("\n".join(OUT_LINES) + "\n")
        print("raw: %s" % os.path.join(out, "store_cost.txt"))
        B.cleanup()


if __name__ == "__main__":
    main()
