#!/usr/bin/env python3
"""Security checks as tests (issue 5): the cookie appears in no log line, no
check-config output and no /proc/PID/cmdline when given by file or by
environment; a cookie file with group/other permissions is refused; the
embedded EPMD refuses ALIVE2 from a non-loopback address (in a network
namespace the test makes, with a dummy interface); names with newlines or
escape characters from the registry and the network never reach a log line
unescaped.

    python3 tests/faults/test_security.py /path/to/rollcall [name-substring ...]
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
import harness  # noqa: E402
from harness import figure, wait_until  # noqa: E402

A, B = "a@127.0.0.2", "b@127.0.0.3"
NS_ADDR = "10.77.0.1"  # on a dummy interface inside the test's own network namespace


def alive2(epmd_port, alive, src=None, dst="127.0.0.1", timeout=2.0):
    """ALIVE2_REQ from src; returns (reply bytes, socket) - the socket is the registration."""
    s = socket.socket()
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((dst, epmd_port))
    name = alive.encode()
    body = b"x" + struct.pack(">HBBHHH", 9999, 77, 0, 6, 5, len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">H", len(body)) + body)
    try:
        data = s.recv(16)
    except (socket.timeout, ConnectionResetError):
        data = b""
    return data, s


def netns_inner(rollcall, tmp):
    """Runs inside `unshare -n`: lo and a dummy interface with NS_ADDR."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A dummy interface where the kernel has the module; else the address
    # goes on this namespace's own lo (still not 127/8: not loopback to EPMD).
    if subprocess.run(["ip", "link", "add", "rcdummy0", "type", "dummy"],
                      stderr=subprocess.DEVNULL).returncode == 0:
        subprocess.run(["ip", "addr", "add", NS_ADDR + "/24", "dev", "rcdummy0"], check=True)
        subprocess.run(["ip", "link", "set", "rcdummy0", "up"], check=True)
    else:
        subprocess.run(["ip", "addr", "add", NS_ADDR + "/32", "dev", "lo"], check=True)
    port = harness.free_port()
    reg = os.path.join(tmp, "ns-registry")
    os.makedirs(reg, exist_ok=True)
    log = open(os.path.join(tmp, "ns-agent.log"), "wb")
    env = harness.child_env(os.path.join(tmp, "home"))
    p = subprocess.Popen([rollcall, "run", "--name", "a@127.0.0.1", "--cookie-file",
                          os.path.join(tmp, "cookie"), "--registry", "file://" + reg,
                          "--epmd", "embedded", "--epmd-port", str(port), "--log-format", "json",
                          # every address: the EPMD's own ALIVE2 rule is under test (a node
                          # named for loopback listens on loopback only by default)
                          "--bind", "0.0.0.0"],
                         env=env, stdout=log, stderr=log)
    out = {}
    try:
        if not wait_until(lambda: harness.epmd_names(port) is not None, 10):
            out["error"] = "embedded epmd never answered"
            return out
        remote, s1 = alive2(port, "intruder", src=NS_ADDR, dst=NS_ADDR)
        local, s2 = alive2(port, "local", src="127.0.0.1")
        out["remote_reply"] = remote.hex()
        out["local_reply"] = local.hex()
        out["names"] = harness.epmd_names(port)
        out["remote_port_please"] = harness.epmd_port_please(port, "intruder")
        s1.close()
        s2.close()
    finally:
        p.terminate()
        out["rc"] = p.wait(timeout=5)
    return out


