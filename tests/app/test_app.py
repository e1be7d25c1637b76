#!/usr/bin/env python3
"""App mode (docs/app.md): rollcall clusters plain BEAM apps that hold no
clustering code. Real `erl` and `elixir` apps on 127.0.0.2-4, each with an
agent in app mode, one file registry, a private EPMD port.

    python3 tests/app/test_app.py /path/to/rollcall [name-substring ...]

Run it inside a network namespace of its own (CTest does: see
tests/app/app.cmake) so that nothing collides with other agents on the
machine. Installs erlang-base and elixir with apt when missing, and fails
(does not skip) when it cannot.

The bounds are the issue's: every app's nodes() holds the others within two
intervals of the last app start (measured from the moment the last app
answers our own evaluator, plus a 400 ms slack for the evaluator round
trips); a killed app's entry is gone within one interval (+ 400 ms); no agent
asks any app to connect to a peer that is down or that left.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import ErlNode, SystemEpmd, epmd_names, figure, ms, wait_until  # noqa: E402

INTERVAL = 1.0
SLACK = 0.4

# An Elixir evaluator with the same protocol as harness.ErlNode's: one
# Elixir expression per stdin line, the result printed as "=>RC ~w".
_EX_REPL = (
    "IO.stream(:stdio, :line) |> Enum.each(fn l -> "
    "out = try do {v, _} = Code.eval_string(l); v rescue e -> {:repl_error, e} end; "
    ":io.format('=>RC ~w~n', [out]) end)"
)


class ElixirNode(ErlNode):
    """`elixir --name NAME` (or --sname) with the evaluator above; no
    clustering code, like the Erlang apps."""

    def __init__(self, test, name, cookie, epmd_port, sname=False):
        ErlNode.__init__(self, test, name, cookie, epmd_port)
        self.sname = sname

    def start(self, timeout=30):
        alive = self.name.split("@")[0]
        args = ["elixir", "--erl", "-start_epmd false",
                "--sname" if self.sname else "--name", alive if self.sname else self.name,
                "--cookie", self.cookie, "-e", _EX_REPL]
        env = harness.child_env(self.test.home, {"ERL_EPMD_PORT": str(self.epmd_port)})
        self._err = open(self.log, "w")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, cwd=self.test.tmp)
        self.test.procs.append(self)
        threading.Thread(target=self._reader, daemon=True).start()
        got = self.eval("node()", timeout=timeout)
        if got != "'%s'" % self.name:
            raise AssertionError("elixir %s started as %s" % (self.name, got))
        return self

    def eval(self, expr, timeout=15):
        # ErlNode.eval appends "." for Erlang; Elixir takes the line as it is.
        if self.proc.poll() is not None:
            raise AssertionError("elixir %s exited (%s):\n%s" % (self.name, self.proc.returncode,
                                                                self.output()))
        self.proc.stdin.write((expr.replace("\n", " ") + "\n").encode())
        self.proc.stdin.flush()
        try:
            v = self.lines.get(timeout=timeout)
        except Exception:
            raise AssertionError("elixir %s: no answer to %r within %ss:\n%s" % (
                self.name, expr, timeout, self.output()))
        if v is None:
            raise AssertionError("elixir %s exited while evaluating %r:\n%s" % (
                self.name, expr, self.output()))
        return v

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def atoms(text):
    """"['a@h','b@h']" (~w of a list of atoms) -> sorted list of names."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    body = text[1:-1].strip()
    if not body:
        return []
    return sorted(x.strip().strip("'") for x in body.split(","))


def nodes_of(app):
    return atoms(app.eval("erlang:nodes()" if not isinstance(app, ElixirNode) else ":erlang.nodes()"))


def entry_text(regdir, name):
    try:
        with open(os.path.join(regdir, name)) as f:
            return f.read()
    except OSError:
        return None


def entry_kind(regdir, name):
    t = entry_text(regdir, name)
    if t is None:
        return None
    for line in t.splitlines():
        if line.startswith("kind="):
            return line[5:]
    return ""


