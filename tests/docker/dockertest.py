#!/usr/bin/env python3
"""Docker tests of rollcall: the image, docker-compose.yml and real clusters.

    python3 tests/docker/dockertest.py CASE [CASE...]

Cases (each one a CTest test with label `docker`, see docker.cmake):
  image       build the base image if missing, the rollcall image and the two
              helper images (redis-server, erlang-base) the cases use
  scale5      `up --scale node=5`: within three intervals every container's log
              shows all five nodes alive; the HEALTHCHECK command passes
  scale_down  `up` + `scale node=5`, then `up --scale node=3`: the removed nodes
              exit 0 on SIGTERM, their entries are gone, the rest stop listing them
  kill        `docker kill` of one: the others log it down at once with a
              reason, and its entry is pruned after prune_after
  partition   `docker network disconnect` of one: both sides log each other down
              with a reason; `docker network connect` heals without restarts
  beam        mixed cluster with a real BEAM node writing itself into the file
              registry: every agent reports it alive, its net_adm:ping of every
              agent returns pong
  redis       the redis profile: scale to 5, all alive within three intervals

Exit 77 (CTest SKIP_RETURN_CODE) only when no Docker engine is reachable.
Every case runs under its own compose project (rctest-<case>-<pid>) and removes
its containers, networks and volumes; leftovers of a killed run are removed by
the next one.  The images are kept (tags rollcall-test*), so that reruns use
the layer cache; the base image debian:bookworm-slim is kept too.

Environment: ROLLCALL_COMPOSE (compose command, default docker-compose, else
`docker compose`), ROLLCALL_TEST_INTERVAL (default 1s for the scale checks,
500ms for the others),
ROLLCALL_TEST_PING_TIMEOUT (default 500ms), ROLLCALL_BUILD_NETWORK (`host`
when the bridge cannot reach the Debian mirror; tried automatically).
"""

import datetime
import ipaddress
import json
import os
import random
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "docker")
SKIP = 77

IMAGE = os.environ.get("ROLLCALL_TEST_IMAGE", "rollcall-test:latest")
REDIS_IMAGE = os.environ.get("ROLLCALL_TEST_REDIS_IMAGE", "rollcall-test-redis:latest")
BEAM_IMAGE = os.environ.get("ROLLCALL_TEST_BEAM_IMAGE", "rollcall-test-beam:latest")
BUILD_STAGE = IMAGE.rsplit(":", 1)[0] + "-build:latest"
BASE_IMAGE = "debian:bookworm-slim"
PREFIX = "rctest"
REGISTRY_DIR = "/var/lib/rollcall/registry"


def parse_duration(s):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m)?\s*", s)
    if not m:
        raise ValueError("bad duration %r" % s)
    v = float(m.group(1))
    return {"ms": v / 1000, "s": v, None: v, "m": v * 60}[m.group(2)]


# The scale checks hold the agent to "all alive within three intervals".  A
# new member is seen at the next registry round, about one interval; the rest
# is slack for container start-up on a busy 2-core machine, where 500ms left
# too little (1.0-1.2s of the 1.5s under load), so these run at the default
# 1s.  The cases that wait out downs, prunes and heals use 500ms.
SCALE_INTERVAL_S = os.environ.get("ROLLCALL_TEST_INTERVAL", "1s")
FAST_INTERVAL_S = os.environ.get("ROLLCALL_TEST_INTERVAL", "500ms")
PING_TIMEOUT_S = os.environ.get("ROLLCALL_TEST_PING_TIMEOUT", "500ms")
PING_TIMEOUT = parse_duration(PING_TIMEOUT_S)
T0 = time.monotonic()


