#!/usr/bin/env python3
"""Registry store faults (issue 5): each store (redis, postgres, s3) made
slow - SIGSTOP for longer than the backend's timeouts - and killed with
SIGKILL and restarted mid-run. No crash, no lost entry, recovery within one
interval once the store is back, and sweeps never stop meanwhile (the last
known members stay alive).

    python3 tests/faults/test_stores.py /path/to/rollcall redis|postgres|s3 [name-substring ...]

The private servers come from tests/integration/servers/start-*.sh (through
test_backend_agents.Server); a server that cannot start fails the test.
"""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import test_backend_agents as tba  # noqa: E402
from harness import figure, ms, wait_until  # noqa: E402

A, B = tba.A, tba.B
# Longer than the backend's own time-outs (redis 2 s command timeout,
# postgres 5 s statement / connect timeout, s3 10 s request timeout).
STOP_SECONDS = {"redis": 6.0, "postgres": 8.0, "s3": 13.0}
# The stalled store is reported when the agent's own deadline fires, which
# may be later than STOP_SECONDS: postgres' client-side deadline is 7 s from
# the start of a statement that began up to one interval after the stop,
# and an ASan build on a loaded machine adds to that. The store stays
# stopped until both agents have reported it, for at most this much longer.
REPORT_SLACK = 10.0
RECOVERY_MAX = 0.2 + 1.0  # one interval, plus slack for an ASan build on a busy machine


def server_pid():
    srv = tba.SERVER.srv
    path = {"redis": "redis.pid", "postgres": os.path.join("data", "postmaster.pid"),
            "s3": "minio.pid"}[tba.KIND]
    with open(os.path.join(srv, path)) as f:
        return int(f.readline().strip())


