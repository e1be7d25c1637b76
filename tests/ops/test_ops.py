"""The operable daemon (issue 13), against real agents on loopback.

    python3 tests/ops/test_ops.py /path/to/rollcall [name-substring ...]

A real HTTP client (http.client) against /metrics, /healthz, /readyz,
/members; /metrics parsed by python3-prometheus-client's parser (and by
`promtool check metrics` when the prometheus package is installed) with
values compared to the agent's own log; /readyz flipping with a real
redis-server stopped and restarted, and held at 503 by `expect`; event hooks
recording into a file (kill -9 of a peer gives exactly one peer_down), a hook
that sleeps forever killed at hook_timeout while sweeps keep their interval;
sd_notify against a test NOTIFY_SOCKET; journald priority prefixes; exit 78
on a bad ini; the traps of the issue (a registry directory that does not
exist, an unreachable registry logged again, every peer rejecting our
cookie, a created cookie file, `rollcall help`); `bind` for a loopback name.

Shares tests/integration/harness.py (processes, logs, cleanup rules).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
from harness import AgentTestCase, wait_until, free_port, figure, ms, child_env  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the suite needs it: python3-prometheus-client (tests/run.sh PKGS)
    text_string_to_metric_families = None

SERVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "servers")


def http_get(port, path, method="GET", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        return r.status, dict(r.getheaders()), body.decode("utf-8", errors="replace")
    finally:
        c.close()


def metrics(port):
    """{(name, frozenset(labels.items())): value} from /metrics, through the
    Prometheus client's own parser."""
    st, _, body = http_get(port, "/metrics")
    assert st == 200, (st, body)
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, body


