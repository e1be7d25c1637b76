#!/usr/bin/env python3
"""rollcall against real Erlang/OTP and Elixir nodes on 127.0.0.1, with a
private EPMD port: rollcall's embedded EPMD, a real `epmd`, wrong cookies,
`erl -start_epmd false`, and EPMD takeover between agents.

    python3 tests/integration/test_erlang.py /path/to/rollcall

Installs erlang-base and elixir with apt when erl/elixir/epmd are missing,
and fails (does not skip) when it cannot.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ErlNode, SystemEpmd, elixir_eval, epmd_names, figure, ms, wait_until  # noqa: E402

AGENT = "agent@127.0.0.1"
INTERVAL = 0.200


def is_warning(line):
    try:
        o = json.loads(line)
    except ValueError:
        return False
    return isinstance(o, dict) and o.get("level") in ("warn", "warning")


class Erlang(harness.AgentTestCase):
    interval = "200ms"
    ping_timeout = "150ms"
    # Listed BEAM nodes are written once; keep them from being pruned mid-test.
    stale_after = "10s"
    prune_after = "20s"
    epmd = "auto"

    @classmethod
    def setUpClass(cls):
        harness.ensure_erlang()

    def start_agent(self, name=AGENT, *args):
        a = self.agent(name, *args)
        alive = name.split("@")[0]
        if not wait_until(lambda: alive in (epmd_names(self.epmd_port) or {}), 5.0):
            self.fail("%s is not registered with an EPMD on 127.0.0.1:%d (names: %r)\n%s"
                      % (name, self.epmd_port, epmd_names(self.epmd_port), a.excerpt()))
        return a

    def erl(self, name, cookie=None, **kw):
        return ErlNode(self, name, cookie or self.cookie, self.epmd_port, **kw).start()

    def assert_ping_from_erl(self, agent, x):
        """net_adm:ping from erl gets pong; the agent is a hidden node for erl."""
        r = x.eval("net_adm:ping('%s')" % agent.name)
        self.assertEqual(r, "pong", "net_adm:ping('%s') from %s: %s\nerl output:\n%s\n%s"
                         % (agent.name, x.name, r, x.output(), agent.excerpt()))
        hidden = x.eval("nodes(hidden)")
        visible = x.eval("nodes()")
        self.assertIn("'%s'" % agent.name, hidden, "nodes(hidden) of %s: %s" % (x.name, hidden))
        self.assertNotIn("'%s'" % agent.name, visible, "nodes() of %s: %s (rollcall must be hidden)"
                         % (x.name, visible))
        # And the connection stays usable: a second ping over it.
        self.assertEqual(x.eval("net_adm:ping('%s')" % agent.name), "pong")

    def assert_agent_sees_alive(self, agent, node, timeout=3.0):
        harness.write_beam_entry(self.regdir, node)
        t = time.time()
        ev = agent.wait_event(timeout, msg="sweep", node=node, alive=True)
        self.assertIsNotNone(ev, "%s never reported the listed erl node %s alive\n%s"
                             % (agent.name, node, agent.excerpt()))
        self.assertEqual(ev.get("reason"), "ok")
        up = agent.find(msg="peer_up", node=node)
        self.assertTrue(up, "%s logged no peer_up for %s" % (agent.name, node))
        figure(self, "%s reports listed %s alive after listing" % (agent.name, node), ms(ev["_t"] - t))
        return ev

    def assert_elixir_pong(self, agent):
        r = elixir_eval(self, "e%d@127.0.0.1" % os.getpid(), self.cookie, self.epmd_port,
                        'IO.inspect(Node.ping(:"%s"))' % agent.name)
        self.assertEqual(r.stdout.strip().splitlines()[-1:] or [""], [":pong"],
                         "elixir Node.ping: rc=%s stdout=%r stderr=%r\n%s"
                         % (r.returncode, r.stdout, r.stderr[-2000:], agent.excerpt()))

    # ------------------------------------------------------------------

    def test_1_embedded_epmd_erl_and_elixir_ping_the_agent(self):
        # No EPMD on the private port: with epmd = auto the agent serves one.
        self.assertIsNone(epmd_names(self.epmd_port))
        agent = self.start_agent()
        # erl -start_epmd false registers with rollcall's embedded EPMD ...
        x = self.erl("x@127.0.0.1")
        names = epmd_names(self.epmd_port) or {}
        self.assertIn("x", names, "erl not registered with the embedded EPMD: %r" % names)
        # ... pings the agent, which is hidden ...
        self.assert_ping_from_erl(agent, x)
        # ... and the agent reports the erl node alive once it is listed.
        self.assert_agent_sees_alive(agent, x.name)
        self.assert_elixir_pong(agent)

    def test_2_system_epmd_and_takeover_when_it_dies(self):
        epmd = SystemEpmd(self, self.epmd_port).start()
        agent = self.start_agent()
        x = self.erl("x@127.0.0.1")
        self.assert_ping_from_erl(agent, x)
        self.assert_agent_sees_alive(agent, x.name)
        self.assert_elixir_pong(agent)
        # The real epmd goes away: the agent (epmd = auto) serves an embedded
        # EPMD within one interval and registers itself there.
        t_kill = time.time()
        epmd.kill()
        got = wait_until(lambda: "agent" in (epmd_names(self.epmd_port, timeout=0.2) or {}) and time.time(),
                         5.0, interval=0.005)
        self.assertTrue(got, "no EPMD with the agent on port %d after the system epmd died\n%s"
                        % (self.epmd_port, agent.excerpt()))
        figure(self, "embedded EPMD serving after system epmd killed", ms(got - t_kill))
        self.assertLessEqual(got - t_kill, INTERVAL + 0.2, "took over %.0f ms after epmd died (one interval = %.0f ms)"
                             % ((got - t_kill) * 1000, INTERVAL * 1000))
        y = self.erl("y@127.0.0.1")
        self.assertEqual(y.eval("net_adm:ping('%s')" % AGENT), "pong", agent.excerpt())

    def test_3_wrong_cookie_both_directions(self):
        agent = self.start_agent()
        z = self.erl("z@127.0.0.1", cookie=harness.random_cookie())
        # erl -> agent: pang, and the agent warns about the inbound handshake.
        t = time.time()
        r = z.eval("net_adm:ping('%s')" % AGENT)
        self.assertEqual(r, "pang", "ping with a wrong cookie: %s" % r)
        line = agent.wait_line(lambda l: "cookie_rejected" in l and is_warning(l), 3.0)
        self.assertIsNotNone(line, "the agent logged no warning with cookie_rejected for the inbound "
                             "handshake from erl\n%s" % agent.excerpt())
        figure(self, "inbound cookie_rejected warning", "%s" % line)
        self.assertTrue("z@127.0.0.1" in line or "127.0.0.1" in line,
                        "the warning does not say who: %s" % line)
        # agent -> erl: the listed erl node is down with reason cookie_rejected.
        harness.write_beam_entry(self.regdir, z.name)
        ev = agent.wait_event(3.0, since=t, msg="sweep", node=z.name)
        self.assertIsNotNone(ev, "no sweep verdict for %s\n%s" % (z.name, agent.excerpt()))
        self.assertIs(ev.get("alive"), False, repr(ev))
        self.assertEqual(ev.get("reason"), "cookie_rejected", "outbound ping with a wrong cookie: %r\n%s"
                         % (ev, agent.excerpt()))
        # A handshake the peer closed is confirmed by a second one at once
        # (docs/detection.md): the down follows the sweep line within ms.
        down = agent.wait_event(1.0, since=t, msg="peer_down", node=z.name)
        self.assertTrue(down and down.get("reason") == "cookie_rejected",
                        "peer_down for %s: %r" % (z.name, down))
        # The cookie is never logged.
        for l in agent.lines():
            self.assertNotIn(self.cookie, l)
            self.assertNotIn(z.cookie, l)

    def test_4_start_epmd_false_node_reachable_by_agents_and_erl(self):
        # bind = 0.0.0.0: one EPMD for every local address, as epmd does (a
        # node named for a loopback address binds only that one by default).
        agent = self.start_agent(AGENT, "--bind", "0.0.0.0")
        x = self.erl("x@127.0.0.1")  # registered with the agent's embedded EPMD
        self.assertIn("x", epmd_names(self.epmd_port) or {})
        # Another rollcall agent (epmd auto: registers with the first one's
        # EPMD) finds x through its registry file and EPMD.
        # Named on 127.0.0.2: erl asks the EPMD on that address, which must be
        # the same one (an EPMD serves every local address, like epmd does).
        other = self.start_agent("agent2@127.0.0.2", "--bind", "0.0.0.0")
        harness.write_beam_entry(self.regdir, x.name)
        for a in (agent, other):
            ev = a.wait_event(3.0, msg="sweep", node=x.name, alive=True)
            self.assertIsNotNone(ev, "%s never reported %s alive\n%s" % (a.name, x.name, a.excerpt()))
        # The agents see each other too.
        self.wait_all_alive([agent, other], timeout=3.0)
        # A second erl node reaches x and the other agent via the embedded EPMD.
        y = self.erl("y@127.0.0.1")
        self.assertEqual(y.eval("net_adm:ping('x@127.0.0.1')"), "pong", x.output())
        self.assertEqual(y.eval("net_adm:ping('agent2@127.0.0.2')"), "pong", other.excerpt())
        self.assertIn("'x@127.0.0.1'", y.eval("nodes()"))

    def test_6_default_cookie_is_erlangs_own(self):
        # No cookie option: the agent uses $HOME/.erlang.cookie, creating it
        # like Erlang does; an erl node with the same HOME and no -setcookie
        # then shares it.
        cookie_path = os.path.join(self.home, ".erlang.cookie")
        self.assertFalse(os.path.exists(cookie_path))
        args = [a for a in self.common_args()]
        i = args.index("--cookie-file")
        del args[i:i + 2]
        agent = harness.Agent(self, AGENT, args + ["--name", AGENT, "--log-format", "json"],
                              with_defaults=False).start()
        if not wait_until(lambda: "agent" in (epmd_names(self.epmd_port) or {}), 5.0):
            self.fail("agent did not start without a cookie option\n%s" % agent.excerpt())
        self.assertTrue(os.path.isfile(cookie_path), "no %s created" % cookie_path)
        st = os.stat(cookie_path)
        self.assertEqual(st.st_mode & 0o777, 0o400, "mode of the created cookie: %o" % (st.st_mode & 0o777))
        with open(cookie_path) as f:
            created = f.read()
        self.assertRegex(created, r"^[A-Z]{20}$", "created cookie %r" % created)
        x = ErlNode(self, "x@127.0.0.1", None, self.epmd_port).start()
        self.assertEqual(x.eval("erlang:get_cookie()"), "'%s'" % created)
        self.assertEqual(x.eval("net_adm:ping('%s')" % AGENT), "pong", agent.excerpt())
        for l in agent.lines():
            self.assertNotIn(created, l)

    def test_5_two_agents_one_epmd_port_takeover(self):
        first = self.start_agent("agent1@127.0.0.1")
        second = self.start_agent("agent2@127.0.0.1")
        names = epmd_names(self.epmd_port)
        self.assertEqual(sorted(names), ["agent1", "agent2"], "EPMD names: %r" % names)
        # Kill the one that serves the EPMD: the other takes over within one interval.
        t_kill = first.kill9()
        got = wait_until(lambda: "agent2" in (epmd_names(self.epmd_port, timeout=0.2) or {}) and time.time(),
                         5.0, interval=0.005)
        self.assertTrue(got, "nobody serves EPMD on %d with agent2 after agent1 died\n%s"
                        % (self.epmd_port, second.excerpt()))
        figure(self, "agent2 serving EPMD after agent1 killed", ms(got - t_kill))
        self.assertLessEqual(got - t_kill, INTERVAL + 0.2, "took over %.0f ms after the kill (one interval = %.0f ms)\n%s"
                             % ((got - t_kill) * 1000, INTERVAL * 1000, second.excerpt()))
        names = epmd_names(self.epmd_port)
        self.assertNotIn("agent1", names, "the dead agent is still registered: %r" % names)
        # erl (-start_epmd false registers with the new embedded EPMD) reaches it.
        w = self.erl("w@127.0.0.1")
        self.assertEqual(w.eval("net_adm:ping('agent2@127.0.0.1')"), "pong", second.excerpt())


if __name__ == "__main__":
    harness.main()