class AppCase(harness.AgentTestCase):
    interval = "1s"
    ping_timeout = "500ms"
    stale_after = "3s"
    prune_after = "6s"
    epmd = "auto"

    @classmethod
    def setUpClass(cls):
        harness.ensure_erlang()

    def setUp(self):
        harness.AgentTestCase.setUp(self)
        self.shorthost = socket.gethostname().split(".")[0]

    # -- starting things

    def common_args(self):
        # A loopback-named agent (ra@127.0.0.2) binds its own address only
        # (docs/config.md, `bind`); the apps look for an EPMD on 127.0.0.1,
        # so every agent here listens on every address of the namespace.
        return harness.AgentTestCase.common_args(self) + ["--bind", "0.0.0.0"]

    def app_agent(self, name, app, *args):
        return self.agent(name, "--app-node", app, *args)

    def erl(self, name, cookie=None, sname=False, extra=()):
        extra = list(extra)
        if sname:
            n = ErlNode(self, name, cookie or self.cookie, self.epmd_port, extra=extra)
            # ErlNode passes -name; short names need -sname and the bare alive.
            n.extra = extra
            return self._start_sname(n)
        return ErlNode(self, name, cookie or self.cookie, self.epmd_port, extra=extra).start()

    def _start_sname(self, n):
        alive = n.name.split("@")[0]
        args = ["erl", "-sname", alive, "-noshell", "-setcookie", n.cookie, "-start_epmd", "false"]
        args += n.extra + ["-eval", harness._ERL_REPL]
        env = harness.child_env(self.home, {"ERL_EPMD_PORT": str(self.epmd_port)})
        n._err = open(n.log, "w")
        n.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=n._err, cwd=self.tmp)
        self.procs.append(n)
        threading.Thread(target=n._reader, daemon=True).start()
        got = n.eval("node()", timeout=20)
        if got.strip("'") != n.name:  # a@vm prints without quotes
            raise AssertionError("erl -sname %s started as %s" % (alive, got))
        return n

    def elixir(self, name, sname=False):
        return ElixirNode(self, name, self.cookie, self.epmd_port, sname=sname).start()

    # -- checks

    def wait_mesh(self, apps, since, bound, label):
        """Every app's nodes() holds all the others; fails past bound seconds
        after since. Returns the time it took."""
        names = sorted(a.name for a in apps)
        seen = {}

        def check():
            for a in apps:
                if a.name in seen:
                    continue
                n = nodes_of(a)
                if n is not None and all(x in n for x in names if x != a.name):
                    seen[a.name] = time.time()
            return len(seen) == len(apps)

        ok = wait_until(check, bound + 3.0, interval=0.05)
        took = (max(seen.values()) if seen else time.time()) - since
        figure(self, label, ms(took))
        if not ok:
            self.fail("%s: not every app has the others in nodes() after %.1fs: %s\n%s" % (
                label, bound + 3.0, {a.name: nodes_of(a) for a in apps}, self.all_excerpts()))
        self.assertLessEqual(took, bound, "%s took %s > %s\n%s" % (label, ms(took), ms(bound),
                                                                   self.all_excerpts()))
        return took

    def all_excerpts(self):
        return "\n".join(p.excerpt(30) for p in self.procs if isinstance(p, harness.Agent))

    def connects_to(self, agents, node, since):
        out = []
        for a in agents:
            out += [e for e in a.find(since=since, msg="app_connect") if e.get("node") == node]
        return out

    def assert_entries(self, pairs):
        for agent, app in pairs:
            self.assertEqual(entry_kind(self.regdir, agent.name), "agent",
                             "entry of %s: %r" % (agent.name, entry_text(self.regdir, agent.name)))
            self.assertEqual(entry_kind(self.regdir, app.name), "app",
                             "entry of %s: %r" % (app.name, entry_text(self.regdir, app.name)))

    # -- the scenario of the issue, for any three apps

    def mesh_kill_restart_leave(self, names, make_app):
        """names: [(agent name, app name)] x3; make_app(app name) starts one."""
        agents = [self.app_agent(a, n) for a, n in names]
        apps = [make_app(n) for _, n in names[:2]]
        t_last = time.time()
        apps.append(make_app(names[2][1]))
        t_last = time.time()  # the last app answers our evaluator
        self.wait_mesh(apps, t_last, 2 * INTERVAL + SLACK, "last start to full mesh")
        # Entries: each agent kind=agent, each app kind=app.
        ok = wait_until(lambda: all(entry_kind(self.regdir, n) == "app" for _, n in names), 2.0)
        self.assertTrue(ok, "app entries: %r" % {n: entry_text(self.regdir, n) for _, n in names})
        self.assert_entries(list(zip(agents, apps)))
        # rollcall stays hidden: no agent in any app's nodes().
        for app in apps:
            for a in agents:
                self.assertNotIn(a.name, nodes_of(app))

        # kill -9 of one app: withdrawn within one interval, never asked for.
        victim, vagent = apps[1], agents[1]
        t_kill = time.time()
        victim.proc.kill()
        victim.proc.wait()
        gone = wait_until(lambda: entry_text(self.regdir, victim.name) is None, INTERVAL + SLACK + 2)
        t_gone = time.time() - t_kill
        figure(self, "kill -9 to entry withdrawn", ms(t_gone))
        self.assertTrue(gone, "entry of the killed %s still there\n%s" % (victim.name, vagent.excerpt()))
        self.assertLessEqual(t_gone, INTERVAL + SLACK, "withdrawn after %s\n%s" % (ms(t_gone),
                                                                                 vagent.excerpt()))
        self.assertIsNotNone(vagent.wait_event(2.0, since=t_kill, msg="app_down", app=victim.name),
                             vagent.excerpt())
        time.sleep(3 * INTERVAL)  # down for three intervals
        asked = self.connects_to(agents, victim.name, t_kill)
        self.assertEqual(asked, [], "connect requests for the dead %s:\n%s" % (
            victim.name, "\n".join(json.dumps(e) for e in asked)))
        for app in (apps[0], apps[2]):
            self.assertNotIn(victim.name, nodes_of(app))

        # restart it: back in every nodes() within two intervals.
        apps[1] = make_app(victim.name)
        t_back = time.time()
        self.wait_mesh(apps, t_back, 2 * INTERVAL + SLACK, "restart to full mesh")

        # SIGTERM of one agent: its app leaves the registry and is not reconnected.
        leaver, lapp = agents[2], apps[2]
        t_term = time.time()
        self.assertEqual(leaver.terminate(), 0, leaver.excerpt())
        self.assertIsNone(entry_text(self.regdir, lapp.name), "app entry after SIGTERM")
        self.assertIsNone(entry_text(self.regdir, leaver.name), "agent entry after SIGTERM")
        left_at = {}
        for a in agents[:2]:
            ev = a.wait_event(3 * INTERVAL, since=t_term, msg="peer_left", node=lapp.name)
            self.assertIsNotNone(ev, a.excerpt())
            left_at[a.name] = ev["_t"]
        # The app itself still runs; cut it off from the others and watch that
        # no agent brings it back.
        for app in apps[:2]:
            app.eval("erlang:disconnect_node('%s')" % lapp.name
                     if not isinstance(app, ElixirNode) else
                     ":erlang.disconnect_node(:\"%s\")" % lapp.name)
        time.sleep(3 * INTERVAL)
        # A request an agent sent before it saw the leave (its view still had
        # the app, its app's nodes() poll may predate the mesh) is legitimate;
        # one it started after logging peer_left is not. A request in flight
        # is logged when it ends, within one ping_timeout (< one interval).
        asked = []
        for a in agents[:2]:
            asked += self.connects_to([a], lapp.name, left_at[a.name] + INTERVAL)
        self.assertEqual(asked, [], "connect requests for %s after its agent left" % lapp.name)
        for app in apps[:2]:
            self.assertNotIn(lapp.name, nodes_of(app), "reconnected to %s" % lapp.name)
        # The survivors are still meshed.
        self.assertIn(apps[1].name, nodes_of(apps[0]))