def sample(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


class OpsCase(AgentTestCase):
    interval = "200ms"
    ping_timeout = "150ms"

    def ops_agent(self, name, *args, http=True, **kw):
        port = free_port() if http else None
        extra = ["--http", "127.0.0.1:%d" % port] if http else []
        a = self.agent(name, *(extra + list(args)), **kw)
        a.http_port = port
        return a

    def wait_http(self, a, timeout=5):
        def up():
            try:
                return http_get(a.http_port, "/healthz", timeout=1)[0] == 200
            except OSError:
                return False
        if not wait_until(up, timeout, 0.05):
            self.fail("no /healthz from %s within %ss\n%s" % (a.name, timeout, a.excerpt()))

    def ready(self, a):
        st, _, body = http_get(a.http_port, "/readyz")
        return st, json.loads(body)


class TestEndpoint(OpsCase):
    def test_metrics_parse_and_match_the_log(self):
        self.assertIsNotNone(text_string_to_metric_families, "python3-prometheus-client missing")
        a = self.ops_agent("a@127.0.0.1")
        b = self.ops_agent("b@127.0.0.2")
        c = self.ops_agent("c@127.0.0.3")
        self.wait_all_alive([a, b, c], timeout=10)
        self.wait_http(a)
        m, body = metrics(a.http_port)
        self.assertEqual(sample(m, "rollcall_peer_up", node="b@127.0.0.2"), 1)
        self.assertEqual(sample(m, "rollcall_peer_up", node="c@127.0.0.3"), 1)
        self.assertEqual(sample(m, "rollcall_peers"), 2)
        self.assertGreater(sample(m, "rollcall_peer_rtt_seconds", node="b@127.0.0.2"), 0)
        info = [dict(k[1]) for k in m if k[0] == "rollcall_build_info"]
        self.assertEqual(len(info), 1)
        self.assertEqual(info[0]["node"], "a@127.0.0.1")
        self.assertTrue(info[0]["version"])
        self.assertEqual(sample(m, "rollcall_registry_up"), 1)
        # the last full list (members may also arrive by single reads since)
        self.assertGreaterEqual(sample(m, "rollcall_registry_entries_listed"), 1)
        self.assertGreater(sample(m, "rollcall_registry_operation_duration_seconds_count",
                                  op="list"), 0)
        self.assertGreater(sample(m, "rollcall_sweep_duration_seconds_count"), 0)
        # state changes: the log's peer_up lines and the counter agree
        ups = len([e for e in a.events() if e.get("msg") == "peer_up"])
        self.assertEqual(sample(m, "rollcall_state_changes_total", event="peer_up"), ups)
        # kill -9 c: one peer_down in the log, one in the counter, one failure by reason
        c.kill9()
        ev = a.wait_event(5, msg="peer_down", node="c@127.0.0.3")
        self.assertIsNotNone(ev, a.excerpt())
        time.sleep(0.5)
        m, body = metrics(a.http_port)
        self.assertEqual(sample(m, "rollcall_peer_up", node="c@127.0.0.3"), 0)
        downs = len([e for e in a.events() if e.get("msg") == "peer_down"])
        self.assertEqual(sample(m, "rollcall_state_changes_total", event="peer_down"), downs)
        self.assertGreaterEqual(
            sample(m, "rollcall_ping_failures_total", reason=ev["reason"]) or 0, 0)
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        else:
            print("note: promtool not installed; parsed with prometheus_client only")

    def test_paths(self):
        a = self.ops_agent("a@127.0.0.1")
        b = self.ops_agent("b@127.0.0.2")
        self.wait_all_alive([a, b], timeout=10)
        st, hdr, body = http_get(a.http_port, "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        st, hdr, body = http_get(a.http_port, "/members")
        self.assertEqual(st, 200)
        j = json.loads(body)
        self.assertEqual(j["self"], "a@127.0.0.1")
        self.assertEqual([x["name"] for x in j["members"]], ["b@127.0.0.2"])
        self.assertTrue(j["members"][0]["alive"])
        st, hdr, body = http_get(a.http_port, "/metrics", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(body, "")
        self.assertGreater(int(hdr["Content-Length"]), 0)
        self.assertEqual(http_get(a.http_port, "/nope")[0], 404)
        self.assertEqual(http_get(a.http_port, "/metrics", method="POST")[0], 405)
        # hostile input: an endless head is cut at 8 KiB with 431, the agent lives on
        with socket.create_connection(("127.0.0.1", a.http_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000)
            self.assertIn(b" 431 ", s.recv(200))
        self.assertEqual(http_get(a.http_port, "/healthz")[0], 200)
        # the HTTP endpoint is off unless configured
        c = self.ops_agent("c@127.0.0.3", http=False)
        self.wait_all_alive([a, b, c], timeout=10)
        self.assertFalse([l for l in c.lines() if "http" in l and "listening" in l])


class TestReadiness(OpsCase):
    def test_expect(self):
        a = self.ops_agent("a@127.0.0.1", "--expect", "3")
        self.wait_http(a)
        others = []
        for i, n in enumerate(["b@127.0.0.2", "c@127.0.0.3", "d@127.0.0.4"]):
            time.sleep(0.6)
            st, j = self.ready(a)
            self.assertEqual(st, 503, j)
            self.assertIn("expect", j["failing"])
            self.assertEqual(j["answering"], i)
            others.append(self.ops_agent(n))
        self.wait_all_alive([a] + others, timeout=10)
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 200, 3), self.ready(a))
        others[0].kill9()
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 503, 3))
        self.assertIn("expect", self.ready(a)[1]["failing"])

    def test_registry_outage_flips_readyz(self):
        d = os.path.join(self.tmp, "redis")
        r = subprocess.run([os.path.join(SERVERS, "start-redis.sh"), d], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        url = r.stdout.strip().splitlines()[-1]
        try:
            self._registry_outage(url, d)
        finally:
            # before tearDown removes d (and the pid file in it) with the temp dir
            subprocess.run([os.path.join(SERVERS, "start-redis.sh"), "--cleanup", d],
                           capture_output=True, timeout=60)

    def _registry_outage(self, url, d):
        a = self.ops_agent("a@127.0.0.1", "--registry", url)
        b = self.ops_agent("b@127.0.0.2", "--registry", url)
        self.wait_all_alive([a, b], timeout=10)
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 200, 5), self.ready(a))
        t0 = time.time()
        subprocess.run([os.path.join(SERVERS, "start-redis.sh"), "--stop", d], check=True,
                       capture_output=True, timeout=60)
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 503, 5), a.excerpt())
        figure(self, "registry stopped -> /readyz 503", ms(time.time() - t0))
        st, j = self.ready(a)
        self.assertIn("registry", j["failing"])
        self.assertTrue(j["registry"])
        # logged again while it lasts (rate-limited, with a count), not once
        time.sleep(2.5)
        outage = [e for e in a.events() if e.get("level") == "error" and
                  "registry" in e.get("msg", "")]
        self.assertGreaterEqual(len(outage), 1, a.excerpt())
        # peers keep answering from the last snapshot
        m, _ = metrics(a.http_port)
        self.assertEqual(sample(m, "rollcall_peer_up", node="b@127.0.0.2"), 1)
        self.assertEqual(sample(m, "rollcall_registry_up"), 0)
        self.assertGreater(sample(m, "rollcall_registry_errors_total", op="open") +
                           sample(m, "rollcall_registry_errors_total", op="publish") +
                           sample(m, "rollcall_registry_errors_total", op="list"), 0)
        subprocess.run([os.path.join(SERVERS, "start-redis.sh"), "--restart", d], check=True,
                       capture_output=True, timeout=60)
        t0 = time.time()
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 200, 10), self.ready(a))
        figure(self, "registry back -> /readyz 200", ms(time.time() - t0))

    def test_registry_outage_logged_again(self):
        reg = os.path.join(self.tmp, "gone")
        os.mkdir(reg)
        a = self.ops_agent("a@127.0.0.1", "--registry", "file://" + reg)
        self.wait_http(a)
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 200, 5), self.ready(a))
        # a regular file where the directory was: every publish and list fails
        os.rename(reg, reg + ".away")
        open(reg, "w").close()
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 503, 5), a.excerpt())
        # interval 200ms: over ~3 s the outage is reported more than once, each
        # report with how long it has lasted / how many failures, never every round
        time.sleep(3.5)
        lines = [l for l in a.lines() if "registry" in l and "unavailable" in l]
        self.assertGreaterEqual(len(lines), 2, a.excerpt())
        self.assertLess(len(lines), 10, a.excerpt())
        os.unlink(reg)
        os.rename(reg + ".away", reg)
        self.assertTrue(wait_until(lambda: self.ready(a)[0] == 200, 5), a.excerpt())
        self.assertTrue(a.wait_line(lambda l: "registry available again" in l, 2))

    def test_cookie_rejected_by_every_peer(self):
        a = self.ops_agent("a@127.0.0.1")
        other = os.path.join(self.tmp, "cookie2")
        harness.write_cookie_file(other, "SOMETHINGELSE")
        b = self.ops_agent("b@127.0.0.2", "--cookie-file", other)
        self.wait_http(b)
        line = b.wait_line(lambda l: "ROLLCALL_COOKIE" in l, 5)
        self.assertIsNotNone(line, b.excerpt())
        self.assertIn("cookie", line)
        st, j = self.ready(b)
        self.assertEqual(st, 503)
        self.assertIn("cookie", j["failing"])
        # said once, not every sweep
        time.sleep(1)
        self.assertEqual(len([l for l in b.lines() if "ROLLCALL_COOKIE" in l]), 1)


