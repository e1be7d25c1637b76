#!/usr/bin/env python3
"""Three rollcall agents on 127.0.0.2/3/4 sharing a file registry (epmd off):
convergence, kill -9, kill -STOP / -CONT, SIGTERM, and the default log line.

    python3 tests/integration/test_cluster.py /path/to/rollcall
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import figure, ms, wait_until  # noqa: E402

A, B, C = "a@127.0.0.2", "b@127.0.0.3", "c@127.0.0.4"

INTERVAL = 0.200
PING_TIMEOUT = 0.150
STALE_AFTER = 1.0
PRUNE_AFTER = 2.0
# Allowance for process start-up and scheduling on a loaded CI machine.
START_SLACK = 0.300
SLACK = 0.100


class Cluster(harness.AgentTestCase):
    interval = "200ms"
    ping_timeout = "150ms"
    stale_after = "1s"
    prune_after = "2s"
    epmd = "off"

    def start_cluster(self, log_format="json"):
        self.a = self.agent(A, log_format=log_format)
        self.b = self.agent(B, log_format=log_format)
        self.t_third = time.time()
        self.c = self.agent(C, log_format=log_format)
        return [self.a, self.b, self.c]

    def converge(self):
        agents = self.start_cluster()
        got = self.wait_all_alive(agents, timeout=5.0)
        return agents, got

    # ------------------------------------------------------------------

    def test_1_three_agents_converge_within_two_intervals(self):
        agents, got = self.converge()
        worst = max(got.values()) - self.t_third
        for a in agents:
            figure(self, "%s all alive after third start" % a.name, ms(got[a.name] - self.t_third))
        figure(self, "all three alive after third start (max)", ms(worst))
        bound = 2 * INTERVAL + START_SLACK
        self.assertLessEqual(worst, bound,
                             "all three alive %.0f ms after the third agent started; bound %.0f ms\n%s"
                             % (worst * 1000, bound * 1000, self.excerpts(*agents)))
        # Every agent published its entry: one file per node, named by the node.
        for n in (A, B, C):
            path = os.path.join(self.regdir, n)
            self.assertTrue(os.path.isfile(path), "no registry file %s" % path)
            with open(path) as f:
                first = f.readline().strip()
            self.assertIsNotNone(harness.parse_ts(first),
                                 "first line of %s is not an ISO-8601 timestamp: %r" % (path, first))
        # json: every line one object with a UTC ts, a level and a msg; sweep
        # lines carry self, node, alive, rtt_ms, reason.
        for a in agents:
            lines = a.lines()
            events = a.events()
            self.assertEqual(len(lines), len(events), "non-JSON lines from %s:\n%s" % (
                a.name, "\n".join(l for l in lines if not l.startswith("{"))))
            for e in events:
                self.assertIsNotNone(e["_t"], "bad ts in %r" % e)
                self.assertIn(e.get("level"), ("debug", "info", "warn", "warning", "error"), repr(e))
                self.assertIsInstance(e.get("msg"), str, repr(e))
                if e["msg"] == "sweep":
                    self.assertEqual(e.get("self"), a.name, repr(e))
                    self.assertIsInstance(e.get("alive"), bool, repr(e))
                    self.assertIsInstance(e.get("rtt_ms"), (int, float), repr(e))
                    self.assertIn(e.get("node"), (A, B, C), repr(e))
                    self.assertIsInstance(e.get("reason"), str, repr(e))
        # Nothing went down while the cluster was forming.
        for a in agents:
            downs = a.find(msg="peer_down")
            self.assertEqual(downs, [], "%s logged peer_down during start-up: %s" % (a.name, downs))

    def test_2_kill9_is_logged_down_at_once_and_pruned(self):
        agents, _ = self.converge()
        time.sleep(INTERVAL)  # a quiet moment, connections established
        t_kill = self.c.kill9()
        for a in (self.a, self.b):
            ev = a.wait_event(3.0, since=t_kill - 0.01, msg="peer_down", node=C)
            self.assertIsNotNone(ev, "%s logged no peer_down for %s after kill -9\n%s"
                                 % (a.name, C, a.excerpt()))
            delay = ev["_t"] - t_kill
            figure(self, "%s peer_down after kill -9" % a.name, ms(delay))
            self.assertEqual(ev.get("reason"), "connection_lost",
                             "%s: peer_down reason after kill -9: %r\n%s" % (a.name, ev, a.excerpt()))
            self.assertLessEqual(delay, 0.100, "%s logged %s down %.0f ms after kill -9 (bound 100 ms): %r"
                                 % (a.name, C, delay * 1000, ev))
        # Its entry is pruned once it is stale and has failed for prune_after.
        path = os.path.join(self.regdir, C)
        bound = PRUNE_AFTER + STALE_AFTER + 3 * INTERVAL
        gone = wait_until(lambda: not os.path.exists(path) and time.time(), bound + 2.0)
        self.assertTrue(gone, "%s still there %.1f s after kill -9\n%s"
                        % (path, bound + 2.0, self.excerpts(self.a, self.b)))
        after = gone - t_kill
        figure(self, "registry file removed after kill -9", ms(after))
        self.assertGreaterEqual(after, PRUNE_AFTER - 0.05,
                                "entry removed %.0f ms after the kill, before prune_after" % (after * 1000))
        self.assertLessEqual(after, bound, "entry removed %.0f ms after the kill (bound %.0f ms)"
                             % (after * 1000, bound * 1000))
        # Announced once the store says the remove took, by the agent whose
        # remove it was; the other sees the entry leave (peer_left).
        pruned = wait_until(lambda: self.a.find(msg="peer_pruned", node=C)
                            + self.b.find(msg="peer_pruned", node=C), 3.0)
        self.assertTrue(pruned, "nobody logged peer_pruned for %s\n%s" % (C, self.excerpts(self.a, self.b)))
        self.assertEqual(len(pruned), 1, "peer_pruned logged %d times for one removal: %r"
                         % (len(pruned), pruned))
        other = self.b if pruned[0].get("self") == self.a.name else self.a
        self.assertTrue(wait_until(lambda: other.find(msg="peer_left", node=C), 3.0),
                        "%s did not log peer_left for %s, pruned by the other\n%s"
                        % (other.name, C, other.excerpt()))
        # The survivors still see each other.
        t = time.time()
        self.wait_all_alive([self.a, self.b], timeout=2.0, since=t)

    def test_3_stop_is_timeout_and_sweeps_never_stall_then_cont(self):
        agents, _ = self.converge()
        time.sleep(2 * INTERVAL)
        t_stop = time.time()
        self.c.signal(signal.SIGSTOP)
        for a in (self.a, self.b):
            ev = a.wait_event(3.0, since=t_stop - 0.01, msg="peer_down", node=C)
            self.assertIsNotNone(ev, "%s logged no peer_down for stopped %s\n%s" % (a.name, C, a.excerpt()))
            delay = ev["_t"] - t_stop
            figure(self, "%s peer_down after SIGSTOP" % a.name, ms(delay))
            self.assertEqual(ev.get("reason"), "timeout",
                             "%s: peer_down reason for a stopped node: %r" % (a.name, ev))
            # a missed ping makes a suspect; down after one confirmation
            # round (docs/detection.md): our ping's deadline + half of it
            bound = INTERVAL + PING_TIMEOUT + 1.5 * PING_TIMEOUT + SLACK
            self.assertLessEqual(delay, bound, "%s logged %s down %.0f ms after SIGSTOP (bound %.0f ms)"
                                 % (a.name, C, delay * 1000, bound * 1000))
        # Stay stopped a while (less than stale_after, so no pruning), then resume.
        time.sleep(max(0.0, t_stop + 1.2 - time.time()))
        t_cont = time.time()
        self.c.signal(signal.SIGCONT)
        for a in (self.a, self.b):
            ev = a.wait_event(3.0, since=t_cont - 0.01, msg="peer_up", node=C)
            self.assertIsNotNone(ev, "%s logged no peer_up for %s after SIGCONT\n%s" % (a.name, C, a.excerpt()))
            figure(self, "%s peer_up after SIGCONT" % a.name, ms(ev["_t"] - t_cont))
        time.sleep(3 * INTERVAL)
        # The sweeps of the others kept their pace: consecutive sweeps never
        # further apart than interval + ping_timeout (+ slack).
        bound = INTERVAL + PING_TIMEOUT + SLACK
        for a in (self.a, self.b):
            ts = [t for t, g in a.sweeps(since=t_stop - 2 * INTERVAL) if t <= t_cont + 2 * INTERVAL]
            self.assertGreaterEqual(len(ts), 5, "%s: too few sweeps logged around the stop: %s\n%s"
                                    % (a.name, ts, a.excerpt()))
            gaps = [b - x for x, b in zip(ts, ts[1:])]
            worst = max(gaps)
            figure(self, "%s max gap between sweeps while %s stopped" % (a.name, C), ms(worst))
            self.assertLessEqual(worst, bound, "%s: sweeps %.0f ms apart while %s was stopped (bound %.0f ms); "
                                 "gaps %s" % (a.name, worst * 1000, C, bound * 1000,
                                              ["%.0f" % (g * 1000) for g in gaps]))
        # And the stopped node is back in everyone's sweep.
        self.wait_all_alive(agents, timeout=3.0, since=time.time())

    def test_4_sigterm_removes_entry_and_others_log_left(self):
        agents, _ = self.converge()
        path = os.path.join(self.regdir, C)
        self.assertTrue(os.path.exists(path))
        t_term = time.time()
        rc = self.c.terminate(timeout=5)
        t_exit = time.time()
        self.assertEqual(rc, 0, "SIGTERM: exit status %r\n%s" % (rc, self.c.excerpt()))
        figure(self, "exit after SIGTERM", ms(t_exit - t_term))
        self.assertFalse(os.path.exists(path), "%s still there after a clean shutdown\n%s"
                         % (path, self.c.excerpt()))
        for a in (self.a, self.b):
            ev = a.wait_event(3.0, since=t_term - 0.01, msg="peer_left", node=C)
            self.assertIsNotNone(ev, "%s logged no peer_left for %s\n%s" % (a.name, C, a.excerpt()))
            figure(self, "%s peer_left after SIGTERM" % a.name, ms(ev["_t"] - t_term))
            self.assertLessEqual(ev["_t"] - t_term, 2 * INTERVAL + 0.5)
        # Nobody prunes a node that left, and the others go on sweeping each other.
        self.wait_all_alive([self.a, self.b], timeout=2.0, since=time.time())
        self.assertEqual(self.a.find(msg="peer_pruned") + self.b.find(msg="peer_pruned"), [])
        # SIGINT is a clean shutdown too.
        path = os.path.join(self.regdir, B)
        t_int = time.time()
        self.b.signal(signal.SIGINT)
        try:
            rc = self.b.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertEqual(rc, 0, "SIGINT: exit status %r\n%s" % (rc, self.b.excerpt()))
        self.assertFalse(os.path.exists(path), "%s still there after SIGINT" % path)
        ev = self.a.wait_event(3.0, since=t_int - 0.01, msg="peer_left", node=B)
        self.assertIsNotNone(ev, "%s logged no peer_left for %s\n%s" % (A, B, self.a.excerpt()))

    def test_5_elixir_default_line(self):
        # No --log-format: the default is the classic Elixir line.
        agents = self.start_cluster(log_format=None)
        shape = re.compile(r'^\d\d:\d\d:\d\d\.\d{3} \[info\] (\S+)\[("[^"]+": (true|false)'
                           r'(, "[^"]+": (true|false))*)\]$')
        for a in agents:
            want = re.compile(r'^\d\d:\d\d:\d\d\.\d{3} \[info\] %s\["a@127\.0\.0\.2": true, '
                              r'"b@127\.0\.0\.3": true, "c@127\.0\.0\.4": true\]$' % re.escape(a.name))
            line = a.wait_line(want.match, 5.0)
            self.assertIsNotNone(line, "%s never logged the 3-node line\n%s" % (a.name, a.excerpt()))
            sweeps = [l for l in a.lines() if shape.match(l)]
            self.assertTrue(all(shape.match(l).group(1) == a.name for l in sweeps),
                            "sweep lines not led by self: %s" % sweeps)
        # A dead node shows as false in the others' lines.
        t_kill = self.c.kill9()
        for a in (self.a, self.b):
            want = re.compile(r'^\d\d:\d\d:\d\d\.\d{3} \[info\] %s\["a@127\.0\.0\.2": true, '
                              r'"b@127\.0\.0\.3": true, "c@127\.0\.0\.4": false\]$' % re.escape(a.name))
            line = a.wait_line(want.match, 2.0)
            self.assertIsNotNone(line, "%s never logged c as false after kill -9\n%s" % (a.name, a.excerpt()))
        for a in agents:
            # Every line is either a sweep line or a "HH:MM:SS.mmm [level] text" line.
            for l in a.lines():
                self.assertRegex(l, r'^\d\d:\d\d:\d\d\.\d{3} \[(debug|info|warn|warning|error)\] ',
                                 "not an elixir-format line from %s" % a.name)


if __name__ == "__main__":
    harness.main()