class T1Erl(AppCase):
    def test_1_three_erl_apps_system_epmd(self):
        SystemEpmd(self, self.epmd_port).start()
        names = [("ra@127.0.0.2", "a@127.0.0.2"), ("rb@127.0.0.3", "b@127.0.0.3"),
                 ("rc@127.0.0.4", "c@127.0.0.4")]
        self.mesh_kill_restart_leave(names, lambda n: self.erl(n))


class T2Elixir(AppCase):
    def test_2_elixir_apps(self):
        names = [("ra@127.0.0.2", "a@127.0.0.2"), ("rb@127.0.0.3", "b@127.0.0.3"),
                 ("rc@127.0.0.4", "c@127.0.0.4")]
        # a is plain erl, b and c are `elixir --name`: one cluster.
        self.mesh_kill_restart_leave(
            names, lambda n: self.erl(n) if n.startswith("a@") else self.elixir(n))


class T3Sname(AppCase):
    def test_3_short_names(self):
        h = self.shorthost
        names = [("ra@" + h, "a@" + h), ("rb@" + h, "b@" + h), ("rc@" + h, "c@" + h)]
        self.mesh_kill_restart_leave(names, lambda n: self.erl(n, sname=True))


class T4Embedded(AppCase):
    def test_4_start_epmd_false_beside_embedded_epmd_and_app_port(self):
        # No epmd at all: the first agent serves the embedded one; the apps
        # run -start_epmd false and register with it. c listens on a fixed
        # port and its agent is told it (app_port): the entry carries it.
        cport = harness.free_port()
        agents = [self.app_agent("ra@127.0.0.2", "a@127.0.0.2"),
                  self.app_agent("rb@127.0.0.3", "b@127.0.0.3"),
                  self.app_agent("rc@127.0.0.4", "c@127.0.0.4", "--app-port", str(cport))]
        ok = wait_until(lambda: all(a.name.split("@")[0] in (epmd_names(self.epmd_port) or {})
                                    for a in agents), 5.0)
        self.assertTrue(ok, "agents not registered with the embedded EPMD: %r" %
                        epmd_names(self.epmd_port))
        apps = [self.erl("a@127.0.0.2"), self.erl("b@127.0.0.3"),
                self.erl("c@127.0.0.4", extra=["-kernel", "inet_dist_listen_min", str(cport),
                                               "-kernel", "inet_dist_listen_max", str(cport)])]
        t_last = time.time()
        self.wait_mesh(apps, t_last, 2 * INTERVAL + SLACK, "last start to full mesh (embedded epmd)")
        self.assertIn("port=%d" % cport, entry_text(self.regdir, "c@127.0.0.4") or "")
        names = epmd_names(self.epmd_port) or {}
        for alive in ("a", "b", "c"):
            self.assertIn(alive, names)