class Failure(Exception):
    pass


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(cmd, *, env=None, check_rc=True, timeout=300, quiet=False, input=None):
    """Run a command, return CompletedProcess with text stdout (stderr merged)."""
    if not quiet:
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
    p = subprocess.run(cmd, cwd=ROOT, env=env, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check_rc and p.returncode != 0:
        raise Failure("%s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stdout[-4000:]))
    return p


def docker(*args, **kw):
    return run(["docker", *args], **kw)


def parse_ts(s):
    """Docker's RFC 3339 nano timestamps -> epoch seconds (float)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("bad timestamp %r" % s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = m.group(3)
    off = 0
    if tz != "Z":
        off = (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.replace(tzinfo=datetime.timezone.utc).timestamp() - off + frac


def engine_reachable():
    try:
        p = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    out = p.stdout.strip()
    return p.returncode == 0 and out and "error" not in out.lower(), out


def compose_command():
    if os.environ.get("ROLLCALL_COMPOSE"):
        return shlex.split(os.environ["ROLLCALL_COMPOSE"])
    for cmd in (["docker-compose"], ["docker", "compose"]):
        try:
            p = subprocess.run(cmd + ["version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
        except OSError:
            continue
        if p.returncode == 0:
            return cmd
    raise Failure("a Docker engine is reachable but neither docker-compose nor "
                  "`docker compose` works; install docker-compose")


# ---------------------------------------------------------------- log parsing

ELIXIR_RE = re.compile(r"\[(?:info|notice|warn|warning)\] (\S+?)\[(.*)\]\s*$")
PAIR_RE = re.compile(r'"([^"]+)":\s*(true|false)')


def sweeps_elixir(lines):
    """[(ts, self, {node: alive})] from the default (elixir) log format."""
    out = []
    for ts, line in lines:
        m = ELIXIR_RE.search(line)
        if m:
            out.append((ts, m.group(1), {n: v == "true" for n, v in PAIR_RE.findall(m.group(2))}))
    return out


def json_events(lines):
    out = []
    for ts, line in lines:
        i = line.find("{")
        if i < 0:
            continue
        try:
            obj = json.loads(line[i:])
        except ValueError:
            continue
        if isinstance(obj, dict):
            obj["_ts"] = ts
            out.append(obj)
    return out


# ---------------------------------------------------------------- a cluster

class Cluster:
    """One compose project; every resource it makes is removed by down()."""

    def __init__(self, case, interval, files=(), env=None, profiles=()):
        self.interval_s = interval
        self.interval = parse_duration(interval)
        log("%s: interval %s, ping_timeout %s" % (case, interval, PING_TIMEOUT_S))
        self.project = "%s-%s-%d" % (PREFIX, case.replace("_", "-"), os.getpid())
        self.compose_cmd = compose_command()
        self.files = ["docker-compose.yml", *files]
        self.profiles = list(profiles)
        self.cookie = "rctest-" + secrets.token_hex(16)
        self.env = dict(os.environ)
        self.env.update({
            "COMPOSE_PROJECT_NAME": self.project,
            "ROLLCALL_IMAGE": IMAGE,
            "ROLLCALL_REDIS_IMAGE": REDIS_IMAGE,
            "ROLLCALL_BEAM_IMAGE": BEAM_IMAGE,
            "ROLLCALL_COOKIE": self.cookie,
            "ROLLCALL_INTERVAL": interval,
            "ROLLCALL_PING_TIMEOUT": PING_TIMEOUT_S,
        })
        for k in ("ROLLCALL_NAME", "ROLLCALL_COOKIE_FILE", "ROLLCALL_CONFIG", "ROLLCALL_REGISTRY"):
            self.env.pop(k, None)
        self.env.update(env or {})

    def compose(self, *args, **kw):
        cmd = list(self.compose_cmd)
        for f in self.files:
            cmd += ["-f", f]
        cmd += ["-p", self.project]
        for p in self.profiles:
            cmd += ["--profile", p]
        return run(cmd + list(args), env=self.env, **kw)

    def containers(self, service, all_=False):
        """[{id, name, number, ip, started, running}] ordered by container number."""
        args = ["ps", "-q", "--filter", "label=com.docker.compose.project=" + self.project,
                "--filter", "label=com.docker.compose.service=" + service]
        if all_:
            args.insert(1, "-a")
        ids = docker(*args, quiet=True).stdout.split()
        if not ids:
            return []
        info = json.loads(docker("inspect", *ids, quiet=True).stdout)
        out = []
        for c in info:
            nets = c["NetworkSettings"]["Networks"] or {}
            ips = [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]
            out.append({
                "id": c["Id"],
                "name": c["Name"].lstrip("/"),
                "number": int(c["Config"]["Labels"].get("com.docker.compose.container-number", 0)),
                "ip": ips[0] if ips else None,
                "networks": list(nets),
                "started": parse_ts(c["State"]["StartedAt"]),
                "running": c["State"]["Running"],
                "restarts": c["RestartCount"],
                "health": (c["State"].get("Health") or {}).get("Status"),
            })
        return sorted(out, key=lambda c: c["number"])

    def wait_running(self, service, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            cs = [c for c in self.containers(service) if c["running"]]
            if len(cs) == n and all(c["ip"] for c in cs):
                return cs
            time.sleep(0.2)
        raise Failure("%s: %d running containers of %s expected, have %r"
                      % (self.project, n, service,
                         [c["name"] for c in self.containers(service, True)]))

    def logs(self, c):
        p = docker("logs", "--timestamps", c["id"], quiet=True, check_rc=False)
        out = []
        for line in p.stdout.splitlines():
            ts, _, rest = line.partition(" ")
            try:
                out.append((parse_ts(ts), rest))
            except ValueError:
                continue
        return out

    def registry_files(self, c):
        p = docker("exec", c["id"], "ls", "-A", REGISTRY_DIR, quiet=True)
        return sorted(f for f in p.stdout.split() if not f.startswith("."))

    def dump(self):
        for svc in self.services_seen():
            for c in self.containers(svc, all_=True):
                lines = self.logs(c)
                print("---- %s (%s, ip %s): last %d of %d log lines" %
                      (c["name"], "running" if c["running"] else "exited", c["ip"],
                       min(25, len(lines)), len(lines)))
                for _, line in lines[-25:]:
                    print("    " + line)

    def services_seen(self):
        p = docker("ps", "-a", "--filter", "label=com.docker.compose.project=" + self.project,
                   "--format", '{{.Label "com.docker.compose.service"}}',
                   quiet=True, check_rc=False)
        return sorted(set(p.stdout.split()))

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "-t", "5", check_rc=False, timeout=120)
        remove_project_resources(self.project)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            try:
                self.dump()
            except Exception as e:  # the dump is a diagnostic, never the failure
                print("(dump failed: %s)" % e)
        self.down()
        return False


def remove_project_resources(project):
    lbl = "label=com.docker.compose.project=" + project
    ids = docker("ps", "-aq", "--filter", lbl, quiet=True, check_rc=False).stdout.split()
    if ids:
        docker("rm", "-fv", *ids, check_rc=False)
    nets = docker("network", "ls", "-q", "--filter", lbl, quiet=True, check_rc=False).stdout.split()
    if nets:
        docker("network", "rm", *nets, check_rc=False)
    vols = docker("volume", "ls", "-q", "--filter", lbl, quiet=True, check_rc=False).stdout.split()
    if vols:
        docker("volume", "rm", "-f", *vols, check_rc=False)


def remove_stale_projects():
    """Projects of earlier runs whose process is gone (killed by a CTest timeout)."""
    projects = set()
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        p = docker(*kind, "--filter", "label=com.docker.compose.project",
                   "--format", '{{.Label "com.docker.compose.project"}}',
                   quiet=True, check_rc=False)
        projects.update(p.stdout.split())
    for project in sorted(projects):
        m = re.fullmatch(PREFIX + r"-[a-z0-9-]+-(\d+)", project)
        if m and not os.path.exists("/proc/" + m.group(1)):
            log("removing leftovers of an earlier run: " + project)
            remove_project_resources(project)


def node_name(c):
    return "rollcall@" + c["ip"]


def first_all_alive(sweeps, expected):
    """Time of the first elixir sweep line listing exactly `expected`, all alive."""
    for ts, _, nodes in sweeps:
        if set(nodes) == expected and all(nodes.values()):
            return ts
    return None


def wait_all_alive(cl, cs, expected, start, budget, what, settle=10.0):
    """Every container in cs logs a sweep with exactly `expected` all alive.

    Fails if that takes more than `budget` seconds after `start`; waits up to
    budget + settle before giving up so that a slow run reports its real time.
    """
    deadline = time.time() + budget + settle
    seen = {}
    while True:
        for c in cs:
            if c["id"] not in seen:
                sweeps = [s for s in sweeps_elixir(cl.logs(c)) if s[0] >= start]
                t = first_all_alive(sweeps, expected)
                if t is not None:
                    seen[c["id"]] = t
        if len(seen) == len(cs) or time.time() > deadline:
            break
        time.sleep(0.2)
    missing = [c["name"] for c in cs if c["id"] not in seen]
    check(not missing, "%s: %s never logged all of %s alive" % (what, missing, sorted(expected)))
    worst = max(seen[c["id"]] - start for c in cs)
    for c in cs:
        log("  %s: all %d alive %.2fs after %s"
            % (c["name"], len(expected), seen[c["id"]] - start, what))
    check(worst <= budget, "%s: all alive after %.2fs, more than %.2fs" % (what, worst, budget))
    return worst


def latest_sweep(cl, c, after):
    sw = [s for s in sweeps_elixir(cl.logs(c)) if s[0] >= after]
    return sw[-1] if sw else None


def wait_for(pred, timeout, step=0.2):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


# ---------------------------------------------------------------- image

def image_id(ref):
    p = docker("image", "inspect", "-f", "{{.Id}}", ref, quiet=True, check_rc=False)
    return p.stdout.strip() if p.returncode == 0 else None


def build_network():
    """`default`, or `host` when a container on the bridge cannot reach the mirror."""
    if os.environ.get("ROLLCALL_BUILD_NETWORK"):
        return os.environ["ROLLCALL_BUILD_NETWORK"]
    # An HTTP HEAD to the first mirror of the base image's apt sources.
    probe = ("h=$(sed -nE 's#^URIs: *[a-z]+://([^/: ]+).*#\\1#p' "
             "/etc/apt/sources.list.d/*.sources | head -n1); "
             "exec 3<>/dev/tcp/${h:-deb.debian.org}/80 && "
             "printf 'HEAD / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' \"$h\" >&3 && head -c 5 <&3")
    p = docker("run", "--rm", BASE_IMAGE, "timeout", "15", "bash", "-c", probe,
               check_rc=False, quiet=True, timeout=60)
    if p.returncode == 0 and p.stdout.startswith("HTTP/"):
        return "default"
    log("the bridge network cannot reach the Debian mirror; building with --network host")
    return "host"


def replace_image(tag, build):
    """Run build(); drop the image the tag pointed at before, if it moved."""
    old = image_id(tag)
    build()
    new = image_id(tag)
    check(new, "no image %s after the build" % tag)
    if old and old != new:
        docker("rmi", old, check_rc=False, quiet=True)
    return new


def ensure_images(force=False):
    if not image_id(BASE_IMAGE):
        log("building the base image %s (debootstrap; a few minutes)" % BASE_IMAGE)
        run([os.path.join(ROOT, "docker", "build-base-image.sh")], timeout=1200)
    if not force and all(image_id(t) for t in (IMAGE, REDIS_IMAGE, BEAM_IMAGE)):
        return
    net = build_network()
    env = dict(os.environ, ROLLCALL_IMAGE=IMAGE, ROLLCALL_BUILD_NETWORK=net)
    cmd = compose_command() + ["-f", "docker-compose.yml", "-p", PREFIX + "-build"]
    t = time.time()
    replace_image(IMAGE, lambda: run(cmd + ["build", "--force-rm", "node"], env=env, timeout=1500))
    log("rollcall image built in %.0fs" % (time.time() - t))
    # Tag the build stage too (all cached by now): the stage of the previous
    # sources is then removed instead of piling up as a dangling image.
    replace_image(BUILD_STAGE, lambda: docker(
        "build", "--force-rm", "--network", net, "--target", "build", "-t", BUILD_STAGE,
        "-f", os.path.join(ROOT, "docker", "Dockerfile"), ROOT, quiet=True, timeout=600))
    for tag, dockerfile in ((REDIS_IMAGE, "redis.Dockerfile"), (BEAM_IMAGE, "beam.Dockerfile")):
        replace_image(tag, lambda: docker("build", "--force-rm", "--network", net, "-t", tag, "-f",
                                          os.path.join(HERE, dockerfile), HERE, timeout=900))


def case_image():
    ensure_images(force=True)
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE, quiet=True).stdout)
    base = int(docker("image", "inspect", "-f", "{{.Size}}", BASE_IMAGE, quiet=True).stdout)
    log("image %s: %.1f MB (base %s %.1f MB, rollcall layers %.1f MB)"
        % (IMAGE, size / 1e6, BASE_IMAGE, base / 1e6, (size - base) / 1e6))
    cfg = json.loads(docker("image", "inspect", IMAGE, quiet=True).stdout)[0]["Config"]
    check(cfg.get("Entrypoint") == ["rollcall"], "entrypoint is %r" % cfg.get("Entrypoint"))
    check(cfg.get("User") not in (None, "", "root", "0") and not cfg["User"].startswith("0:"),
          "image runs as %r" % cfg.get("User"))
    check(cfg.get("StopSignal") == "SIGTERM", "stop signal %r" % cfg.get("StopSignal"))
    hc = (cfg.get("Healthcheck") or {}).get("Test") or []
    check(hc[:2] == ["CMD", "rollcall"], "healthcheck %r does not use the CLI" % hc)
    # Runtime stage: the binary's libraries resolve, and no build tools came along.
    p = docker("run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
               "ldd /usr/local/bin/rollcall; id -u; "
               "for t in gcc cc cmake make pkg-config; do command -v $t; done; true", quiet=True)
    check("not found" not in p.stdout, "missing libraries:\n" + p.stdout)
    lines = p.stdout.split()
    check("0" not in [l for l in lines if l.isdigit()], "runs as root:\n" + p.stdout)
    check(not any(l.endswith(("/gcc", "/cc", "/cmake", "/make", "/pkg-config")) for l in lines),
          "build tools in the runtime image:\n" + p.stdout)


# ---------------------------------------------------------------- cases

def case_scale5():
    with Cluster("scale5", SCALE_INTERVAL_S) as cl:
        cl.compose("up", "-d", "--scale", "node=5")
        cs = cl.wait_running("node", 5)
        start = max(c["started"] for c in cs)
        expected = {node_name(c) for c in cs}
        log("five nodes: " + ", ".join(sorted(expected)))
        wait_all_alive(cl, cs, expected, start, 3 * cl.interval, "the last container started")
        # What a user sees: the default log line, one per sweep.
        print("  sample: " + next(l for _, l in reversed(cl.logs(cs[0])) if ELIXIR_RE.search(l)))
        # The HEALTHCHECK command (`rollcall ready`: /readyz of the agent's own
        # endpoint) passes in every container, and so does a ping of self.
        for c in cs:
            for cmd in (["ready"], ["ping", "self"]):
                p = docker("exec", c["id"], "rollcall", *cmd, check_rc=False, quiet=True)
                check(p.returncode == 0, "%s: `rollcall %s` exited %d: %s"
                      % (c["name"], " ".join(cmd), p.returncode, p.stdout.strip()))
        # `rollcall members` in a container lists the five.
        p = docker("exec", cs[0]["id"], "rollcall", "members", "--json", check_rc=False, quiet=True)
        check(p.returncode == 0, "rollcall members exited %d: %s" % (p.returncode, p.stdout))
        for name in expected:
            check(name in p.stdout, "rollcall members does not list %s:\n%s" % (name, p.stdout))


class DieEvents:
    """`docker events` of the project's container exits, collected in the background."""

    def __init__(self, project):
        self.exits = {}
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", "label=com.docker.compose.project=" + project,
             "--filter", "event=die", "--format",
             "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                self.exits[parts[0]] = int(parts[1])

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def case_scale_down():
    with Cluster("scale_down", SCALE_INTERVAL_S) as cl:
        cl.compose("up", "-d")
        cl.wait_running("node", 1)
        # The older spelling; Compose v2 has `scale` again since 2.21.
        p = cl.compose("scale", "node=5", check_rc=False)
        if p.returncode != 0:
            check("scale" in p.stdout and ("unknown" in p.stdout or "No such command" in p.stdout),
                  "`scale node=5` failed:\n" + p.stdout)
            log("this compose has no `scale` command; using `up --scale node=5`")
            cl.compose("up", "-d", "--scale", "node=5")
        cs = cl.wait_running("node", 5)
        start = max(c["started"] for c in cs)
        expected = {node_name(c) for c in cs}
        wait_all_alive(cl, cs, expected, start, 3 * cl.interval, "`scale node=5`")
        check(sorted(cl.registry_files(cs[0])) == sorted(expected),
              "registry holds %r" % cl.registry_files(cs[0]))

        events = DieEvents(cl.project)
        try:
            time.sleep(0.5)  # let `docker events` subscribe
            t_down = time.time()
            cl.compose("up", "-d", "--scale", "node=3")
            took = time.time() - t_down
            wait_for(lambda: len(events.exits) >= 2, 10)
        finally:
            events.close()
        rest = cl.wait_running("node", 3)
        kept = {node_name(c) for c in rest}
        gone = expected - kept
        log("scaled to 3 in %.1fs; removed %s; exits %r" % (took, sorted(gone), events.exits))
        check(len(gone) == 2, "expected two nodes removed, have %r" % sorted(kept))
        check(len(events.exits) == 2 and all(v == 0 for v in events.exits.values()),
              "removed containers did not exit 0 on SIGTERM: %r" % events.exits)
        # Their entries were removed by themselves on the way out.
        files = cl.registry_files(rest[0])
        check(sorted(files) == sorted(kept), "after scale-down the registry holds %r" % files)
        # The rest stop listing them: every later sweep lists exactly the three.
        after = time.time() + 0.05
        wait_all_alive(cl, rest, kept, after, 2 * cl.interval + PING_TIMEOUT, "the scale-down")
        time.sleep(3 * cl.interval)
        for c in rest:
            stale = [s for s in sweeps_elixir(cl.logs(c)) if s[0] >= after + 2 * cl.interval
                     and set(s[2]) & gone]
            check(not stale, "%s still lists removed nodes: %r" % (c["name"], stale[:2]))


def first_event(events, msg, node, after):
    for e in events:
        if e["_ts"] >= after and e.get("msg") == msg and e.get("node") == node:
            return e
    return None


def wait_events(cl, pairs, msg, after, timeout):
    """{(container id, node): first `msg` event about node in that container's log}."""
    found = {}

    def poll():
        for c, node in pairs:
            if (c["id"], node) not in found:
                e = first_event(json_events(cl.logs(c)), msg, node, after)
                if e:
                    found[(c["id"], node)] = e
        return len(found) == len(pairs)

    wait_for(poll, timeout)
    return found


def check_downs(cl, pairs, t0, timeout):
    """Each (container, node) pair logs node down with a reason; returns the latest delay."""
    downs = wait_events(cl, pairs, "peer_down", t0, timeout)
    for c, node in pairs:
        e = downs.get((c["id"], node))
        check(e, "%s never logged %s down" % (c["name"], node))
        check(e.get("reason") not in (None, "", "ok"),
              "%s logged %s down without a reason: %r" % (c["name"], node, e))
        log("  %s: %s down after %.2fs, reason %s" % (c["name"], node, e["_ts"] - t0, e["reason"]))
    return max(e["_ts"] - t0 for e in downs.values())


def json_all_alive(cl, c, expected, after):
    """The latest sweep record after `after` says alive for every expected peer.

    JSON sweep records are per peer; a node need not list itself."""
    last = {}
    for e in json_events(cl.logs(c)):
        if e["_ts"] >= after and e.get("msg") == "sweep" and "node" in e:
            last[e["node"]] = e.get("alive")
    peers = expected - {node_name(c)}
    return all(v is True for v in last.values()) and set(last) - {node_name(c)} == peers


def wait_json_all_alive(cl, cs, expected, after, timeout, what):
    ok = wait_for(lambda: all(json_all_alive(cl, c, expected, after) for c in cs), timeout)
    check(ok, "%s: not every node reports all of %s alive" % (what, sorted(expected)))


def case_kill():
    stale_after, prune_after = 2.0, 4.0
    env = {"ROLLCALL_LOG_FORMAT": "json", "ROLLCALL_STALE_AFTER": "%gs" % stale_after,
           "ROLLCALL_PRUNE_AFTER": "%gs" % prune_after}
    with Cluster("kill", FAST_INTERVAL_S, env=env) as cl:
        cl.compose("up", "-d", "--scale", "node=4")
        cs = cl.wait_running("node", 4)
        expected = {node_name(c) for c in cs}
        wait_json_all_alive(cl, cs, expected, 0, 20, "start")
        victim, others = cs[-1], cs[:-1]
        vname = node_name(victim)
        t_kill = time.time()
        docker("kill", victim["id"])
        late = check_downs(cl, [(c, vname) for c in others], t_kill,
                           2 * cl.interval + PING_TIMEOUT + 5)
        check(late <= cl.interval + PING_TIMEOUT + 0.5,
              "down logged %.2fs after the kill, not at once (interval %.2fs + ping timeout %.2fs)"
              % (late, cl.interval, PING_TIMEOUT))
        # Pruned: not before prune_after, and soon after both stages expire.
        gone = wait_for(lambda: vname not in cl.registry_files(others[0]) and time.time(),
                        max(stale_after, prune_after) + 4 * cl.interval + 10, step=0.1)
        check(gone, "%s still in the registry %.1fs after the kill" % (vname, time.time() - t_kill))
        pruned_at = gone - t_kill
        log("  entry of %s pruned %.2fs after the kill (stale_after %gs, prune_after %gs)"
            % (vname, pruned_at, stale_after, prune_after))
        check(pruned_at >= prune_after - cl.interval,
              "pruned after %.2fs, before prune_after %gs" % (pruned_at, prune_after))
        check(pruned_at <= max(stale_after, prune_after) + 3 * cl.interval + PING_TIMEOUT + 1,
              "pruned only after %.2fs" % pruned_at)
        # Announced by the agent whose remove took, once the store said so.
        prunes = wait_for(lambda: [e for c in others for e in json_events(cl.logs(c))
                                   if e.get("msg") == "peer_pruned" and e.get("node") == vname],
                          5, step=0.2)
        check(prunes, "nobody logged peer_pruned for " + vname)
        # The survivors stay healthy: one dead peer never makes them unhealthy.
        healthy = wait_for(lambda: all(c["health"] == "healthy"
                                       for c in cl.containers("node") if c["running"]), 30, step=1)
        check(healthy, "survivors not healthy: %r"
              % [(c["name"], c["health"]) for c in cl.containers("node")])


def free_subnet():
    """A /24 in 10.213.0.0/16 that no docker network or host route uses."""
    used = []
    p = docker("network", "inspect", *docker("network", "ls", "-q", quiet=True).stdout.split(),
               quiet=True, check_rc=False)
    for n in json.loads(p.stdout or "[]"):
        for cfg in (n.get("IPAM") or {}).get("Config") or []:
            try:
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
            except (KeyError, ValueError):
                pass
    try:
        routes = subprocess.run(["ip", "-4", "route"], stdout=subprocess.PIPE, text=True).stdout
        for tok in re.findall(r"^(\d+\.\d+\.\d+\.\d+/\d+)", routes, re.M):
            used.append(ipaddress.ip_network(tok, strict=False))
    except OSError:
        pass
    cands = list(range(1, 255))
    random.shuffle(cands)
    for i in cands:
        net = ipaddress.ip_network("10.213.%d.0/24" % i)
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise Failure("no free /24 in 10.213.0.0/16")


def case_partition():
    env = {"ROLLCALL_LOG_FORMAT": "json", "ROLLCALL_TEST_SUBNET": free_subnet(),
           # long enough that nothing is pruned while the partition lasts
           "ROLLCALL_STALE_AFTER": "60s", "ROLLCALL_PRUNE_AFTER": "120s"}
    with Cluster("partition", FAST_INTERVAL_S, files=["tests/docker/compose.subnet.yml"],
                 env=env) as cl:
        cl.compose("up", "-d", "--scale", "node=4")
        cs = cl.wait_running("node", 4)
        expected = {node_name(c) for c in cs}
        wait_json_all_alive(cl, cs, expected, 0, 20, "start")
        victim, others = cs[1], [c for c in cs if c is not cs[1]]
        vname = node_name(victim)
        net = victim["networks"][0]
        t_cut = time.time()
        docker("network", "disconnect", net, victim["id"])
        pairs = [(c, vname) for c in others] + [(victim, node_name(c)) for c in others]
        check_downs(cl, pairs, t_cut, 2 * cl.interval + PING_TIMEOUT + 5)
        time.sleep(cl.interval)
        t_heal = time.time()
        docker("network", "connect", "--ip", victim["ip"], net, victim["id"])
        ups = wait_events(cl, pairs, "peer_up", t_heal, 30)
        check(len(ups) == len(pairs), "not logged up again: %r"
              % [(c["name"], n) for c, n in pairs if (c["id"], n) not in ups])
        wait_json_all_alive(cl, cs, expected, time.time(), 30, "heal")
        log("  healed: all %d up %.2fs after `network connect`"
            % (len(cs), max(e["_ts"] for e in ups.values()) - t_heal))
        now = {c["id"]: c for c in cl.containers("node")}
        for c in cs:
            n = now.get(c["id"])
            check(n and n["running"] and n["restarts"] == 0 and n["started"] == c["started"],
                  "%s was restarted" % c["name"])


def case_beam():
    with Cluster("beam", FAST_INTERVAL_S, files=["tests/docker/compose.beam.yml"]) as cl:
        cl.compose("up", "-d", "--scale", "node=3")
        cs = cl.wait_running("node", 3)
        beam = cl.wait_running("beam", 1)[0]
        bname = "beam@" + beam["ip"]
        agents = {node_name(c) for c in cs}
        expected = agents | {bname}
        start = max(c["started"] for c in cs + [beam])
        # Every agent reports the BEAM node alive (it is one of `expected`).
        wait_all_alive(cl, cs, expected, start, 20, "the BEAM node started")

        def pongs():
            res = {}
            for _, line in cl.logs(beam):
                m = re.match(r"ping (\S+) (pong|pang)\s*$", line)
                if m:
                    res[m.group(1)] = m.group(2)
            return res
        wait_for(lambda: all(pongs().get(a) == "pong" for a in agents), 20)
        res = pongs()
        for a in sorted(agents):
            log("  %s: net_adm:ping('%s') -> %s" % (bname, a, res.get(a)))
        check(all(res.get(a) == "pong" for a in agents), "BEAM pings: %r" % res)


def case_redis():
    with Cluster("redis", SCALE_INTERVAL_S, profiles=["redis"]) as cl:
        cl.compose("up", "-d", "--scale", "node-redis=5", "node-redis")
        cs = cl.wait_running("node-redis", 5)
        check(cl.containers("node") == [], "the file-registry node started too")
        start = max(c["started"] for c in cs)
        expected = {node_name(c) for c in cs}
        wait_all_alive(cl, cs, expected, start, 3 * cl.interval, "the last container started")
        redis = cl.containers("redis")[0]
        p = docker("exec", redis["id"], "redis-cli", "--scan", quiet=True)
        log("  redis keys: " + " ".join(sorted(p.stdout.split())))


CASES = {
    "image": case_image, "scale5": case_scale5, "scale_down": case_scale_down,
    "kill": case_kill, "partition": case_partition, "beam": case_beam, "redis": case_redis,
}


def main(argv):
    names = argv[1:] or ["all"]
    if names == ["all"]:
        names = list(CASES)
    bad = [n for n in names if n not in CASES]
    if bad:
        print("unknown case(s) %s; cases: %s" % (bad, " ".join(CASES)), file=sys.stderr)
        return 2
    # A CTest timeout or Ctrl-C still runs the clean-up of the case.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok, why = engine_reachable()
    if not ok:
        print("SKIP: no Docker engine reachable (`docker info`: %s)" % (why or "no answer"))
        return SKIP
    try:
        remove_stale_projects()
        if names != ["image"]:
            ensure_images()
        for n in names:
            log("=== %s" % n)
            CASES[n]()
            log("=== %s passed" % n)
    except Failure as e:
        log("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
