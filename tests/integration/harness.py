"""Shared helpers for rollcall's agent-level integration tests.

Real processes on loopback: rollcall agents on 127.0.0.x, real `erl` and
`elixir` nodes, a real `epmd`. Python 3 standard library only.

Every test file is run as

    python3 tests/integration/test_x.py /path/to/rollcall [name-substring ...]

and ends with one line "N passed, M failed" (exit status 0 only when every
test passed and at least one ran). Measured timings are printed as
"FIGURE <test>: <what> = <value>" lines and repeated in a summary, so a run's
log says how close each bound was.

Isolation rules every helper follows:
- each test gets a temp dir (registry, cookie file, HOME, logs);
- children get an environment without ROLLCALL_* / ERL_EPMD_PORT from the
  caller, HOME pointing into the temp dir, and a private EPMD port, so nothing
  touches 4369 or the user's ~/.erlang.cookie;
- every process a test starts is registered with the test and ended by its
  pid in tearDown (SIGCONT first, then SIGTERM, then SIGKILL), never by name.

ROLLCALL_IT_KEEP=1 keeps the temp dirs (their path is printed) for a look at
the logs after a failure.
"""

import datetime
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROLLCALL = None  # absolute path of the binary under test; set by main()

FIGURES = []  # (test id, label, value text)


# ---------------------------------------------------------------- basics

def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n, host="127.0.0.1"):
    ports = set()
    while len(ports) < n:
        ports.add(free_port(host))
    return sorted(ports)


def random_cookie(n=20):
    return "".join(random.choice(string.ascii_uppercase) for _ in range(n))


def iso_now():
    """ISO-8601 UTC with microseconds, as Elixir's DateTime.to_iso8601 writes it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The agent's log stamps ts in whole milliseconds, truncated: an event stamped
# t happened somewhere in [t, t + TS_RESOLUTION). A test that takes
# since = time.time() and then causes an event can see that event stamped up
# to 1 ms *before* since; comparing `_t >= since` then misses it and waits out
# its whole timeout (CI lost two runs to this). logged_since() is the one
# comparison every test uses.
TS_RESOLUTION = 0.001


def logged_since(e, since):
    """True when event e may have been logged at or after since (None: any)."""
    if since is None:
        return True
    t = e.get("_t")
    return t is not None and t + TS_RESOLUTION > since


_TS_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$")


def parse_ts(s):
    """'2026-11-20T18:51:29.277Z' -> unix seconds (float). None if not a timestamp."""
    if not isinstance(s, str):
        return None
    m = _TS_RE.match(s)
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec),
                           tzinfo=datetime.timezone.utc)
    t = dt.timestamp()
    if frac:
        t += int(frac) / (10 ** len(frac))
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        t -= sign * (int(tz[:2]) * 3600 + int(tz[2:]) * 60)
    return t


def wait_until(pred, timeout, interval=0.01):
    """Polls pred() until it returns something truthy; returns it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def figure(test, label, value):
    """Records and prints one measured figure."""
    tid = test.id().split(".", 1)[-1] if hasattr(test, "id") else str(test)
    FIGURES.append((tid, label, value))
    print("FIGURE %s: %s = %s" % (tid, label, value), flush=True)


def ms(seconds):
    return "%.0f ms" % (seconds * 1000.0)


