#!/usr/bin/env python3
"""rollcall against real BEAM releases (issue 14): OTP 25 on this machine,
OTP 27 and OTP 29 from the images tests/interop/build-otp-image.sh builds.

    python3 tests/interop/test_interop.py /path/to/rollcall host [name-substring ...]
    python3 tests/interop/test_interop.py /path/to/rollcall 27   [name-substring ...]
    python3 tests/interop/test_interop.py /path/to/rollcall 29   [name-substring ...]

`host` runs erl from this machine (Debian 12: OTP 25). `27` / `29` start one
container from the image (built first when missing; a lock makes a
concurrent build wait) with no network of its own (`--network none`, IPv6 on
its loopback), then run this script again inside that container's network
namespace (nsenter --net): the agents and every socket the test opens live
there, on 127.0.0.1 and ::1, and each BEAM node is started in the container
with `docker exec`. So nothing here touches the host's ports, and the test
works the same inside a test namespace.

What it checks, for each release: pings both ways with rollcall hidden,
wrong cookies, `-start_epmd false` against rollcall's embedded EPMD, 255-byte
node names, the simultaneous-connect loop (1000 x disconnect + ping from a
BEAM node that rollcall pings every 100 ms: no pang), net_ticktime 8 and 300,
`-proto_dist inet6_tcp` both ways (IPv6 literal names, a registry entry with
an IPv6 host and one with an AAAA-only name), `-proto_dist inet_tls` both
ways (certificates made here with openssl), and the refusals: TLS where plain
is spoken and the reverse (reason tls_required), a certificate from another
CA (tls_failed).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import ErlNode, child_env, figure, ms, tail, wait_until  # noqa: E402

RELEASE = None  # "host", "27" or "29"
CONTAINER = os.environ.get("ROLLCALL_INTEROP_CONTAINER")  # set inside the namespace
WANT_OTP = {"host": None, "27": "27", "29": "29"}


class Beam(ErlNode):
    """An erl node, in the release's container when there is one."""

    def start(self, timeout=30):
        self.log = os.path.join(self.test.tmp, "erl-%s.stderr" % self.name[:40])
        args = ["erl", "-name", self.name, "-noshell", "-setcookie", self.cookie]
        if not self.start_epmd:
            args += ["-start_epmd", "false"]
        args += self.extra + ["-eval", harness._ERL_REPL]
        extra_env = dict(getattr(self, "env_extra", {}), ERL_EPMD_PORT=str(self.epmd_port))
        env = child_env(self.test.home, extra_env)
        if CONTAINER:
            flags = ["-e", "HOME=%s" % self.test.home]
            for k, v in extra_env.items():
                flags += ["-e", "%s=%s" % (k, v)]
            args = ["docker", "exec", "-i", "-w", self.test.tmp] + flags + [CONTAINER] + args
        self._err = open(self.log, "w")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, cwd=self.test.tmp)
        self.test.procs.append(self)
        import threading
        threading.Thread(target=self._reader, daemon=True).start()
        got = self.eval("node()", timeout=timeout)
        if got != "'%s'" % self.name:
            raise AssertionError("erl %s started as %s\n%s" % (self.name, got, self.output()))
        return self


def sh(args, **kw):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed:\n%s" % (" ".join(args), r.stdout[-2000:]))
    return r.stdout


def make_certs(d, more_hosts=()):
    """A CA, certificates for the agent and the BEAM signed by it, and a
    second CA with its own certificate (the wrong CA). more_hosts: further
    IPv4 addresses the certificates name."""
    ext = os.path.join(d, "san.ext")
    more = "".join(",IP:%s,DNS:%s" % (h, h) for h in more_hosts)
    with open(ext, "w") as f:
        # OTP's TLS client checks the host part of the node name against
        # the certificate even with server_name_indication disable, as a
        # DNS name: hence DNS:127.0.0.1 next to the IP entry
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:127.0.0.1%s\n" % more +
                "extendedKeyUsage=serverAuth,clientAuth\n")
    for ca in ("ca", "otherca"):
        sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", os.path.join(d, ca + ".key"), "-out", os.path.join(d, ca + ".pem"),
            "-days", "2", "-subj", "/CN=rollcall interop " + ca])
    # "expired": signed by the right CA, valid for 0 days (expired a second later)
    for who, ca, days in (("agent", "ca", "2"), ("beam", "ca", "2"), ("stranger", "otherca", "2"),
                          ("expired", "ca", "0")):
        key, csr, pem = (os.path.join(d, who + x) for x in (".key", ".csr", ".pem"))
        sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + who])
        sh(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, ca + ".pem"),
            "-CAkey", os.path.join(d, ca + ".key"), "-CAcreateserial", "-out", pem, "-days", days,
            "-extfile", ext])
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)  # the BEAM in the container reads them