def tree(pid):
    """pid and its children (postgres serves each connection from a child:
    stopping or killing the postmaster alone stops nothing that is open)."""
    out = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def signal_tree(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


class StoreFaults(tba.BackendAgents):
    # the backend suite's own tests are not run here
    test_1_three_agents_find_each_other = None
    test_2_outage_keeps_pinging_and_recovers = None
    test_3_killed_agent_is_pruned = None
    test_4_clean_shutdown_removes_own_entry = None
    test_5_hostile_name_escaped_once = None  # integration/backend_agents_* has it
    test_6_newcomer_read_through_the_mesh = None

    stale_after = "30s"  # nothing may expire while the store is away
    prune_after = "60s"

    def common_args(self):
        # The store is touched every interval, as this suite's timing assumes
        # (a stall reported within its time-outs, recovery within one
        # interval). With the defaults an agent writes only every heartbeat
        # (stale_after / 2 = 15 s here), so it notices a stall at that write.
        return super().common_args() + ["--heartbeat", self.interval]

    def start_two(self):
        self.registry = self.url_bare
        a = self.agent(A, env=self.secret_env)
        b = self.agent(B, env=self.secret_env)
        self.wait_all_alive([a, b], timeout=15.0)
        return a, b

    def assert_sweeping_all_alive(self, a, b, since, label):
        for ag, other in ((a, b), (b, a)):
            self.assertTrue(ag.running(), "%s: %s died\n%s" % (label, ag.name, ag.excerpt(40)))
            sw = ag.sweeps(since=since)
            self.assertGreaterEqual(len(sw), 3, "%s: %s stopped sweeping\n%s" % (label, ag.name, ag.excerpt(30)))
            dead = [g[other.name] for _, g in sw if other.name in g and g[other.name].get("alive") is not True]
            self.assertFalse(dead, "%s: %s reported %s down: %r" % (label, ag.name, other.name, dead[:2]))
            self.assertFalse([e for e in ag.events() if e.get("msg") == "peer_down"],
                             "%s: a peer_down was logged" % label)

    def wait_recovered(self, ag, since, label):
        def ok():
            return [e for e in ag.events() if "registry available again" in e.get("msg", "")
                    and harness.logged_since(e, since)]
        r = wait_until(ok, 15)
        self.assertTrue(r, "%s: %s never recovered\n%s" % (label, ag.name, ag.excerpt(30)))
        return r[0]["_t"] - since

    def assert_both_listed(self, label):
        by = wait_until(lambda: (lambda m: m if A in m and B in m else None)(self.members()), 5)
        self.assertTrue(by, "%s: an entry was lost: %r" % (label, sorted(self.members())))
        for n in (A, B):
            self.assertIs(by[n]["alive"], True, "%s: %r" % (label, by[n]))

    def test_1_store_sigstopped_longer_than_its_timeouts(self):
        a, b = self.start_two()
        pids = tree(server_pid())
        t0 = time.time()
        signal_tree(pids, signal.SIGSTOP)
        try:
            time.sleep(STOP_SECONDS[tba.KIND])

            def errs():
                return {ag.name: self.registry_errors(ag, since=t0) for ag in (a, b)}
            wait_until(lambda: all(errs().values()), REPORT_SLACK)
            reported = errs()
            self.assertTrue(all(reported.values()), "the stalled store was not reported within "
                            "%.0f s: %r\n%s" % (STOP_SECONDS[tba.KIND] + REPORT_SLACK,
                                                {k: len(v) for k, v in reported.items()},
                                                self.excerpts(a, b)))
            for ag in (a, b):
                figure(self, "%s: %s reported the stalled store after" % (tba.KIND, ag.name),
                       ms(reported[ag.name][0]["_t"] - t0))
            self.assert_sweeping_all_alive(a, b, t0 + 0.5, "store stopped")
        finally:
            t1 = time.time()
            signal_tree(pids, signal.SIGCONT)
        rec = max(self.wait_recovered(a, t1, "SIGCONT"), self.wait_recovered(b, t1, "SIGCONT"))
        figure(self, "%s: stopped %.1f s; recovered after SIGCONT in" % (tba.KIND, STOP_SECONDS[tba.KIND]), ms(rec))
        self.assertLess(rec, RECOVERY_MAX, "recovery took longer than one interval")
        self.assert_both_listed("after SIGCONT")
        for ag in (a, b):
            self.assertEqual(len(self.registry_errors(ag, since=t0)), 1, "the outage was logged more than once")

    def test_2_store_killed_and_restarted(self):
        a, b = self.start_two()
        pid = server_pid()
        pids = tree(pid)
        t0 = time.time()
        signal_tree(pids, signal.SIGKILL)
        wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 5)
        time.sleep(1.0)
        self.assert_sweeping_all_alive(a, b, t0 + 0.3, "store killed")
        r = tba.SERVER.script("--restart", tba.SERVER.srv)
        self.assertEqual(r.returncode, 0, "restart failed: %s" % r.stderr)
        t1 = time.time()
        rec = max(self.wait_recovered(a, t1 - 0.5, "restart"), self.wait_recovered(b, t1 - 0.5, "restart"))
        figure(self, "%s: killed, restarted; recovered after the restart in" % tba.KIND, ms(max(rec, 0)))
        self.assertLess(rec, RECOVERY_MAX, "recovery took longer than one interval")
        # redis restarts empty: the entries come back with the next publish.
        self.assert_both_listed("after the restart")
        self.assert_no_secret([a, b])


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("redis", "postgres", "s3"):
        print("usage: %s /path/to/rollcall redis|postgres|s3 [test-name-substring ...]" % sys.argv[0],
              file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)
    tba.KIND = sys.argv.pop(2)
    tba.SERVER = tba.Server(tba.KIND)
    try:
        tba.SERVER.start()
        if tba.SERVER.error:
            print("faults: %s" % tba.SERVER.error, file=sys.stderr)
        harness.main()
    finally:
        tba.SERVER.stop()


if __name__ == "__main__":
    main()