class TestHooks(OpsCase):
    def hook(self, body, name="hook.sh"):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(p, 0o755)
        return p

    def test_kill9_gives_one_peer_down(self):
        rec = os.path.join(self.tmp, "events")
        h = self.hook('read line; printf "%%s %%s %%s %%s\\n" "$ROLLCALL_EVENT" "$ROLLCALL_NODE" '
                      '"$ROLLCALL_REASON" "$line" >> %s\n' % rec)
        a = self.ops_agent("a@127.0.0.1", "--on-event", h)
        b = self.ops_agent("b@127.0.0.2")
        self.wait_all_alive([a, b], timeout=10)
        self.assertTrue(wait_until(lambda: os.path.exists(rec) and "peer_up b@127.0.0.2" in
                                   open(rec).read(), 5))
        t_kill = b.kill9()
        ev = a.wait_event(5, since=t_kill, msg="peer_down", node="b@127.0.0.2")
        self.assertIsNotNone(ev)
        time.sleep(1.5)  # several sweeps more: still exactly one
        # (a flap while the two dialled each other at start is not the kill's)
        downs = [l for l in open(rec).read().splitlines() if l.startswith("peer_down ") and
                 harness.parse_ts(json.loads(l.split(" ", 3)[3])["ts"]) + 0.001 >= t_kill]
        self.assertEqual(len(downs), 1, downs)
        ev_name, node, reason, js = downs[0].split(" ", 3)
        self.assertEqual(node, "b@127.0.0.2")
        self.assertEqual(reason, ev["reason"])
        j = json.loads(js)
        self.assertEqual((j["event"], j["self"], j["node"], j["reason"]),
                         ("peer_down", "a@127.0.0.1", "b@127.0.0.2", ev["reason"]))

    def test_stuck_hook_is_killed_and_sweeps_keep_time(self):
        h = self.hook("sleep 987.5\n", "stuck.sh")
        a = self.ops_agent("a@127.0.0.1", "--on-event", h, "--hook-timeout", "500ms")
        b = self.ops_agent("b@127.0.0.2")
        self.wait_all_alive([a, b], timeout=10)
        killed = a.wait_event(5, msg="hook_killed")
        self.assertIsNotNone(killed, a.excerpt())
        # sweeps stayed an interval apart while the hook hung
        ts = [t for t, _ in a.sweeps()]
        gaps = [y - x for x, y in zip(ts, ts[1:])]
        self.assertTrue(gaps)
        figure(self, "largest sweep gap with a stuck hook", ms(max(gaps)))
        self.assertLess(max(gaps), 0.2 * 4, gaps)
        r = subprocess.run(["pgrep", "-f", "^sleep 987.5$"], capture_output=True)
        self.assertNotEqual(r.returncode, 0, "the stuck hook survived its timeout")