def ssl_dist_optfile(d, who, ca="ca"):
    """What -ssl_dist_optfile takes: mutual TLS, chain checked against ca."""
    path = os.path.join(d, "%s-%s.conf" % (who, ca))
    common = ('{certfile, "%s/%s.pem"}, {keyfile, "%s/%s.key"}, {cacertfile, "%s/%s.pem"}, '
              '{verify, verify_peer}, {secure_renegotiate, true}' % (d, who, d, who, d, ca))
    with open(path, "w") as f:
        f.write("[{server, [%s, {fail_if_no_peer_cert, true}]},\n"
                " {client, [%s, {server_name_indication, disable}]}].\n" % (common, common))
    os.chmod(path, 0o644)
    return path


class Interop(harness.AgentTestCase):
    interval = "100ms"
    ping_timeout = "1s"
    stale_after = "30s"
    prune_after = "60s"
    epmd = "auto"

    def beam(self, name, cookie=None, extra=(), env=None):
        b = Beam(self, name, cookie or self.cookie, self.epmd_port, extra=extra)
        b.env_extra = env or {}
        return b.start()

    def start_agent(self, name, *args, env=None):
        a = harness.Agent(self, name, args, env=env)
        a.log = os.path.join(self.tmp, "agent-%s.log" % name[:40])  # 255-byte names
        a.out = os.path.join(self.tmp, "agent-%s.stdout" % name[:40])
        a.start()
        alive = name.split("@")[0]
        if not wait_until(lambda: alive in (harness.epmd_names(self.epmd_port) or {}), 8.0):
            self.fail("%s is not registered with an EPMD on 127.0.0.1:%d\n%s"
                      % (name, self.epmd_port, a.excerpt()))
        return a

    def assert_pong(self, x, agent):
        r = x.eval("net_adm:ping('%s')" % agent.name)
        self.assertEqual(r, "pong", "%s pinging %s: %s\n%s\n%s"
                         % (x.name, agent.name, r, x.output(), agent.excerpt()))
        self.assertIn("'%s'" % agent.name, x.eval("nodes(hidden)"))
        self.assertNotIn("'%s'" % agent.name, x.eval("nodes()"), "rollcall must be hidden")

    def assert_sweep(self, agent, node, alive, reason=None, timeout=6.0):
        ev = agent.wait_event(timeout, msg="sweep", node=node, alive=alive)
        self.assertIsNotNone(ev, "%s never reported %s alive=%s\n%s"
                             % (agent.name, node, alive, agent.excerpt()))
        if reason is not None:
            self.assertEqual(ev.get("reason"), reason, "%r\n%s" % (ev, agent.excerpt()))
        return ev

    def test_01_release(self):
        self.start_agent("agent@127.0.0.1")  # its embedded EPMD
        x = self.beam("rel@127.0.0.1")
        rel = x.eval("list_to_integer(erlang:system_info(otp_release))")
        ver = x.eval("list_to_atom(erlang:system_info(version))")
        print("OTP release: %s (erts %s)" % (rel, ver), flush=True)
        if WANT_OTP[RELEASE]:
            self.assertEqual(rel, WANT_OTP[RELEASE])

    def test_02_both_directions_hidden_embedded_epmd(self):
        agent = self.start_agent("agent@127.0.0.1")
        x = self.beam("beam@127.0.0.1")  # -start_epmd false: registers with rollcall's EPMD
        self.assert_pong(x, agent)
        harness.write_beam_entry(self.regdir, x.name)
        ev = self.assert_sweep(agent, x.name, True, "ok")
        figure(self, "agent ping rtt to OTP %s" % RELEASE, "%s ms" % ev.get("rtt_ms"))

    def test_03_wrong_cookie_both_directions(self):
        agent = self.start_agent("agent@127.0.0.1")
        x = self.beam("wrong@127.0.0.1", cookie="not-the-cookie")
        self.assertEqual(x.eval("net_adm:ping('%s')" % agent.name), "pang")
        self.assertTrue(agent.wait_line(lambda l: "cookie_rejected" in l and "inbound" in l, 5),
                        agent.excerpt())
        harness.write_beam_entry(self.regdir, x.name)
        self.assert_sweep(agent, x.name, False, "cookie_rejected")

    def test_04_long_names(self):
        host = "@127.0.0.1"
        aname = "a" * (255 - len(host)) + host
        bname = "b" * (255 - len(host)) + host
        agent = self.start_agent(aname)
        x = self.beam(bname)
        self.assert_pong(x, agent)
        # a 255-byte file name: written in place (harness's tmp+rename needs more)
        with open(os.path.join(self.regdir, bname), "w") as f:
            f.write(harness.iso_now() + "\n")
        self.assert_sweep(agent, bname, True, "ok")

    def test_13_elixir(self):
        # Elixir of the same release (1.14 / 1.18 / 1.20): Node.ping both ways.
        agent = self.start_agent("agent@127.0.0.1")
        code = ('IO.puts(System.version()); IO.puts(Node.ping(:"%s")); '
                'IO.puts(inspect(Node.list(:hidden)))' % agent.name)
        args = ["elixir", "--erl", "-start_epmd false", "--name", "ex@127.0.0.1", "--cookie",
                self.cookie, "-e", code]
        env = {"ERL_EPMD_PORT": str(self.epmd_port), "HOME": self.home}
        if CONTAINER:
            flags = []
            for k, v in env.items():
                flags += ["-e", "%s=%s" % (k, v)]
            args = ["docker", "exec", "-w", self.tmp] + flags + [CONTAINER] + args
        r = harness.run(args, child_env(self.home, env), timeout=60)
        lines = r.stdout.split()
        print("Elixir %s" % (lines[0] if lines else "?"), flush=True)
        self.assertIn("pong", lines, "elixir: %s\n%s\n%s" % (r.stdout, r.stderr, agent.excerpt()))
        self.assertIn("[:\"%s\"]" % agent.name, r.stdout)

    def test_05_simultaneous_connect_loop(self):
        # rollcall's name sorts after the BEAM's: when both dial at once,
        # rollcall's connection wins and it answers the BEAM's with nok,
        # which the BEAM must receive to wait for ours (EOF made its ping fail).
        agent = self.start_agent("zagent@127.0.0.1")
        x = self.beam("beam@127.0.0.1")
        harness.write_beam_entry(self.regdir, x.name)
        self.assert_sweep(agent, x.name, True, "ok")
        tries = 1000
        t = time.time()
        r = x.eval("length([pang || _ <- lists:seq(1, %d), "
                   "begin erlang:disconnect_node('%s'), timer:sleep(rand:uniform(8) - 1), "
                   "net_adm:ping('%s') =:= pang end])" % (tries, agent.name, agent.name),
                   timeout=120)
        figure(self, "disconnect+ping loop, %d tries" % tries, "%.1f s" % (time.time() - t))
        noks = len([l for l in agent.lines() if "answered nok" in l])
        figure(self, "nok answers logged by the agent", noks)
        self.assertEqual(r, "0", "pang in %s of %d tries\n%s\n%s" % (r, tries, x.output(), agent.excerpt()))

    def test_06_net_ticktime_8_and_300(self):
        # Not in the registry: nothing but ticks flows after the first ping.
        agent = self.start_agent("agent@127.0.0.1")
        fast = self.beam("fast@127.0.0.1", extra=("-kernel", "net_ticktime", "8"))
        slow = self.beam("slow@127.0.0.1", extra=("-kernel", "net_ticktime", "300"))
        self.assertEqual(fast.eval("net_kernel:get_net_ticktime()"), "8")
        self.assertEqual(slow.eval("net_kernel:get_net_ticktime()"), "300")
        self.assert_pong(fast, agent)
        self.assert_pong(slow, agent)
        # net_ticktime 8 drops a silent peer after ~8-10 s; the old agent's
        # 60 s silence bound is not reached here, so the 300 s BEAM is
        # checked for the bound separately (test_07).
        time.sleep(16)
        for x in (fast, slow):
            self.assertIn("'%s'" % agent.name, x.eval("nodes(hidden)"),
                          "%s lost rollcall\n%s\n%s" % (x.name, x.output(), agent.excerpt()))
            self.assertNotIn("timedout", x.output())

    def test_07_silence_bound_is_configurable(self):
        # net_ticktime 300: the BEAM ticks every 75 s. With silence_timeout
        # 5s the agent closes the connection for silence after ~5 s (logged);
        # with the default (600 s) it keeps it (test_06).
        agent = self.start_agent("agent@127.0.0.1", "--silence-timeout", "5s")
        slow = self.beam("slow@127.0.0.1", extra=("-kernel", "net_ticktime", "300"))
        self.assert_pong(slow, agent)
        t = time.time()
        line = agent.wait_line(lambda l: "silence_timeout" in l and slow.name in l, 12)
        self.assertTrue(line, agent.excerpt())
        figure(self, "closed for silence after", "%.1f s" % (time.time() - t))
        self.assertTrue(wait_until(lambda: "'%s'" % agent.name not in slow.eval("nodes(hidden)"), 5))

    def test_08_inet6_tcp_both_ways(self):
        agent = self.start_agent("agent6@::1")
        x = self.beam("beam6@::1", extra=("-proto_dist", "inet6_tcp"))
        self.assert_pong(x, agent)
        # a registry entry with an IPv6 host (EPMD asked on [::1])
        harness.write_full_entry(self.regdir, x.name, "::1", 0)
        self.assert_sweep(agent, x.name, True, "ok")

    def test_09_dual_stack_agent(self):
        # One agent, named by a host with an A and an AAAA record (an inetrc
        # hosts file for the BEAMs): an inet_tcp BEAM reaches it over IPv4,
        # an inet6_tcp BEAM over IPv6, EPMD and distribution alike.
        inetrc = os.path.join(self.tmp, "inetrc")
        with open(inetrc, "w") as f:
            f.write('{host, {127,0,0,1}, ["dual.rollcall.test"]}.\n'
                    '{host, {0,0,0,0,0,0,0,1}, ["dual.rollcall.test"]}.\n'
                    '{lookup, [file, native]}.\n')
        os.chmod(inetrc, 0o644)
        env = {"ERL_INETRC": inetrc}
        agent = self.start_agent("agent@dual.rollcall.test")
        y = self.beam("beam6@::1", extra=("-proto_dist", "inet6_tcp"), env=env)
        self.assert_pong(y, agent)
        x = self.beam("beam4@127.0.0.1", env=env)
        self.assert_pong(x, agent)
        ups = [l for l in agent.lines() if "inbound" in l]
        self.assertFalse([l for l in ups if "closed" in l], agent.excerpt())

    def test_10_aaaa_only_name(self):
        # A registry entry whose host only has an AAAA record (nss_wrapper
        # gives the agent a hosts file with "::1 v6only.rollcall.test").
        lib = [p for p in ("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
                           "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so") if os.path.exists(p)]
        self.assertTrue(lib, "libnss-wrapper is not installed")
        hosts = os.path.join(self.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write("::1 v6only.rollcall.test\n127.0.0.1 localhost\n")
        env = {"LD_PRELOAD": lib[0], "NSS_WRAPPER_HOSTS": hosts,
               "NSS_WRAPPER_PASSWD": "/etc/passwd", "NSS_WRAPPER_GROUP": "/etc/group",
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        agent = self.start_agent("agent@127.0.0.1", env=env)
        x = self.beam("beam6@::1", extra=("-proto_dist", "inet6_tcp"))
        harness.write_full_entry(self.regdir, x.name, "v6only.rollcall.test", 0)
        self.assert_sweep(agent, x.name, True, "ok")

    def tls_args(self, who="agent", required=True):
        d = self.certdir
        a = ["--tls-cert", os.path.join(d, who + ".pem"), "--tls-key", os.path.join(d, who + ".key"),
             "--tls-ca", os.path.join(d, "ca.pem")]
        if required:
            a += ["--tls-required", "true"]
        return a

    def setUp(self):
        super().setUp()
        self.certdir = os.path.join(self.tmp, "certs")

    def certs(self):
        if not os.path.isdir(self.certdir):
            os.mkdir(self.certdir)
            make_certs(self.certdir)

    def test_11_inet_tls_both_ways(self):
        self.certs()
        agent = self.start_agent("agent@127.0.0.1", *self.tls_args())
        x = self.beam("tls@127.0.0.1", extra=("-proto_dist", "inet_tls", "-ssl_dist_optfile",
                                              ssl_dist_optfile(self.certdir, "beam")))
        self.assert_pong(x, agent)
        harness.write_beam_entry(self.regdir, x.name)
        ev = self.assert_sweep(agent, x.name, True, "ok")
        figure(self, "agent ping rtt over TLS to OTP %s" % RELEASE, "%s ms" % ev.get("rtt_ms"))

    def test_12_tls_refusals(self):
        self.certs()
        # a plain agent: a TLS BEAM is told apart from garbage, both ways
        plain = self.start_agent("plain@127.0.0.1")
        x = self.beam("tls@127.0.0.1", extra=("-proto_dist", "inet_tls", "-ssl_dist_optfile",
                                              ssl_dist_optfile(self.certdir, "beam")))
        self.assertEqual(x.eval("net_adm:ping('%s')" % plain.name), "pang")
        self.assertTrue(plain.wait_line(lambda l: "tls_required" in l, 5), plain.excerpt())
        harness.write_beam_entry(self.regdir, x.name)
        self.assert_sweep(plain, x.name, False, "tls_required")
        plain.terminate()
        os.unlink(os.path.join(self.regdir, x.name))

        # an agent that requires TLS: a plain BEAM gets not_allowed at once
        agent = self.start_agent("agent@127.0.0.1", *self.tls_args())
        y = self.beam("plainbeam@127.0.0.1")
        t = time.time()
        self.assertEqual(y.eval("net_adm:ping('%s')" % agent.name), "pang")
        figure(self, "plain BEAM refused by a TLS-only agent in", ms(time.time() - t))
        self.assertLess(time.time() - t, 5.0)
        self.assertTrue(agent.wait_line(lambda l: "tls_required" in l and "plainbeam" not in l
                                        or "tls_required" in l, 5), agent.excerpt())
        # a TLS BEAM whose certificate comes from another CA: tls_failed
        z = self.beam("stranger@127.0.0.1", extra=(
            "-proto_dist", "inet_tls", "-ssl_dist_optfile",
            ssl_dist_optfile(self.certdir, "stranger", ca="otherca")))
        self.assertEqual(z.eval("net_adm:ping('%s')" % agent.name), "pang")
        self.assertTrue(agent.wait_line(lambda l: "tls_failed" in l, 5), agent.excerpt())
        harness.write_beam_entry(self.regdir, z.name)
        self.assert_sweep(agent, z.name, False, "tls_failed")
        # an expired certificate from the right CA: tls_failed, OpenSSL's words logged
        old = self.beam("expired@127.0.0.1", extra=(
            "-proto_dist", "inet_tls", "-ssl_dist_optfile",
            ssl_dist_optfile(self.certdir, "expired")))
        self.assertEqual(old.eval("net_adm:ping('%s')" % agent.name), "pang")
        self.assertTrue(agent.wait_line(lambda l: "tls_failed" in l and "expired" in l, 5),
                        agent.excerpt())


# ---------------------------------------------------------------- containers

def image_name(rel):
    return sh([os.path.join(HERE, "build-otp-image.sh"), "--name", rel]).strip()


def run_in_container(rel, argv):
    """Builds the image if needed, starts the container, re-runs this script
    in its network namespace; returns the exit status."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        print("SKIP: no Docker engine reachable (`docker info` failed)")
        return 77  # CTest SKIP_RETURN_CODE, as tests/docker does
    img = image_name(rel)
    if subprocess.run(["docker", "image", "inspect", img], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("interop: building %s (or waiting for the build under way)" % img, flush=True)
        r = subprocess.run([os.path.join(HERE, "build-otp-image.sh"), rel])
        if r.returncode != 0:
            print("0 passed, 1 failed")
            return 1
    shared = tempfile.mkdtemp(prefix="rollcall-interop-")
    os.chmod(shared, 0o755)
    name = "rollcall-interop-%s-%d" % (rel, os.getpid())
    sh(["docker", "run", "-d", "--rm", "--name", name, "--network", "none",
        "--sysctl", "net.ipv6.conf.all.disable_ipv6=0", "--sysctl", "net.ipv6.conf.lo.disable_ipv6=0",
        "-v", "%s:%s" % (shared, shared), img, "sleep", "infinity"])
    try:
        pid = sh(["docker", "inspect", "-f", "{{.State.Pid}}", name]).strip()
        env = dict(os.environ, ROLLCALL_INTEROP_CONTAINER=name, TMPDIR=shared)
        r = subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, sys.executable,
                            os.path.abspath(__file__)] + argv, env=env)
        return r.returncode
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in WANT_OTP:
        print("usage: %s /path/to/rollcall host|27|29 [name-substring ...]" % sys.argv[0])
        print("0 passed, 1 failed")
        sys.exit(2)
    RELEASE = sys.argv[2]
    if RELEASE != "host" and not CONTAINER:
        sys.exit(run_in_container(RELEASE, sys.argv[1:]))
    if RELEASE == "host":
        harness.ensure_erlang()
    del sys.argv[2]
    harness.main()
