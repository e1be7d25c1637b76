#!/usr/bin/env python3
"""Registry and signal faults (issue 5): the registry directory becomes
unreadable, or full; SIGTERM during a sweep, during registry writes and
during a handshake. Clear error, recovery when fixed; a clean exit that
removes our own entry and leaves no temp file.

    python3 tests/faults/test_registry.py /path/to/rollcall [name-substring ...]
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
import harness  # noqa: E402
from harness import figure, wait_until, ms  # noqa: E402

A, B = "a@127.0.0.2", "b@127.0.0.3"
NOBODY = 65534


def leftovers(regdir):
    """Temp or partial files an agent left behind (dotfiles are its temps)."""
    try:
        return [n for n in os.listdir(regdir) if n.startswith(".")]
    except OSError:
        return []


class Registry(harness.AgentTestCase):
    interval = "200ms"
    ping_timeout = "300ms"
    stale_after = "5s"
    prune_after = "10s"
    epmd = "off"

    _mnt = None

    def tearDown(self):
        try:
            super().tearDown()  # stops the agents; the temp dir minus the mount
        finally:
            if self._mnt:
                subprocess.run(["umount", "-l", self._mnt])
                shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_clean_exit(self, ag, label):
        rc = ag.terminate(timeout=5)
        self.assertEqual(rc, 0, "%s: exit status %s on SIGTERM\n%s" % (label, rc, ag.excerpt()))
        self.assertFalse(ag.sanitizer_lines(), ag.excerpt(60))
        self.assertFalse(os.path.exists(os.path.join(self.regdir, ag.name)),
                         "%s: own entry left in the registry" % label)
        self.assertEqual(leftovers(self.regdir), [], "%s: temp files left" % label)

    # ------------------------------------------------------------------ unreadable

    def test_1_registry_directory_unreadable_then_fixed(self):
        if not shutil.which("setpriv"):
            self.fail("setpriv (util-linux) is needed to run the agent unprivileged")
        # Root ignores permissions: the agent runs as nobody, owning its files.
        os.chmod(self.tmp, 0o755)
        for p in (self.regdir, self.home):
            os.chown(p, NOBODY, NOBODY)
        os.chown(self.cookie_file, NOBODY, NOBODY)
        wrap = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--"]
        a = harness.Agent(self, A, [])
        orig = a.argv
        a.argv = lambda: wrap + orig()
        a.start()
        b = self.agent(B)  # root: keeps the directory's contents fresh for a
        self.wait_all_alive([a, b], timeout=8.0)
        t0 = time.time()
        os.chmod(self.regdir, 0o000)
        line = a.wait_line(lambda l: "registry unavailable" in l, 3.0)
        t_err = time.time() - t0
        self.assertTrue(line, "no error for an unreadable registry\n%s" % a.excerpt())
        self.assertIn("ermission", line, "the error does not say why: %s" % line)
        self.assertIn(self.regdir, line, "the error does not name the directory: %s" % line)
        time.sleep(1.0)  # several intervals of outage
        errs = [l for l in a.lines() if "registry unavailable" in l]
        self.assertEqual(len(errs), 1, "the outage is logged %d times" % len(errs))
        # Pinging the last known members goes on.
        self.assertTrue(a.first_sweep_all_alive([B], since=time.time() - 0.5), a.excerpt())
        t1 = time.time()
        os.chmod(self.regdir, 0o755)
        ok = a.wait_line(lambda l: "registry available again" in l, 3.0)
        t_ok = time.time() - t1
        figure(self, "error logged after / recovered after", "%s / %s" % (ms(t_err), ms(t_ok)))
        self.assertTrue(ok, "no recovery once readable again\n%s" % a.excerpt())
        self.assertLess(t_ok, 2 * 0.2 + 0.5, "recovery took more than one interval")
        self.assertTrue(wait_until(lambda: os.path.exists(os.path.join(self.regdir, A)), 2))
        self.assert_clean_exit(a, "unprivileged agent")

    # ------------------------------------------------------------------ full

    def test_2_registry_file_system_full_then_fixed(self):
        mnt = os.path.join(self.tmp, "small")
        os.mkdir(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=755", "tmpfs", mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (%s): the full-disk case is not tested" % r.stdout.strip())
        self._mnt = mnt
        self.regdir = os.path.join(mnt, "registry")
        os.mkdir(self.regdir)
        # heartbeat = interval: a touches the store every interval. A
        # heartbeat of an unchanged entry only sets its mtime, which needs no
        # space; so the entry is removed once the disk is full, and a must
        # write it anew into a full file system.
        a = self.agent(A, "--heartbeat", self.interval)
        b = self.agent(B)
        self.wait_all_alive([a, b], timeout=8.0)
        filler = os.path.join(mnt, "filler")

        def fill():
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * 1024)
            except OSError:
                pass
            finally:
                os.close(fd)
        fill()
        os.unlink(os.path.join(self.regdir, A))
        fill()  # the entry's page too
        t0 = time.time()
        line = a.wait_line(lambda l: "registry unavailable" in l, 3.0)
        self.assertTrue(line, "no error on a full registry file system\n%s" % a.excerpt())
        self.assertRegex(line, "No space left|ENOSPC|space", "the error does not say why: %s" % line)
        t_err = time.time() - t0
        time.sleep(1.0)
        self.assertEqual(leftovers(self.regdir), [], "temp files left on a full disk")
        self.assertTrue(a.running() and b.running())
        t1 = time.time()
        os.unlink(filler)
        ok = a.wait_line(lambda l: "registry available again" in l, 3.0)
        t_ok = time.time() - t1
        figure(self, "error logged after / recovered after", "%s / %s" % (ms(t_err), ms(t_ok)))
        self.assertTrue(ok, "no recovery once space is back\n%s" % a.excerpt())
        self.assertLess(t_ok, 2 * 0.2 + 0.5)
        self.assertTrue(os.path.exists(os.path.join(self.regdir, A)), "the entry was not written again")
        self.assert_clean_exit(a, "agent a")
        self.assert_clean_exit(b, "agent b")

    # ------------------------------------------------------------------ SIGTERM

    def test_3_sigterm_during_a_sweep(self):
        # A peer that accepts and never answers: every sweep waits for it
        # until ping_timeout (2 s), so a SIGTERM lands inside a sweep.
        lis = socket.socket()
        lis.bind(("127.0.0.5", 0))
        lis.listen(64)
        self.addCleanup(lis.close)
        harness.write_full_entry(self.regdir, "mute@127.0.0.5", "127.0.0.5", lis.getsockname()[1])
        a = self.agent(A, "--ping-timeout", "2s", "--log-level", "debug")
        wait_until(lambda: any("mute@127.0.0.5" in l for l in a.lines()) or
                   os.path.exists(os.path.join(self.regdir, A)), 5)
        time.sleep(0.6)  # the first sweep is under way (it ends at 2 s)
        t = time.monotonic()
        self.assert_clean_exit(a, "SIGTERM during a sweep")
        figure(self, "exit after SIGTERM during a sweep", ms(time.monotonic() - t))

    def test_4_sigterm_during_registry_writes(self):
        # interval 10 ms: the worker is nearly always publishing or listing;
        # SIGTERM at random moments, many times.
        runs, t_max = 12, 0.0
        rnd = random.Random(7)
        for i in range(runs):
            name = "w%d@127.0.0.2" % i
            a = harness.Agent(self, name, ["--interval", "10ms"]).start()
            if not wait_until(lambda: os.path.exists(os.path.join(self.regdir, name)), 5):
                self.fail("agent %s never published\n%s" % (name, a.excerpt()))
            time.sleep(rnd.uniform(0.0, 0.05))
            t = time.monotonic()
            self.assert_clean_exit(a, "SIGTERM during writes (run %d)" % i)
            t_max = max(t_max, time.monotonic() - t)
        figure(self, "runs / slowest exit", "%d / %s" % (runs, ms(t_max)))
        self.assertEqual(os.listdir(self.regdir), [], "entries left: %s" % os.listdir(self.regdir))

    def test_5_sigterm_during_a_handshake(self):
        a = self.agent(A)
        port = fl.dist_port(a)
        self.assertTrue(wait_until(lambda: os.path.exists(os.path.join(self.regdir, A)), 5))
        # Inbound: our handshake stops after the challenge; the agent waits for 'r'.
        s1 = fl.handshake("127.0.0.2", port, "half@127.0.0.1", A, self.cookie, stop_after="challenge")
        s2 = fl.handshake("127.0.0.2", port, "half2@127.0.0.1", A, self.cookie, stop_after="name")
        # Outbound: a listed peer that accepts and reads but never answers.
        lis = socket.socket()
        lis.bind(("127.0.0.6", 0))
        lis.listen(8)
        self.addCleanup(lis.close)
        harness.write_full_entry(self.regdir, "slow@127.0.0.6", "127.0.0.6", lis.getsockname()[1])
        lis.settimeout(3)
        conn, _ = lis.accept()  # the agent dialled and sent its name
        self.addCleanup(conn.close)
        self.assertTrue(conn.recv(64), "the agent sent no send_name")
        t = time.monotonic()
        self.assert_clean_exit(a, "SIGTERM during handshakes")
        figure(self, "exit with two inbound and one outbound handshake pending", ms(time.monotonic() - t))
        s1.close()
        s2.close()


if __name__ == "__main__":
    harness.main()