class T5BadInput(AppCase):
    def test_5a_app_not_running_then_started(self):
        a = self.app_agent("ra@127.0.0.2", "a@127.0.0.2")
        down = a.wait_event(3 * INTERVAL, msg="app_down", app="a@127.0.0.2")
        self.assertIsNotNone(down, a.excerpt())
        self.assertIn(down.get("reason"), ("not_registered", "epmd_unreachable", "connect_refused"))
        time.sleep(3 * INTERVAL)
        self.assertTrue(a.running(), a.excerpt())
        self.assertEqual(len(a.find(msg="app_down")), 1, "app_down logged more than once\n" + a.excerpt())
        self.assertIsNone(entry_text(self.regdir, "a@127.0.0.2"), "a dead app is published")
        self.assertEqual(entry_kind(self.regdir, a.name), "agent")
        # It keeps trying: started late, the app is found and published.
        self.erl("a@127.0.0.2")
        self.assertIsNotNone(a.wait_event(2 * INTERVAL, msg="app_up", app="a@127.0.0.2"), a.excerpt())
        self.assertTrue(wait_until(lambda: entry_kind(self.regdir, "a@127.0.0.2") == "app", 2 * INTERVAL))

    def test_5b_wrong_cookie_for_the_app(self):
        a = self.app_agent("ra@127.0.0.2", "a@127.0.0.2")
        # (before the app starts: app_down not_registered; then the reason changes)
        self.erl("a@127.0.0.2", cookie="NOTTHEAGENTSCOOKIE")
        down = a.wait_event(5 * INTERVAL, msg="app_down", app="a@127.0.0.2", reason="cookie_rejected")
        self.assertIsNotNone(down, a.excerpt())
        self.assertEqual(down.get("level"), "warning", a.excerpt())
        time.sleep(3 * INTERVAL)
        self.assertTrue(a.running())
        self.assertEqual(len(a.find(msg="app_down", reason="cookie_rejected")), 1, a.excerpt())
        self.assertEqual(len([l for l in a.lines() if "refused our cookie" in l]), 1, a.excerpt())
        self.assertEqual(a.find(msg="app_up"), [])
        self.assertIsNone(entry_text(self.regdir, "a@127.0.0.2"))
        for line in a.lines():
            self.assertNotIn(self.cookie, line)

    def test_5c_app_name_not_a_node_name(self):
        for args, env, origin in (
                (["--app-node", "not a node"], None, "--app-node"),
                (["--app-node", "a@b@c"], None, "--app-node"),
                ([], {"RELEASE_NODE": "bad name!"}, "RELEASE_NODE"),
                ([], {"ROLLCALL_APP_NODE": "x@"}, "ROLLCALL_APP_NODE")):
            r = self.cli("check-config", "--name", "ra@127.0.0.2", "--cookie-file", self.cookie_file,
                         *args, env=env)
            self.assertEqual(r.returncode, 2, "%r %r: %s" % (args, env, r.stderr))
            self.assertIn(origin, r.stderr)
        # and a running agent refuses it in a reload, keeping its own
        ini = os.path.join(self.tmp, "r.ini")
        with open(ini, "w") as f:
            f.write("[app]\napp_node = a@127.0.0.2\n")
        a = harness.Agent(self, "ra@127.0.0.2", ["--name", "ra@127.0.0.2"] + self.common_args() +
                          ["--log-format", "json"], config=ini, with_defaults=False).start()
        self.assertIsNotNone(a.wait_event(3 * INTERVAL, msg="app_down"), a.excerpt())
        with open(ini, "w") as f:
            f.write("[app]\napp_node = no good\n")
        a.signal(signal.SIGHUP)
        self.assertIsNotNone(a.wait_line(lambda l: "r.ini:2" in l, 3.0), a.excerpt())
        time.sleep(INTERVAL)
        self.assertTrue(a.running())

    def test_5d_entry_pointing_at_something_not_beam(self):
        # A TCP server that answers every connection with an HTTP error.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.5", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def serve():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except OSError:
                    continue
                try:
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                finally:
                    c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(lambda: (stop.set(), t.join(), srv.close()))
        bogus = "z@127.0.0.5"
        with open(os.path.join(self.regdir, bogus), "w") as f:
            f.write("%s\nname=%s\nhost=127.0.0.5\nport=%d\nkind=app\n" % (harness.iso_now(), bogus, port))
        agents = [self.app_agent("ra@127.0.0.2", "a@127.0.0.2"),
                  self.app_agent("rb@127.0.0.3", "b@127.0.0.3")]
        apps = [self.erl("a@127.0.0.2"), self.erl("b@127.0.0.3")]
        self.wait_mesh(apps, time.time(), 2 * INTERVAL + SLACK, "mesh beside a bogus entry")
        for a in agents:
            ev = a.wait_event(3 * INTERVAL, msg="peer_down", node=bogus)
            self.assertIsNotNone(ev, a.excerpt())
            self.assertIn(ev.get("reason"), ("protocol_error", "handshake_failed", "timeout",
                                             "connection_lost"))
        time.sleep(2 * INTERVAL)
        self.assertEqual(self.connects_to(agents, bogus, None), [])
        for a in agents:
            self.assertTrue(a.running())
            self.assertEqual(len(a.find(msg="peer_down", node=bogus)), 1, a.excerpt())


