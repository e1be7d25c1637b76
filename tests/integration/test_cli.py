#!/usr/bin/env python3
"""The operator commands and the configuration surface of a running agent:
members, ping, check-config, secrets kept out of argv and logs, cookie file
permissions, config errors naming FILE:LINE, --help/--version, SIGHUP.

    python3 tests/integration/test_cli.py /path/to/rollcall
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import figure, wait_until  # noqa: E402

A, B = "a@127.0.0.2", "b@127.0.0.3"
DEAD = "dead@127.0.0.5"   # timestamp-only entry, no EPMD on its host: epmd_unreachable
GONE = "gone@127.0.0.6"   # full entry with a port nobody listens on: connect_refused
MEMBER_KEYS = {"node", "host", "port", "age_ms", "alive", "rtt_ms", "reason"}


class Cli(harness.AgentTestCase):
    interval = "200ms"
    ping_timeout = "150ms"
    stale_after = "30s"   # the dead entries must survive the test
    prune_after = "60s"
    epmd = "off"

    def opts(self, name="ops@127.0.0.1", cookie_file=None):
        o = self.common_args()
        if cookie_file:
            o[o.index("--cookie-file") + 1] = cookie_file
        return o + ["--name", name]

    def two_agents(self):
        a = self.agent(A)
        b = self.agent(B)
        self.wait_all_alive([a, b], timeout=5.0)
        return a, b

    def add_dead_entries(self):
        harness.write_beam_entry(self.regdir, DEAD)
        harness.write_full_entry(self.regdir, GONE, "127.0.0.6", harness.free_port("127.0.0.6"))

    # ------------------------------------------------------------------ members

    def test_members_json_and_table(self):
        a, b = self.two_agents()
        self.add_dead_entries()
        r = self.cli(*self.opts(), "members", "--json")
        self.assertEqual(r.returncode, 1, "members --json with dead entries: rc=%s\nstdout:\n%s\nstderr:\n%s"
                         % (r.returncode, r.stdout, r.stderr))
        try:
            rows = json.loads(r.stdout)
        except ValueError as e:
            self.fail("members --json is not JSON (%s):\n%s" % (e, r.stdout))
        self.assertIsInstance(rows, list)
        by = {row.get("node"): row for row in rows}
        self.assertEqual(sorted(by), sorted([A, B, DEAD, GONE]), r.stdout)
        for row in rows:
            self.assertEqual(set(row), MEMBER_KEYS, "keys of %r" % row)
            self.assertIsInstance(row["age_ms"], int)
            self.assertGreaterEqual(row["age_ms"], 0)
        for n, host in ((A, "127.0.0.2"), (B, "127.0.0.3")):
            row = by[n]
            self.assertIs(row["alive"], True, "%s: %r\n%s" % (n, row, self.excerpts(a, b)))
            self.assertEqual(row["reason"], "ok", repr(row))
            self.assertEqual(row["host"], host, repr(row))
            self.assertIsInstance(row["port"], int)
            self.assertGreater(row["port"], 0, repr(row))
            self.assertIsInstance(row["rtt_ms"], (int, float))
            self.assertGreaterEqual(row["rtt_ms"], 0)
        self.assertIs(by[DEAD]["alive"], False, repr(by[DEAD]))
        self.assertEqual(by[DEAD]["reason"], "epmd_unreachable", repr(by[DEAD]))
        self.assertEqual(by[DEAD]["host"], "127.0.0.5", repr(by[DEAD]))
        self.assertIs(by[GONE]["alive"], False, repr(by[GONE]))
        self.assertEqual(by[GONE]["reason"], "connect_refused", repr(by[GONE]))

        r = self.cli(*self.opts(), "members")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        for n in (A, B, DEAD, GONE):
            self.assertEqual(len([l for l in lines if l.split()[:1] == [n]]), 1,
                             "table has no single row for %s:\n%s" % (n, r.stdout))
        row = lambda n: [l for l in lines if l.split()[:1] == [n]][0]  # noqa: E731
        self.assertIn("epmd_unreachable", row(DEAD), r.stdout)
        self.assertIn("connect_refused", row(GONE), r.stdout)
        for n in (A, B):
            self.assertRegex(row(n), r"\btrue\b|\byes\b|\bup\b", r.stdout)
            self.assertNotRegex(row(n), r"epmd_unreachable|connect_refused|timeout|rejected", r.stdout)

        # All members answering: exit 0.
        os.unlink(os.path.join(self.regdir, DEAD))
        os.unlink(os.path.join(self.regdir, GONE))
        r = self.cli(*self.opts(), "members", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sorted(x["node"] for x in json.loads(r.stdout)), [A, B])

    # ------------------------------------------------------------------ ping

    def test_ping(self):
        a, b = self.two_agents()
        self.add_dead_entries()
        r = self.cli(*self.opts(), "ping", B)
        self.assertEqual(r.returncode, 0, "ping %s: %r %r" % (B, r.stdout, r.stderr))
        self.assertRegex(r.stdout.strip(), r"^pong b@127\.0\.0\.3 \(\d+(\.\d+)? ms\)$")
        r = self.cli(*self.opts(name=A), "ping", "self")
        self.assertEqual(r.returncode, 0, "ping self: %r %r\n%s" % (r.stdout, r.stderr, a.excerpt()))
        self.assertRegex(r.stdout.strip(), r"^pong a@127\.0\.0\.2 \(\d+(\.\d+)? ms\)$")
        r = self.cli(*self.opts(), "ping", DEAD)
        self.assertEqual(r.returncode, 1, "ping %s: %r %r" % (DEAD, r.stdout, r.stderr))
        self.assertEqual(r.stdout.strip(), "pang %s: epmd_unreachable" % DEAD)
        r = self.cli(*self.opts(), "ping", GONE)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.strip(), "pang %s: connect_refused" % GONE)
        # A wrong cookie: pang with the precise reason.
        wrong = os.path.join(self.tmp, "wrong-cookie")
        harness.write_cookie_file(wrong, harness.random_cookie())
        r = self.cli(*self.opts(cookie_file=wrong), "ping", B)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "pang %s: cookie_rejected" % B)

    # ------------------------------------------------------------------ secrets

    def test_check_config_masks_secrets(self):
        secret_pw = "pw" + harness.random_cookie(12)
        registry = "redis://user:%s@127.0.0.1:%d/0" % (secret_pw, harness.free_port())
        env_cookie = "ENV" + harness.random_cookie()
        cases = [
            ("cookie file", ["--cookie-file", self.cookie_file], {}, self.cookie),
            ("ROLLCALL_COOKIE", [], {"ROLLCALL_COOKIE": env_cookie}, env_cookie),
            ("--cookie", ["--cookie", "FLAG" + env_cookie], {}, "FLAG" + env_cookie),
        ]
        for what, args, env, secret in cases:
            r = self.cli("--name", A, "--registry", registry, *args, "check-config", env=env)
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 0, "check-config (%s): rc=%s\n%s" % (what, r.returncode, out))
            self.assertNotIn(secret, out, "check-config shows the cookie (%s)" % what)
            self.assertNotIn(secret_pw, out, "check-config shows the registry password")
            self.assertIn("***", out, "check-config masks nothing visibly (%s):\n%s" % (what, out))
            self.assertIn("127.0.0.1", out, "check-config does not show the registry host:\n%s" % out)
            self.assertIn(A, out)
            if what != "cookie file":
                cookie_lines = [l for l in r.stdout.splitlines() if re.search(r"\bcookie\b", l)
                                and "cookie_file" not in l]
                self.assertTrue(cookie_lines and all("***" in l for l in cookie_lines),
                                "the cookie line is not masked as ***:\n%s" % r.stdout)

    def test_cookie_not_in_cmdline_nor_logs(self):
        secret = "FLAG" + harness.random_cookie()
        a = harness.Agent(self, A, ["--cookie", secret, "--log-level", "debug"]).start()
        # b uses the same cookie from the environment.
        b = harness.Agent(self, B, ["--log-level", "debug"], env={"ROLLCALL_COOKIE": secret}).start()
        self.wait_all_alive([a, b], timeout=5.0)
        with open("/proc/%d/cmdline" % a.pid, "rb") as f:
            cmdline = f.read()
        self.assertNotIn(secret.encode(), cmdline, "the cookie is visible in /proc/PID/cmdline: %r" % cmdline)
        self.assertIn(b"--cookie", cmdline)  # the flag is there, its value scrubbed
        ps = harness.run(["ps", "-ww", "-o", "args=", "-p", str(a.pid)], harness.child_env(self.home))
        if ps.returncode == 0:
            self.assertNotIn(secret, ps.stdout, "the cookie is visible in ps: %s" % ps.stdout)
        # A wrong-cookie handshake in and out (the CLI), then look at every line logged.
        wrong = os.path.join(self.tmp, "wrong-cookie")
        harness.write_cookie_file(wrong, harness.random_cookie())
        self.cli(*self.opts(cookie_file=wrong), "ping", A)
        time.sleep(0.5)
        a.terminate()
        b.terminate()
        for ag in (a, b):
            for l in ag.lines():
                self.assertNotIn(secret, l, "the cookie is in a log line of %s: %s" % (ag.name, l))

    def test_cookie_file_readable_by_others_is_refused(self):
        loose = os.path.join(self.tmp, "loose-cookie")
        harness.write_cookie_file(loose, harness.random_cookie(), mode=0o644)
        for cmd in (["run"], ["members"], ["check-config"]):
            t = time.time()
            r = self.cli(*self.opts(cookie_file=loose), *cmd, timeout=10)
            self.assertEqual(r.returncode, 2, "%s with a 0644 cookie file: rc=%s\n%s%s"
                             % (cmd, r.returncode, r.stdout, r.stderr))
            self.assertLess(time.time() - t, 5)
            self.assertIn(loose, r.stderr, "the error does not name the file:\n%s" % r.stderr)
            self.assertRegex(r.stderr.lower(), r"permission|mode|readable|group|other|0644|0600|0400",
                             "the error does not say what is wrong:\n%s" % r.stderr)
        self.assertEqual(os.listdir(self.regdir), [], "an agent with a refused cookie published itself")

    # ------------------------------------------------------------------ config errors

    def test_config_errors_name_file_and_line(self):
        ini = os.path.join(self.tmp, "bad.ini")
        with open(ini, "w") as f:
            f.write("[agent]\n"                   # 1
                    "interval = banana\n"          # 2
                    "ping_timeout = 150ms\n"       # 3
                    "[log]\n"                      # 4
                    "log_format = xml\n"           # 5
                    "this line is not ini\n")      # 6
        for cmd in (["check-config"], ["run"]):
            r = self.cli("-c", ini, "--cookie-file", self.cookie_file, "--registry", "file://" + self.regdir,
                         *cmd, timeout=10)
            # the daemon exits 78 (EX_CONFIG: systemd does not restart it), the CLI 2
            want = 78 if cmd == ["run"] else 2
            self.assertEqual(r.returncode, want, "%s: rc=%s\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr))
            for line in (2, 5, 6):
                self.assertIn("%s:%d" % (ini, line), r.stderr, "%s: no error naming %s:%d:\n%s"
                              % (cmd, ini, line, r.stderr))
            self.assertNotIn("%s:3" % ini, r.stderr)
        # The environment and flags name their origin too.
        r = self.cli("--cookie-file", self.cookie_file, "check-config", env={"ROLLCALL_INTERVAL": "banana"})
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("ROLLCALL_INTERVAL", r.stderr)
        r = self.cli("--cookie-file", self.cookie_file, "--ping-timeout", "soon", "check-config")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("ping-timeout", r.stderr)
        # A missing ini file is an error that names it.
        missing = os.path.join(self.tmp, "missing.ini")
        r = self.cli("-c", missing, "--cookie-file", self.cookie_file, "check-config")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(missing, r.stderr)

    def test_help_and_version(self):
        r = self.cli("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage", r.stdout.lower())
        for word in ("members", "ping", "check-config", "--registry", "--cookie-file"):
            self.assertIn(word, r.stdout)
        r = self.cli("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^rollcall \d+\.\d+\.\d+")

    # ------------------------------------------------------------------ SIGHUP

    def write_ini(self, path, interval, extra=""):
        harness.write_atomic(path, (
            "[node]\n"
            "name = %s\n"
            "cookie_file = %s\n"
            "epmd = off\n"
            "epmd_port = %d\n"
            "[registry]\n"
            "registry = file://%s\n"
            "stale_after = 30s\n"
            "prune_after = 60s\n"
            "[agent]\n"
            "interval = %s\n"
            "ping_timeout = 150ms\n"
            "[log]\n"
            "log_format = json\n"
            "%s") % (A, self.cookie_file, self.epmd_port, self.regdir, interval, extra))

    def sweep_gaps(self, agent, since, until=None):
        ts = [e["_t"] for e in agent.find(since=since, msg="sweep", node=B)
              if until is None or e["_t"] <= until]
        return [y - x for x, y in zip(ts, ts[1:])]

    def test_log_file_reopened_on_sighup(self):
        logf = os.path.join(self.tmp, "rollcall.log")
        a = harness.Agent(self, A, ["--log-file", logf]).start()
        b = self.agent(B)
        has_sweep = lambda path: os.path.exists(path) and '"msg":"sweep"' in open(path).read()  # noqa: E731
        self.assertTrue(wait_until(lambda: has_sweep(logf), 5.0),
                        "nothing logged to --log-file %s\nstderr:\n%s" % (logf, a.excerpt()))
        # logrotate: move the file away, SIGHUP, the agent writes a new one.
        os.rename(logf, logf + ".1")
        time.sleep(0.3)
        a.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: has_sweep(logf), 3.0),
                        "no new %s after rename + SIGHUP\nstderr:\n%s" % (logf, a.excerpt()))
        n_old = len(open(logf + ".1").read().splitlines())
        time.sleep(0.5)
        self.assertEqual(len(open(logf + ".1").read().splitlines()), n_old,
                         "the agent still writes to the rotated file")
        self.assertTrue(a.running())
        self.assertNotIn('"msg":"sweep"', "\n".join(a.lines()), "sweeps went to stderr despite --log-file")
        b.terminate()

    def test_sighup_reload(self):
        ini = os.path.join(self.tmp, "rollcall.ini")
        self.write_ini(ini, "200ms")
        a = harness.Agent(self, A, config=ini, with_defaults=False).start()
        b = self.agent(B)
        self.wait_all_alive([a, b], timeout=5.0)
        time.sleep(1.0)
        gaps = self.sweep_gaps(a, a.t_start)
        self.assertTrue(gaps and 0.15 <= sorted(gaps)[len(gaps) // 2] <= 0.3,
                        "sweeps before reload not ~200 ms apart: %s\n%s" % (gaps, a.excerpt()))

        # A valid change is applied.
        self.write_ini(ini, "600ms")
        t_hup = time.time()
        a.signal(signal.SIGHUP)
        ev = wait_until(lambda: [e for e in a.find(since=t_hup - 0.01) if "reloaded" in str(e.get("msg"))], 3.0)
        self.assertTrue(ev, "no 'reloaded' log line after SIGHUP\n%s" % a.excerpt())
        time.sleep(2.2)
        gaps = self.sweep_gaps(a, ev[0]["_t"])
        figure(self, "sweep gaps after reload to 600ms", ["%.0f" % (g * 1000) for g in gaps])
        self.assertGreaterEqual(len(gaps), 2, a.excerpt())
        # Never as short as the 200 ms before; typically 600 (the median, so
        # that one late timer on a loaded machine is not a failure).
        self.assertTrue(min(gaps) >= 0.45 and 0.5 <= sorted(gaps)[len(gaps) // 2] <= 0.75,
                        "sweeps after reloading interval = 600ms are %s ms apart\n%s"
                        % (["%.0f" % (g * 1000) for g in gaps], a.excerpt()))

        # An invalid file is not applied, not even its valid part, and the agent goes on.
        self.write_ini(ini, "300ms", "log_level = chatty\n")  # line 15 is invalid
        t_hup2 = time.time()
        a.signal(signal.SIGHUP)
        err = wait_until(lambda: [e for e in a.find(since=t_hup2 - 0.01) if e.get("level") == "error"], 3.0)
        self.assertTrue(err, "no error logged for an invalid ini on SIGHUP\n%s" % a.excerpt())
        self.assertIn("%s:15" % ini, json.dumps(err), "the reload error does not name %s:15: %r" % (ini, err))
        self.assertFalse([e for e in a.find(since=t_hup2 - 0.01) if "reloaded" in str(e.get("msg"))],
                         "an invalid config was reported reloaded")
        time.sleep(2.2)
        self.assertTrue(a.running(), "the agent died after an invalid reload\n%s" % a.excerpt())
        gaps = self.sweep_gaps(a, t_hup2)
        figure(self, "sweep gaps after invalid reload", ["%.0f" % (g * 1000) for g in gaps])
        self.assertGreaterEqual(len(gaps), 2, a.excerpt())
        self.assertTrue(min(gaps) >= 0.45 and 0.5 <= sorted(gaps)[len(gaps) // 2] <= 0.75,
                        "after an invalid reload (interval = 300ms + a bad line) sweeps are %s ms apart; "
                        "the old 600ms should stay\n%s" % (["%.0f" % (g * 1000) for g in gaps], a.excerpt()))
        self.assertEqual(a.terminate(), 0)


if __name__ == "__main__":
    harness.main()