class Security(harness.AgentTestCase):
    interval = "200ms"
    ping_timeout = "300ms"
    stale_after = "5s"
    prune_after = "10s"
    epmd = "off"

    def test_1_cookie_never_shown_by_file_or_environment(self):
        env_cookie = "ENV" + harness.random_cookie()
        env_cookie_file = os.path.join(self.tmp, "env-cookie")
        harness.write_cookie_file(env_cookie_file, env_cookie)
        # a: cookie from the file given on the command line; b: ROLLCALL_COOKIE;
        # each also pinged with a wrong cookie, logs at debug.
        a = self.agent(A, "--log-level", "debug")
        b_args = [x for x in self.common_args()]
        i = b_args.index("--cookie-file")
        del b_args[i:i + 2]
        b = harness.Agent(self, B, ["--log-level", "debug"], env={"ROLLCALL_COOKIE": self.cookie},
                          with_defaults=False)
        b.argv = lambda: [harness.ROLLCALL, "run", "--name", B, "--log-format", "json",
                          "--log-level", "debug"] + b_args
        b.start()
        self.wait_all_alive([a, b], timeout=8.0)
        for ag in (a, b):
            port = fl.dist_port(ag)
            host = ag.name.split("@")[1]
            ok, _, _ = fl.ping(host, port, "x@127.0.0.1", ag.name, "WRONG" + self.cookie)
            self.assertFalse(ok)
            with open("/proc/%d/cmdline" % ag.pid, "rb") as f:
                self.assertNotIn(self.cookie.encode(), f.read(), "cookie in /proc/PID/cmdline")
        # check-config, by file and by environment
        for what, args, env in (("file", ["--cookie-file", self.cookie_file], {}),
                                ("env", [], {"ROLLCALL_COOKIE": self.cookie}),
                                ("env file", ["--cookie-file", env_cookie_file], {})):
            r = self.cli("--name", A, "--registry", "file://" + self.regdir, *args, "check-config", env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            for secret in (self.cookie, env_cookie):
                self.assertNotIn(secret, r.stdout + r.stderr, "check-config (%s) shows the cookie" % what)
        time.sleep(0.5)
        a.terminate()
        b.terminate()
        n = 0
        for ag in (a, b):
            for l in ag.lines():
                n += 1
                self.assertNotIn(self.cookie, l, "cookie in a log line of %s: %s" % (ag.name, l))
        figure(self, "log lines checked (debug level)", n)

    def test_2_cookie_file_with_group_or_other_bits_is_refused(self):
        for mode in (0o640, 0o604, 0o660, 0o606, 0o644):
            path = os.path.join(self.tmp, "cookie-%o" % mode)
            harness.write_cookie_file(path, self.cookie, mode=mode)
            r = self.cli("--name", A, "--registry", "file://" + self.regdir, "--cookie-file", path,
                         "--epmd", "off", "run", timeout=10)
            self.assertEqual(r.returncode, 2, "mode %o accepted: rc=%s\n%s" % (mode, r.returncode, r.stderr))
            self.assertIn(path, r.stderr)
            self.assertNotIn(self.cookie, r.stdout + r.stderr)
        self.assertEqual(os.listdir(self.regdir), [])

    def test_3_embedded_epmd_refuses_alive2_from_non_loopback(self):
        if not shutil.which("unshare") or not shutil.which("ip"):
            self.fail("unshare (util-linux) and ip (iproute2) are needed")
        os.makedirs(os.path.join(self.tmp, "home"), exist_ok=True)
        r = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__), "--netns-inner",
                            harness.ROLLCALL, self.tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        if r.returncode != 0 and "Operation not permitted" in r.stderr:
            self.skipTest("cannot create a network namespace here: %s" % r.stderr.strip())
        self.assertEqual(r.returncode, 0, "inner run failed:\n%s\n%s" % (r.stdout, r.stderr))
        out = json.loads(r.stdout.strip().splitlines()[-1])
        log = harness.tail(os.path.join(self.tmp, "ns-agent.log"), 30)
        self.assertNotIn("error", out, "%s\n%s" % (out, log))
        figure(self, "ALIVE2 reply from %s / from 127.0.0.1" % NS_ADDR,
               "%r / %r" % (out["remote_reply"], out["local_reply"]))
        remote = bytes.fromhex(out["remote_reply"])
        self.assertFalse(len(remote) >= 2 and remote[0] in (118, 121) and remote[1] == 0,
                         "ALIVE2 from %s was accepted: %r\n%s" % (NS_ADDR, remote, log))
        local = bytes.fromhex(out["local_reply"])
        self.assertTrue(len(local) >= 2 and local[0] == 118 and local[1] == 0,
                        "the control ALIVE2 from loopback failed: %r\n%s" % (local, log))
        self.assertNotIn("intruder", out["names"] or {}, out)
        self.assertIn("local", out["names"] or {}, out)
        self.assertIsNone(out["remote_port_please"])
        self.assertIn("non-loopback", log, "the refusal was not logged:\n%s" % log)
        self.assertEqual(out["rc"], 0, log)

    def test_4_hostile_names_are_escaped_in_every_log_format(self):
        bad_files = ["esc\x1b[31mred@127.0.0.9", "nl\nname@127.0.0.9", "cr\rx@127.0.0.9",
                     "bell\x07@127.0.0.9", "utf\xff\xfe@127.0.0.9".encode("latin-1").decode("utf-8", "surrogateescape"),
                     "ok@127.0.0.9"]
        for n in bad_files:
            try:
                with open(os.path.join(self.regdir, n).encode("utf-8", "surrogateescape"), "w") as f:
                    f.write(harness.iso_now() + "\n")
            except OSError as e:
                self.fail("cannot create %r: %s" % (n, e))
        harness.write_atomic(os.path.join(self.regdir, "named@127.0.0.9"),
                             harness.iso_now() + "\nname=na\x1bme@127.0.0.9\nhost=127.0.0.9\x1b[2J\nport=1\n")
        agents = [self.agent("f%d@127.0.0.%d" % (i, 2 + i), "--log-level", "debug", log_format=fmt)
                  for i, fmt in enumerate(("elixir", "text", "json"))]
        time.sleep(1.5)
        # Hostile names from the network too: a handshake and an EPMD ALIVE2.
        for ag in agents:
            line = ag.wait_line(lambda l: "distribution port" in l, 2)
            if line:
                p = int(line.split("distribution port ")[1].split()[0].rstrip(","))
                for nm in ("ev\x1bil@127.0.0.1", "ev\nil@127.0.0.1"):
                    fl.ping(ag.name.split("@")[1], p, nm, ag.name, self.cookie, timeout=1)
        time.sleep(0.5)
        for ag in agents:
            ag.terminate()
            lines = fl.raw_lines(ag.log)
            self.assertTrue(any(b"skipping entry" in l or b"esc" in l for l in lines),
                            "the hostile entries were not mentioned at all\n%s" % ag.excerpt())
            for l in lines:
                self.assertFalse(fl.CONTROL_RE.search(l.decode("utf-8", "surrogateescape")),
                                 "%s (%s): a raw control byte reached the log: %r" % (
                                     ag.name, ag.log_format, l))
                try:
                    l.decode("utf-8")
                except UnicodeDecodeError:
                    self.fail("%s: invalid UTF-8 reached the log: %r" % (ag.name, l))
            self.assertFalse(any(b"nl\nname" in l for l in lines))
        figure(self, "log lines checked (3 formats)", sum(len(fl.raw_lines(a.log)) for a in agents))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--netns-inner":
        print(json.dumps(netns_inner(sys.argv[2], sys.argv[3])))
        sys.exit(0)
    harness.main()