class T7Options(AppCase):
    def test_7_app_notify_and_app_disconnect(self):
        # a's agent tells a registered process on a of dead peers, and asks a
        # to drop peers that left. The process is the test's probe, not
        # clustering code: it only keeps what it receives.
        agents = [self.app_agent("ra@127.0.0.2", "a@127.0.0.2", "--app-notify", "rc_events",
                                 "--app-disconnect", "true"),
                  self.app_agent("rb@127.0.0.3", "b@127.0.0.3"),
                  self.app_agent("rc@127.0.0.4", "c@127.0.0.4")]
        a = self.erl("a@127.0.0.2")
        a.eval("register(rc_events, spawn(fun L() -> receive {get, P} -> P ! get, L(); "
               "M -> ets:insert(rc_probe, {erlang:monotonic_time(), M}), L() end end))")
        a.eval("ets:new(rc_probe, [public, named_table, duplicate_bag, {heir, whereis(init), x}])")
        b = self.erl("b@127.0.0.3")
        c = self.erl("c@127.0.0.4")
        self.wait_mesh([a, b, c], time.time(), 2 * INTERVAL + SLACK, "mesh")
        # a's agent tells of peers it knows: wait until it has seen both
        for n in ("b@127.0.0.3", "c@127.0.0.4"):
            self.assertIsNotNone(agents[0].wait_event(3 * INTERVAL, msg="peer_up", node=n),
                                 agents[0].excerpt())
        t_kill = time.time()
        b.proc.kill()
        b.proc.wait()

        def got():
            v = a.eval("[M || {_, M} <- ets:tab2list(rc_probe)]")
            return v if "b@127.0.0.3" in v else None
        msg = wait_until(got, 2 * INTERVAL, interval=0.05)
        figure(self, "kill -9 to peer_down message in the app", ms(time.time() - t_kill))
        self.assertIsNotNone(msg, agents[0].excerpt())
        self.assertIn("{rollcall,peer_down,'b@127.0.0.3',connection_lost}", msg)
        # c's agent leaves while c runs: a is asked to drop c.
        t_term = time.time()
        self.assertEqual(agents[2].terminate(), 0)
        ev = agents[0].wait_event(3 * INTERVAL, since=t_term, msg="app_disconnect",
                                  node="c@127.0.0.4")
        self.assertIsNotNone(ev, agents[0].excerpt())
        self.assertEqual(ev.get("result"), "ok", repr(ev))
        self.assertTrue(wait_until(lambda: "c@127.0.0.4" not in nodes_of(a), 2.0))
        time.sleep(2 * INTERVAL)
        self.assertNotIn("c@127.0.0.4", nodes_of(a))
        self.assertEqual(self.connects_to(agents[:2], "c@127.0.0.4", t_term), [])