def write_cookie_file(path, cookie, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, (cookie + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(path, mode)  # umask must not decide


def write_atomic(path, text):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def write_beam_entry(regdir, node):
    """Lists a BEAM node the way the classic Elixir setup does: a file named
    by the node name holding just a timestamp (port unknown: ask EPMD)."""
    path = os.path.join(regdir, node)
    write_atomic(path, iso_now() + "\n")
    return path


def write_full_entry(regdir, node, host, port):
    path = os.path.join(regdir, node)
    now = iso_now()
    write_atomic(path, "%s\nname=%s\nhost=%s\nport=%d\nstarted_at=%s\n" % (now, node, host, port, now))
    return path


def child_env(home, extra=None):
    """The caller's environment minus anything that would configure rollcall
    or Erlang behind the test's back, with HOME in the test's temp dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ROLLCALL_") and k not in ("ERL_EPMD_PORT", "ERL_FLAGS",
                                                         "ERL_AFLAGS", "ERL_ZFLAGS",
                                                         "ELIXIR_ERL_OPTIONS")}
    env["HOME"] = home
    env["LC_ALL"] = "C.UTF-8"
    if extra:
        env.update(extra)
    return env


def tail(path, n=40):
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(lines[-n:])


def run(args, env, timeout=20, input=None):
    """Runs a one-shot command; returns CompletedProcess (text)."""
    return subprocess.run(args, env=env, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, text=True,
                          errors="replace", stdin=None if input is not None else subprocess.DEVNULL)


# ---------------------------------------------------------------- EPMD client (tests' own)

def _epmd_request(port, body, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">H", len(body)) + body)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return None


def epmd_names(port, host="127.0.0.1", timeout=0.5):
    """NAMES_REQ: {alive: port} of what the EPMD at host:port knows, or None
    when nothing answers there."""
    data = _epmd_request(port, b"n", host, timeout)
    if data is None or len(data) < 4:
        return None
    out = {}
    for line in data[4:].decode(errors="replace").splitlines():
        m = re.match(r"^name (\S+) at port (\d+)$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def epmd_port_please(port, alive, host="127.0.0.1", timeout=0.5):
    """PORT_PLEASE2_REQ: the distribution port of alive, None if unknown or no EPMD."""
    data = _epmd_request(port, b"z" + alive.encode(), host, timeout)
    if not data or len(data) < 2 or data[0] != 119 or data[1] != 0 or len(data) < 4:
        return None
    return struct.unpack(">H", data[2:4])[0]


# ---------------------------------------------------------------- Erlang toolchain

def ensure_erlang():
    """erl, epmd and elixir must be there; installs Debian's erlang-base and
    elixir with apt when missing. Raises (so the test errors loudly) if it
    cannot."""
    needed = ("erl", "epmd", "elixir")
    if all(shutil.which(t) for t in needed):
        return
    print("integration: installing erlang-base elixir (apt)", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (sudo + ["apt-get", "update"],
                sudo + ["apt-get", "install", "-y", "--no-install-recommends", "erlang-base", "elixir"]):
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("cannot install Erlang/Elixir: %s failed:\n%s" % (" ".join(cmd), r.stdout[-2000:]))
    missing = [t for t in needed if not shutil.which(t)]
    if missing:
        raise RuntimeError("still missing after apt-get install: %s" % ", ".join(missing))


# A line-oriented evaluator run by `erl -eval`: one Erlang expression per
# stdin line, each result printed as "=>RC <term>" on one line (~w), errors as
# {repl_error, Class, Reason}; EOF on stdin halts the node.
_ERL_REPL = (
    "Loop = fun Loop() -> "
    "case io:get_line('') of "
    "eof -> halt(); {error, _} -> halt(); "
    "S -> Out = try {ok, T, _} = erl_scan:string(S), {ok, E} = erl_parse:parse_exprs(T), "
    "{value, V, _} = erl_eval:exprs(E, []), V catch C:R -> {repl_error, C, R} end, "
    "io:format(\"=>RC ~w~n\", [Out]), Loop() end end, Loop()"
)


class ErlNode:
    """A long-running `erl -name NAME -noshell` under the test's control:
    eval(expr) runs one expression in it and returns the printed result."""

    def __init__(self, test, name, cookie, epmd_port, start_epmd=False, extra=()):
        self.test = test
        self.name = name
        self.cookie = cookie
        self.epmd_port = epmd_port
        self.start_epmd = start_epmd
        self.extra = list(extra)
        self.proc = None
        self.lines = queue.Queue()
        self.other = []  # stdout lines that are not results (erl's own reports)
        self.log = os.path.join(test.tmp, "erl-%s.stderr" % name)

    def start(self, timeout=20):
        args = ["erl", "-name", self.name, "-noshell"]
        if self.cookie is not None:  # None: Erlang's own lookup ($HOME/.erlang.cookie)
            args += ["-setcookie", self.cookie]
        if not self.start_epmd:
            args += ["-start_epmd", "false"]
        args += self.extra + ["-eval", _ERL_REPL]
        env = child_env(self.test.home, {"ERL_EPMD_PORT": str(self.epmd_port)})
        self._err = open(self.log, "w")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, cwd=self.test.tmp)
        self.test.procs.append(self)
        threading.Thread(target=self._reader, daemon=True).start()
        try:
            got = self.eval("node()", timeout=timeout)
        except AssertionError as e:
            raise AssertionError("erl %s did not start: %s" % (self.name, e))
        if got != "'%s'" % self.name:
            raise AssertionError("erl %s started as %s" % (self.name, got))
        return self

    def _reader(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("=>RC "):
                self.lines.put(line[5:])
            else:
                self.other.append(line)
        self.lines.put(None)

    def eval(self, expr, timeout=15):
        """Evaluates one Erlang expression (no trailing dot) in the node."""
        if self.proc.poll() is not None:
            raise AssertionError("erl %s exited (%s); output:\n%s\n%s" % (
                self.name, self.proc.returncode, "\n".join(self.other[-20:]), tail(self.log)))
        self.proc.stdin.write((expr.replace("\n", " ") + ".\n").encode())
        self.proc.stdin.flush()
        try:
            v = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("erl %s: no answer to %r within %ss; output:\n%s" % (
                self.name, expr, timeout, "\n".join(self.other[-20:])))
        if v is None:
            raise AssertionError("erl %s exited while evaluating %r; output:\n%s\n%s" % (
                self.name, expr, "\n".join(self.other[-20:]), tail(self.log)))
        return v

    def output(self):
        return "\n".join(self.other) + "\n" + tail(self.log, 200)

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()  # EOF: the evaluator halts the node
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def elixir_eval(test, name, cookie, epmd_port, code, timeout=30):
    """One-shot `elixir --name NAME --cookie C -e CODE` against a private EPMD."""
    args = ["elixir", "--erl", "-start_epmd false", "--name", name, "--cookie", cookie, "-e", code]
    env = child_env(test.home, {"ERL_EPMD_PORT": str(epmd_port)})
    return run(args, env, timeout=timeout)


class SystemEpmd:
    """A real `epmd -port P` in the foreground, owned by the test (ended by pid)."""

    def __init__(self, test, port):
        self.test = test
        self.port = port
        self.proc = None

    def start(self):
        env = child_env(self.test.home, {"ERL_EPMD_PORT": str(self.port)})
        self.log = os.path.join(self.test.tmp, "epmd-%d.log" % self.port)
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen(["epmd", "-port", str(self.port)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._out)
        self.test.procs.append(self)
        if wait_until(lambda: epmd_names(self.port) is not None, 5) is None:
            raise AssertionError("epmd -port %d did not come up:\n%s" % (self.port, tail(self.log)))
        return self

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- rollcall agents

class Agent:
    """One `rollcall run` process; stderr (its log) goes to a file that the
    test reads as it grows."""

    def __init__(self, test, name, args=(), env=None, log_format="json", config=None,
                 with_defaults=True):
        self.test = test
        self.name = name
        self.args = list(args)
        self.env = dict(env or {})
        self.log_format = log_format
        self.config = config
        self.with_defaults = with_defaults
        self.proc = None
        self.log = os.path.join(test.tmp, "agent-%s.log" % name)
        self.out = os.path.join(test.tmp, "agent-%s.stdout" % name)
        self.t_start = None

    def argv(self):
        a = [ROLLCALL]
        if self.config:
            a += ["-c", self.config]
        a += ["run"]
        if self.with_defaults:
            a += ["--name", self.name] + self.test.common_args()
            if self.log_format:
                a += ["--log-format", self.log_format]
        return a + self.args

    def start(self):
        env = child_env(self.test.home, self.env)
        self._err = open(self.log, "wb")
        self._out = open(self.out, "wb")
        self.t_start = time.time()
        self.proc = subprocess.Popen(self.argv(), env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        self.test.procs.append(self)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def lines(self):
        """Complete lines logged so far."""
        try:
            with open(self.log, "rb") as f:
                data = f.read()
        except OSError:
            return []
        text = data.decode("utf-8", errors="replace")
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        return text.splitlines()

    def events(self):
        """The JSON objects logged so far, each with '_t' = ts as unix seconds."""
        out = []
        for line in self.lines():
            if not line.startswith("{"):
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict):
                o["_t"] = parse_ts(o.get("ts"))
                out.append(o)
        return out

    def find(self, since=None, **match):
        """Events whose fields equal match (and, with since, logged_since)."""
        res = []
        for e in self.events():
            if not logged_since(e, since):
                continue
            if all(e.get(k) == v for k, v in match.items()):
                res.append(e)
        return res

    def wait_event(self, timeout, since=None, **match):
        r = wait_until(lambda: self.find(since=since, **match), timeout)
        return r[0] if r else None

    def wait_line(self, pred, timeout):
        r = wait_until(lambda: [l for l in self.lines() if pred(l)], timeout)
        return r[0] if r else None

    def sweeps(self, since=None):
        """Sweep verdicts grouped into sweeps: [(t_first, {node: event})], in
        log order. A new sweep starts when a node already in the current
        group shows up again."""
        groups = []
        cur = None
        for e in self.events():
            if e.get("msg") != "sweep" or e.get("self") != self.name:
                continue
            if not logged_since(e, since):
                continue
            if cur is None or e.get("node") in cur[1]:
                cur = (e["_t"], {})
                groups.append(cur)
            cur[1][e.get("node")] = e
        return groups

    def first_sweep_all_alive(self, peers, since=None):
        """The first sweep where every peer in peers is alive; None if none yet."""
        for t, g in self.sweeps(since):
            if all(p in g and g[p].get("alive") is True for p in peers):
                return t, g
        return None

    def excerpt(self, n=40):
        return "--- %s (%s) last lines:\n%s" % (self.name, self.log, tail(self.log, n))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def kill9(self):
        t = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return t

    def terminate(self, timeout=5):
        """SIGTERM and wait; returns the exit status (None if it hung, then killed)."""
        if not self.running():
            return self.proc.returncode
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        """tearDown: an agent still running must leave cleanly on SIGTERM
        (exit 0 within 3 s); whatever happened, sanitizer reports in its log
        fail the test."""
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            rc = self.terminate(timeout=3)
            if rc is None:
                problems.append("did not exit within 3 s of SIGTERM (killed)")
            elif rc != 0:
                problems.append("exited with status %s on SIGTERM" % rc)
        reports = self.sanitizer_lines()
        if reports:
            problems.append("sanitizer report:\n" + "\n".join(reports[:60]))
        if problems:
            raise AssertionError("agent %s: %s\n%s" % (self.name, "; ".join(problems), self.excerpt(60)))

    _SAN_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                         r"ThreadSanitizer")

    def sanitizer_lines(self):
        lines = self.lines()
        for i, l in enumerate(lines):
            if self._SAN_RE.search(l):
                return lines[max(0, i - 2):]
        return []


class AgentTestCase(unittest.TestCase):
    """Temp dir, registry dir, cookie file, private EPMD port; stops every
    process it started. Subclasses set the class attributes below."""

    interval = "200ms"
    ping_timeout = "150ms"
    stale_after = "1s"
    prune_after = "2s"
    epmd = "off"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rollcall-it-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home, 0o700)
        self.regdir = os.path.join(self.tmp, "registry")
        os.mkdir(self.regdir)
        self.cookie = random_cookie()
        self.cookie_file = os.path.join(self.tmp, "cookie")
        write_cookie_file(self.cookie_file, self.cookie)
        self.epmd_port = free_port()
        self.procs = []

    def tearDown(self):
        problems = []
        for p in reversed(self.procs):
            try:
                p.stop()
            except AssertionError as e:  # keep stopping the others, then fail
                problems.append(str(e))
            except Exception as e:
                print("tearDown: stopping %r: %s" % (p, e), file=sys.stderr)
        if os.environ.get("ROLLCALL_IT_KEEP") or problems:
            print("kept %s" % self.tmp, flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n\n".join(problems))

    def common_args(self):
        return ["--cookie-file", self.cookie_file,
                "--registry", "file://" + self.regdir,
                "--interval", self.interval, "--ping-timeout", self.ping_timeout,
                "--stale-after", self.stale_after, "--prune-after", self.prune_after,
                "--epmd", self.epmd, "--epmd-port", str(self.epmd_port)]

    def agent(self, name, *args, **kw):
        return Agent(self, name, args, **kw).start()

    def cli(self, *args, env=None, timeout=20):
        """One-shot rollcall command; args are given verbatim. A sanitizer
        report on its stderr fails the test."""
        r = run([ROLLCALL] + list(args), child_env(self.home, env), timeout=timeout)
        if Agent._SAN_RE.search(r.stderr):
            self.fail("sanitizer report from rollcall %s:\n%s" % (" ".join(args), r.stderr[-4000:]))
        return r

    def excerpts(self, *agents, n=40):
        return "\n".join(a.excerpt(n) for a in agents)

    def wait_all_alive(self, agents, timeout=5.0, since=None):
        """Waits until every agent has logged a sweep with all the others
        alive; returns {agent name: unix time of that sweep}."""
        names = [a.name for a in agents]
        got = {}

        def check():
            for a in agents:
                if a.name in got:
                    continue
                r = a.first_sweep_all_alive([n for n in names if n != a.name], since)
                if r:
                    got[a.name] = r[0]
            return len(got) == len(agents)

        if not wait_until(check, timeout):
            self.fail("not every agent saw all of %s alive within %.1fs (got %s)\n%s" % (
                names, timeout, sorted(got), self.excerpts(*agents)))
        return got


# ---------------------------------------------------------------- runner

def main():
    global ROLLCALL
    if len(sys.argv) < 2:
        print("usage: %s /path/to/rollcall [test-name-substring ...]" % sys.argv[0], file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)
    ROLLCALL = os.path.abspath(sys.argv[1])
    if not (os.path.isfile(ROLLCALL) and os.access(ROLLCALL, os.X_OK)):
        print("integration: %s is not an executable" % ROLLCALL, file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    loader = unittest.TestLoader()
    if len(sys.argv) > 2:
        loader.testNamePatterns = ["*%s*" % p for p in sys.argv[2:]]
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    # A skipped test counts as failed: these suites must not pass by not running.
    failed = len(result.failures) + len(result.errors) + len(result.skipped) + \
        len(result.unexpectedSuccesses)
    passed = result.testsRun - failed
    if FIGURES:
        print("\nmeasured figures:")
        for tid, label, value in FIGURES:
            print("  %-55s %-45s %s" % (tid, label, value))
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
