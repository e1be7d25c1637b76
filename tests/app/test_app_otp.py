#!/usr/bin/env python3
"""App mode (docs/app.md) against OTP 27 and OTP 29: the scenario of
tests/app/test_app.py with apps of another release.

    python3 tests/app/test_app_otp.py /path/to/rollcall 27|29

Starts one container from the release's image (tests/interop/
build-otp-image.sh builds it when missing; its lock makes a concurrent build
wait) with no network of its own (`--network none`), then runs this script
again inside that container's network namespace (nsenter --net), as
tests/interop/test_interop.py does: the three rollcall agents run from this
machine's binary there, and each app is a plain `erl -name X@127.0.0.N` of
the image's release started in the container with `docker exec`, with no
clustering code. No host port is opened.

Checks (test_app.py's mesh_kill_restart_leave, on loopback 127.0.0.2-4,
apps on the first agent's embedded EPMD with -start_epmd false): every app's
nodes() holds the other two within two intervals of the last start; kill -9
of one app (its BEAM process in the container): withdrawn within one
interval, no agent asks to reconnect it while it is down; restarted: back in
every nodes() within two intervals; SIGTERM of one agent: its app leaves and
is not reconnected. Exit 77 (CTest SKIP_RETURN_CODE) only when no Docker
engine answers.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import test_app  # noqa: E402
from harness import ErlNode, child_env, figure  # noqa: E402

RELEASES = ("27", "29")
RELEASE = None
CONTAINER = os.environ.get("ROLLCALL_APP_OTP_CONTAINER")  # set inside the namespace


class Kill9:
    """The `docker exec` client's Popen, whose kill() sends SIGKILL to the
    BEAM process inside the container (killing the client alone would only
    close the app's stdin)."""

    def __init__(self, popen, container, ospid):
        self._p = popen
        self._container = container
        self._ospid = ospid

    def kill(self):
        subprocess.run(["docker", "exec", self._container, "sh", "-c", "kill -9 %d" % self._ospid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)

    def __getattr__(self, name):
        return getattr(self._p, name)


class ContainerErl(ErlNode):
    """`erl -name NAME -start_epmd false` of the image's release, in the container."""

    def start(self, timeout=30):
        args = ["erl", "-name", self.name, "-noshell", "-setcookie", self.cookie,
                "-start_epmd", "false"] + self.extra + ["-eval", harness._ERL_REPL]
        args = ["docker", "exec", "-i", "-w", self.test.tmp, "-e", "HOME=%s" % self.test.home,
                "-e", "ERL_EPMD_PORT=%d" % self.epmd_port, CONTAINER] + args
        self._err = open(self.log, "w")
        popen = subprocess.Popen(args, env=child_env(self.test.home, {}), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=self._err, cwd=self.test.tmp)
        self.proc = popen
        self.test.procs.append(self)
        threading.Thread(target=self._reader, daemon=True).start()
        got = self.eval("node()", timeout=timeout)
        if got != "'%s'" % self.name:
            raise AssertionError("erl %s started as %s\n%s" % (self.name, got, self.output()))
        ospid = int(self.eval("list_to_integer(os:getpid())"))
        self.proc = Kill9(popen, CONTAINER, ospid)
        return self


class AppOtp(test_app.AppCase):
    def erl(self, name, cookie=None, sname=False, extra=()):
        return ContainerErl(self, name, cookie or self.cookie, self.epmd_port, extra=extra).start()

    def test_otp_release_three_erl_apps(self):
        names = [("ra@127.0.0.2", "a@127.0.0.2"), ("rb@127.0.0.3", "b@127.0.0.3"),
                 ("rc@127.0.0.4", "c@127.0.0.4")]
        # The release, from a BEAM without distribution in the same image.
        r = harness.run(["docker", "exec", CONTAINER, "erl", "-noshell", "-eval",
                         'io:format("~s ~s~n", [erlang:system_info(otp_release), '
                         'erlang:system_info(version)]), halt().'], child_env(self.home, {}),
                        timeout=60)
        rel, _, erts = r.stdout.strip().partition(" ")
        print("OTP release of the apps: %s (erts %s)" % (rel, erts), flush=True)
        self.assertEqual(rel, RELEASE, r.stdout + r.stderr)
        figure(self, "apps' OTP release", rel)
        # The agents serve the embedded EPMD (epmd auto, nothing else on the
        # port); the apps register with it.
        self.mesh_kill_restart_leave(names, lambda n: self.erl(n))


def run_in_container(rel, argv):
    """Builds the image if needed, starts the container, re-runs this script
    in its network namespace; returns the exit status."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        print("SKIP: no Docker engine reachable (`docker info` failed)")
        return 77
    build = os.path.join(HERE, "..", "interop", "build-otp-image.sh")
    img = subprocess.run([build, "--name", rel], stdout=subprocess.PIPE, text=True,
                         check=True).stdout.strip()
    if subprocess.run(["docker", "image", "inspect", img], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("app_otp: building %s (or waiting for the build under way)" % img, flush=True)
        if subprocess.run([build, rel]).returncode != 0:
            print("0 passed, 1 failed")
            return 1
    shared = tempfile.mkdtemp(prefix="rollcall-app-otp-")
    os.chmod(shared, 0o755)
    name = "rollcall-app-otp%s-%d" % (rel, os.getpid())
    r = subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "none",
                        "-v", "%s:%s" % (shared, shared), img, "sleep", "infinity"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print("docker run failed:\n%s\n0 passed, 1 failed" % r.stdout)
        shutil.rmtree(shared, ignore_errors=True)
        return 1
    try:
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name],
                             stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        env = dict(os.environ, ROLLCALL_APP_OTP_CONTAINER=name, TMPDIR=shared)
        return subprocess.run(["nsenter", "--net=/proc/%s/ns/net" % pid, sys.executable,
                               os.path.abspath(__file__)] + argv, env=env).returncode
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in RELEASES:
        print("usage: %s /path/to/rollcall 27|29" % sys.argv[0])
        print("0 passed, 1 failed")
        sys.exit(2)
    RELEASE = sys.argv[2]
    if not CONTAINER:
        sys.exit(run_in_container(RELEASE, sys.argv[1:]))
    del sys.argv[2]
    harness.main()