class T8CookieHolder(AppCase):
    def test_8_a_cookie_holder_gains_nothing(self):
        # The agent asks its app to run things; nobody can ask the agent.
        agent = self.app_agent("ra@127.0.0.2", "a@127.0.0.2")
        app = self.erl("a@127.0.0.2")
        self.assertIsNotNone(agent.wait_event(3 * INTERVAL, msg="app_up"), agent.excerpt())
        x = self.erl("x@127.0.0.5")  # holds the cookie
        probe = os.path.join(self.tmp, "pwned")
        self.assertEqual(x.eval("net_adm:ping('ra@127.0.0.2')"), "pong")
        r = x.eval("rpc:call('ra@127.0.0.2', os, cmd, [\"touch %s\"], 2000)" % probe)
        self.assertTrue(r.startswith("{badrpc,"), r)
        x.eval("{rex, 'ra@127.0.0.2'} ! {self(), {call, os, cmd, [\"touch %s\"], user}}" % probe)
        x.eval("{net_kernel, 'ra@127.0.0.2'} ! {'$gen_call', {self(), make_ref()}, "
               "{connect, normal, 'y@127.0.0.9'}}")
        x.eval("{rex, 'ra@127.0.0.2'} ! {rex, true}")
        got = x.eval("receive M -> M after 1500 -> nothing end")
        self.assertEqual(got, "nothing")
        time.sleep(INTERVAL)
        self.assertFalse(os.path.exists(probe))
        self.assertTrue(agent.running(), agent.excerpt())
        self.assertEqual(x.eval("net_adm:ping('ra@127.0.0.2')"), "pong")
        self.assertNotIn("x@127.0.0.5", nodes_of(app) or [])  # nobody asked a to meet x
        self.assertEqual(agent.find(msg="app_connect"), [])