class TestMonitor(OpsCase):
    def test_monitor_streams_state_changes(self):
        a = self.ops_agent("a@127.0.0.1")
        b = self.ops_agent("b@127.0.0.2")
        self.wait_all_alive([a, b], timeout=10)
        mon = subprocess.Popen([harness.ROLLCALL, "monitor", "--http",
                                "127.0.0.1:%d" % a.http_port],
                               env=child_env(self.home), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            time.sleep(0.5)
            b.kill9()
            line = mon.stdout.readline()
            j = json.loads(line)
            self.assertEqual((j["event"], j["node"]), ("peer_down", "b@127.0.0.2"))
        finally:
            mon.kill()
            mon.wait()
        # no agent there: a clear error, exit 1
        r = self.cli("monitor", "--http", "127.0.0.1:%d" % free_port())
        self.assertEqual(r.returncode, 1)
        self.assertIn("http", r.stderr)


class TestSystemd(OpsCase):
    def test_sd_notify(self):
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(5)
        self.addCleanup(s.close)
        a = self.ops_agent("a@127.0.0.1", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
        b = self.ops_agent("b@127.0.0.2")
        msgs = []
        deadline = time.time() + 5
        while time.time() < deadline and not any("READY=1" in m for m in msgs):
            msgs.append(s.recv(4096).decode())
        self.assertTrue(any("READY=1" in m for m in msgs), msgs)
        # the watchdog at half of 400 ms, and the status line
        t0 = time.time()
        while time.time() - t0 < 1.5:
            msgs.append(s.recv(4096).decode())
        self.assertGreaterEqual(len([m for m in msgs if "WATCHDOG=1" in m]), 4, msgs)
        self.assertTrue(wait_until(lambda: (msgs.append(s.recv(4096).decode()) or
                                            any("STATUS=1 of 1 peers answer" in m for m in msgs)),
                                   5), msgs)
        a.terminate()
        rest = []
        try:
            while True:
                rest.append(s.recv(4096).decode())
        except socket.timeout:
            pass
        self.assertTrue(any("STOPPING=1" in m for m in rest), rest)

    def test_ready_while_registry_down(self):
        # a registry that is not there at start must not fail a Type=notify
        # unit's start: READY=1 comes, the status says why it waits
        path = os.path.join(self.tmp, "notify2.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(5)
        self.addCleanup(s.close)
        notdir = os.path.join(self.tmp, "notadir")
        open(notdir, "w").close()
        a = self.ops_agent("a@127.0.0.1", "--registry", "file://" + notdir,
                           env={"NOTIFY_SOCKET": path})
        m = s.recv(4096).decode()
        self.assertIn("READY=1", m)
        self.assertIn("STATUS=0 of 0 peers answer, registry unavailable", m)
        self.wait_http(a)
        st, j = self.ready(a)
        self.assertEqual(st, 503)
        self.assertIn("registry", j["failing"])

    def test_journal_priorities(self):
        log = os.path.join(self.tmp, "journal.log")
        with open(log, "wb") as f:
            st = os.fstat(f.fileno())
            env = child_env(self.home, {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
            p = subprocess.Popen([harness.ROLLCALL, "run", "--name", "a@127.0.0.1",
                                  "--log-format", "text"] + self.common_args(),
                                 env=env, stderr=f, stdout=subprocess.DEVNULL)
            try:
                self.assertTrue(wait_until(lambda: "<6>" in open(log).read(), 5),
                                open(log).read())
            finally:
                p.terminate()
                p.wait(5)
        lines = open(log).read().splitlines()
        self.assertTrue(all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines if l), lines)

    def test_exit_codes(self):
        bad = os.path.join(self.tmp, "bad.ini")
        with open(bad, "w") as f:
            f.write("[agent]\ninterval = soon\n")
        r = self.cli("-c", bad, "run")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("interval", r.stderr)
        r = self.cli("help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage", r.stdout)
        # a bare number is milliseconds, and the error says so
        r = self.cli("--interval", "5", "check-config")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ms", r.stderr)
        self.assertIn("500ms, 2s, 1m, 1h", r.stderr)
        # a registry directory that does not exist: exit 2, naming it
        r = self.cli("--registry", "file:///nonexistent/rollcall-dir", "--cookie", "x",
                     "members")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("/nonexistent/rollcall-dir", r.stderr)

    def test_cookie_file_creation_is_logged(self):
        home = os.path.join(self.tmp, "newhome")
        os.mkdir(home)
        env = child_env(home)
        r = subprocess.run([harness.ROLLCALL, "--name", "a@127.0.0.1", "--registry",
                            "file://" + self.regdir, "members"], env=env, capture_output=True,
                           text=True, timeout=20)
        self.assertTrue(os.path.exists(os.path.join(home, ".erlang.cookie")))
        self.assertIn(os.path.join(home, ".erlang.cookie"), r.stderr)

    def test_systemd_unit_verifies(self):
        unit_in = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "packaging", "rollcall.service.in")
        text = open(unit_in).read()
        for want in ("Type=notify", "WatchdogSec=", "RestartPreventExitStatus=78",
                     "StateDirectory=rollcall"):
            self.assertIn(want, text)
        if not shutil.which("systemd-analyze"):
            self.fail("systemd-analyze not installed")
        unit = os.path.join(self.tmp, "rollcall.service")
        with open(unit, "w") as f:
            f.write(text.replace("@CMAKE_INSTALL_FULL_BINDIR@/rollcall", harness.ROLLCALL)
                    .replace("@CMAKE_INSTALL_FULL_SYSCONFDIR@", "/etc"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TestAddresses(OpsCase):
    epmd = "auto"  # the first serves an EPMD, the others register with it

    def listeners(self, pid):
        """Local addresses (as ss prints them) of the TCP sockets pid listens on."""
        r = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10)
        return [line.split()[3] for line in r.stdout.splitlines() if "pid=%d," % pid in line]

    def test_loopback_name_binds_loopback(self):
        # every loopback address (the "lo" device: "*%lo:PORT"), nothing else
        a = self.ops_agent("a@127.0.0.1")
        self.wait_http(a)
        ls = self.listeners(a.pid)
        self.assertGreaterEqual(len(ls), 3, ls)  # epmd, distribution, http
        for addr in ls:
            self.assertTrue("%lo:" in addr or addr.startswith("127.0.0.1:"),
                            "listens on %s, not loopback only (%r)" % (addr, ls))
        # another loopback-named agent shares the embedded EPMD, as with epmd
        b = self.ops_agent("b@127.0.0.2")
        self.wait_all_alive([a, b], timeout=10)
        self.assertIn("b", harness.epmd_names(self.epmd_port) or {})
        # an explicit bind: that address only
        c = self.ops_agent("c@127.0.0.3", "--bind", "127.0.0.3", "--epmd", "off")
        self.wait_http(c)
        self.assertTrue(all(x.startswith("127.0.0.") for x in self.listeners(c.pid)),
                        self.listeners(c.pid))

    def test_advertise(self):
        a = self.ops_agent("a@127.0.0.1", "--bind", "127.0.0.1", "--advertise", "localhost")
        self.wait_http(a)
        def entry():
            for fn in os.listdir(self.regdir):
                if fn.startswith("a@"):
                    return open(os.path.join(self.regdir, fn)).read()
        self.assertTrue(wait_until(entry, 5))
        self.assertIn("localhost", entry())


if __name__ == "__main__":
    harness.main()
