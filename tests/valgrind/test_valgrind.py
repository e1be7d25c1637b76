#!/usr/bin/env python3
"""The agent under valgrind memcheck in a small cluster (issue 5).

One agent runs under `valgrind --leak-check=full`, beside two plain agents
on the same file registry, with the embedded EPMD. While it runs it is
pinged the way OTP pings (EPMD lookup, handshake, is_auth), handed a wrong
cookie, garbage after a handshake, an oversized length prefix and garbage
registry entries; peers come and go (one is killed -9). Then SIGTERM. The
test fails on any memcheck error or any definite leak, and if the agent did
not leave cleanly (exit 0, own entry removed).

    python3 tests/valgrind/test_valgrind.py /path/to/rollcall-without-sanitizers

(an ASan-instrumented binary cannot run under valgrind: CMake builds a
plain `rollcall_vg` for this test when ROLLCALL_SANITIZE is on).
"""
import os
import re
import shutil
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faults"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import faultlib as fl  # noqa: E402
import harness  # noqa: E402
from harness import figure, wait_until  # noqa: E402

V, B, C = "vg@127.0.0.2", "b@127.0.0.3", "c@127.0.0.4"
ME = "tester@127.0.0.1"


class Memcheck(harness.AgentTestCase):
    interval = "500ms"
    ping_timeout = "1s"
    stale_after = "3s"
    prune_after = "3s"
    epmd = "off"

    def test_agent_under_memcheck(self):
        if not shutil.which("valgrind"):
            self.fail("valgrind is not installed (apt-get install valgrind)")
        vlog = os.path.join(self.tmp, "valgrind.log")
        v = harness.Agent(self, V, ["--epmd", "embedded", "--log-level", "debug"])
        orig = v.argv
        v.argv = lambda: ["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
                          "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                          "--track-fds=no", "--log-file=" + vlog] + orig()
        v.start()
        b = self.agent(B)
        c = self.agent(C)
        self.wait_all_alive([v, b, c], timeout=60.0)
        port = fl.dist_port(v, 10)
        # OTP-style pings through the embedded EPMD, a wrong cookie, garbage.
        for _ in range(3):
            ok, t, why = fl.ping_via_epmd(self.epmd_port, ME, V, self.cookie, timeout=10)
            self.assertTrue(ok, "ping under valgrind: %s\n%s" % (why, v.excerpt()))
        figure(self, "ping round trip under valgrind", harness.ms(t))
        self.assertFalse(fl.ping("127.0.0.2", port, ME, V, "WRONG", timeout=5)[0])
        for data in (b"\xff\xff\xff\xff", struct.pack(">I", 5) + b"p\x83\x63\x00\x00", b"junk"):
            try:
                s = fl.handshake("127.0.0.2", port, ME, V, self.cookie, timeout=10)
                s.sendall(data)
                s.settimeout(3)
                try:
                    s.recv(16)
                except OSError:
                    pass
                s.close()
            except fl.HandshakeRefused as e:
                self.fail("handshake under valgrind: %s" % e)
        silent = socket.create_connection(("127.0.0.2", port))
        harness.write_atomic(os.path.join(self.regdir, "garbage@127.0.0.9"), "\x00\x01 not a timestamp\n")
        harness.write_full_entry(self.regdir, "gone@127.0.0.6", "127.0.0.6", harness.free_port("127.0.0.6"))
        # A peer killed -9 (reported down, then pruned) and one that leaves cleanly.
        c.kill9()
        b.terminate()
        self.assertTrue(wait_until(lambda: not os.path.exists(os.path.join(self.regdir, C)), 20),
                        "the killed peer was never pruned\n%s" % v.excerpt())
        silent.close()
        time.sleep(1.0)
        t = time.monotonic()
        rc = v.terminate(timeout=60)
        figure(self, "exit under valgrind after SIGTERM", harness.ms(time.monotonic() - t))
        report = harness.tail(vlog, 200)
        self.assertIsNotNone(rc, "the agent did not leave within 60 s under valgrind")
        self.assertEqual(rc, 0, "exit status %s (99 = memcheck errors or definite leaks):\n%s\n%s"
                         % (rc, report, v.excerpt()))
        self.assertFalse(re.search(r"definitely lost: [1-9]", report), report)
        self.assertIn("ERROR SUMMARY: 0 errors", report, "no memcheck summary:\n%s" % report)
        self.assertFalse(re.search(r"ERROR SUMMARY: [1-9]", report), report)
        leaks = re.search(r"definitely lost: [\d,]+ bytes in [\d,]+ blocks|All heap blocks were freed", report)
        self.assertTrue(leaks, "no leak summary:\n%s" % report)
        figure(self, "memcheck leak summary", leaks.group(0))
        self.assertFalse(os.path.exists(os.path.join(self.regdir, V)), "own entry left behind")
        figure(self, "memcheck", "0 errors, 0 definite leaks")


if __name__ == "__main__":
    harness.main()