class T6Run(AppCase):
    def run_agent(self, name, app, *cmd, extra=()):
        args = ["--name", name, "--app-node", app] + self.common_args() + \
               ["--log-format", "json"] + list(extra) + ["--"] + list(cmd)
        return harness.Agent(self, name, args, with_defaults=False).start()

    def erl_child(self):
        return ["sh", "-c", 'exec erl -name "$RELEASE_NODE" -setcookie "$RELEASE_COOKIE" '
                            '-noshell -start_epmd false']

    def test_6a_run_clusters_children_and_forwards_sigterm(self):
        r1 = self.run_agent("ra@127.0.0.2", "a@127.0.0.2", *self.erl_child())
        r2 = self.run_agent("rb@127.0.0.3", "b@127.0.0.3", *self.erl_child())
        c_agent = self.app_agent("rc@127.0.0.4", "c@127.0.0.4")
        c = self.erl("c@127.0.0.4")
        t0 = time.time()

        def meshed():
            n = nodes_of(c)
            return n is not None and "a@127.0.0.2" in n and "b@127.0.0.3" in n
        self.assertTrue(wait_until(meshed, 10.0, interval=0.1),
                        "children of rollcall run not meshed with c: %s\n%s" % (
                            nodes_of(c), self.excerpts(r1, r2, c_agent)))
        figure(self, "rollcall run children meshed", ms(time.time() - t0))
        self.assertEqual(entry_kind(self.regdir, "a@127.0.0.2"), "app")
        # SIGTERM reaches the child (erl stops on SIGTERM, exit 0), the agent
        # leaves and exits with the child's status.
        t_term = time.time()
        rc = r1.terminate(timeout=15)
        self.assertEqual(rc, 0, r1.excerpt())
        self.assertIsNone(entry_text(self.regdir, "a@127.0.0.2"))
        self.assertIsNone(entry_text(self.regdir, "ra@127.0.0.2"))
        self.assertTrue(wait_until(lambda: "a@127.0.0.2" not in (nodes_of(c) or []), 3.0))
        time.sleep(2 * INTERVAL)
        self.assertEqual(self.connects_to([r2, c_agent], "a@127.0.0.2", t_term), [])

    def test_6b_run_exit_status_and_missing_command(self):
        r = self.run_agent("ra@127.0.0.2", "a@127.0.0.2", "sh", "-c",
                           '[ -n "$RELEASE_NODE" ] && [ -n "$RELEASE_COOKIE" ] && sleep 1.5; exit 3')
        r.proc.wait(timeout=15)
        self.assertEqual(r.proc.returncode, 3, r.excerpt())
        self.assertIsNone(entry_text(self.regdir, "ra@127.0.0.2"))
        r = self.run_agent("rb@127.0.0.3", "b@127.0.0.3", "sh", "-c", "kill -KILL $$")
        r.proc.wait(timeout=15)
        self.assertEqual(r.proc.returncode, 128 + 9, r.excerpt())
        r = self.run_agent("rc@127.0.0.4", "c@127.0.0.4", "/nonexistent/app-binary")
        r.proc.wait(timeout=15)
        self.assertEqual(r.proc.returncode, 127, r.excerpt())
        self.assertTrue(any("cannot start" in l for l in r.lines()), r.excerpt())


if __name__ == "__main__":
    harness.main()
