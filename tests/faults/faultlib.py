"""Helpers for rollcall's fault and security tests (tests/faults/test_*.py).

A minimal Erlang distribution client of our own (handshake v6 as initiator,
is_auth ping), so a test can ping an agent "the way OTP does" while it is
under attack, measure the round trip, and also misbehave on purpose at any
step (stop after send_name, wrong cookie, garbage after the handshake).
Wire facts: docs/protocol.md; captures: tests/fixtures/vectors. Python 3 standard library only.
"""

import hashlib
import os
import random
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402,F401

FLAGS = 0x403070F94  # what rollcall itself sends: OTP 25 mandatory + UNLINK_ID + V4_NC, hidden


def digest(cookie, challenge):
    return hashlib.md5(cookie.encode() + str(challenge & 0xFFFFFFFF).encode()).digest()


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def _recv_frame16(s):
    (n,) = struct.unpack(">H", _recv_exact(s, 2))
    return _recv_exact(s, n)


def _send16(s, payload):
    s.sendall(struct.pack(">H", len(payload)) + payload)


class HandshakeRefused(Exception):
    pass


def handshake(host, port, me, peer, cookie, timeout=5.0, stop_after=None):
    """Dials host:port as `me` and runs the initiator side. Returns the
    connected socket in the 4-byte phase. stop_after='name' returns right
    after send_name, 'challenge' after reading the challenge (half-done
    handshakes). Raises HandshakeRefused when the peer says no or closes."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    try:
        _send16(s, b"N" + struct.pack(">QIH", FLAGS, 5, len(me)) + me.encode())
        if stop_after == "name":
            return s
        st = _recv_frame16(s)
        if st[:1] != b"s" or st[1:] not in (b"ok", b"ok_simultaneous"):
            raise HandshakeRefused("status %r" % st)
        ch = _recv_frame16(s)
        if ch[:1] != b"N" or len(ch) < 19:
            raise HandshakeRefused("challenge %r" % ch[:40])
        challenge = struct.unpack(">I", ch[9:13])[0]
        name = ch[19:19 + struct.unpack(">H", ch[17:19])[0]].decode(errors="replace")
        if name != peer:
            raise HandshakeRefused("challenge names %r, dialled %r" % (name, peer))
        if stop_after == "challenge":
            return s
        mine = random.getrandbits(32)
        _send16(s, b"r" + struct.pack(">I", mine) + digest(cookie, challenge))
        ack = _recv_frame16(s)
        if ack[:1] != b"a" or ack[1:17] != digest(cookie, mine):
            raise HandshakeRefused("bad ack %r" % ack)
        return s
    except (OSError, ConnectionError, struct.error) as e:
        s.close()
        raise HandshakeRefused(str(e))
    except HandshakeRefused:
        s.close()
        raise


# ---- terms: just enough to build an is_auth ping

def _atom(a):
    b = a.encode()
    return bytes([119, len(b)]) + b


def _pid(node, ident):
    return bytes([88]) + _atom(node) + struct.pack(">III", ident, 0, 5)


def _ref(node, ids):
    return bytes([90]) + struct.pack(">H", len(ids)) + _atom(node) + struct.pack(">I", 5) + \
        b"".join(struct.pack(">I", i) for i in ids)


def is_auth_packet(me, ids):
    pid = _pid(me, 42)
    ctrl = bytes([131, 104, 4, 97, 6]) + pid + _atom("") + _atom("net_kernel")
    msg = bytes([131, 104, 3]) + _atom("$gen_call") + bytes([104, 2]) + pid + _ref(me, ids) + \
        bytes([104, 2]) + _atom("is_auth") + _atom(me)
    data = bytes([112]) + ctrl + msg
    return struct.pack(">I", len(data)) + data


def ping_on(s, me, timeout=5.0):
    """One is_auth on an established socket; True on {Ref, yes}."""
    ids = [random.getrandbits(18), random.getrandbits(32), random.getrandbits(32)]
    s.settimeout(timeout)
    s.sendall(is_auth_packet(me, ids))
    want = struct.pack(">I", 5) + b"".join(struct.pack(">I", i) for i in ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (n,) = struct.unpack(">I", _recv_exact(s, 4))
        if n == 0:
            continue
        data = _recv_exact(s, n)
        if want in data:
            return b"\x77\x03yes" in data
    return False


def ping(host, port, me, peer, cookie, timeout=5.0):
    """A whole net_adm:ping over a fresh connection: connect, handshake,
    is_auth. Returns (ok, seconds, why)."""
    t = time.monotonic()
    try:
        s = handshake(host, port, me, peer, cookie, timeout)
    except HandshakeRefused as e:
        return False, time.monotonic() - t, "handshake: %s" % e
    try:
        ok = ping_on(s, me, timeout)
        return ok, time.monotonic() - t, "" if ok else "no yes"
    except (OSError, ConnectionError) as e:
        return False, time.monotonic() - t, "ping: %s" % e
    finally:
        s.close()


def epmd_port_please(epmd_port, alive, host="127.0.0.1", timeout=2.0):
    return harness.epmd_port_please(epmd_port, alive, host, timeout)


def ping_via_epmd(epmd_port, me, peer, cookie, timeout=5.0):
    """As OTP pings: PORT_PLEASE2 on the peer's EPMD, then ping()."""
    t = time.monotonic()
    alive, host = peer.split("@", 1)
    port = epmd_port_please(epmd_port, alive, host, timeout)
    if not port:
        return False, time.monotonic() - t, "epmd: no port for %s" % alive
    ok, _, why = ping(host, port, me, peer, cookie, timeout)
    return ok, time.monotonic() - t, why


# ---- process facts

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def dist_port(agent, timeout=5.0):
    """The distribution port from the agent's starting line."""
    line = agent.wait_line(lambda l: "distribution port" in l, timeout)
    if not line:
        return None
    m = re.search(r"distribution port (\d+)", line)
    return int(m.group(1)) if m else None


CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def raw_lines(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
