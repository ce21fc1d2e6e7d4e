"""Helpers for the protocol-rule tests (test_adc_spec.py, test_fakehub_strict.py):
a hub with a control subscriber watching `violation` events, two logged-in
users, and the three outcomes a line can have: forwarded, refused (the
sender told, nobody else gets it, the connection stays), or fatal (STA and
disconnect). Whether something did NOT reach a user is decided by a
sentinel sent after it on the same connection: lines are handled in order,
so whatever the offending line produced arrives before the sentinel."""
from __future__ import annotations

import json
import pathlib

from fhraw import TIMEOUT, Adc, Conn, Nmdc


class Room:
    """fakehub with a control subscriber `ctl` and users a, b of one protocol."""

    def __init__(self, hub, proto="adc", *args):
        self.h = hub(*args, control=True)
        self.ctl = self.h.control()
        self.ctl.request("subscribe", events=["violation"])
        conn = self.h.adc_conn if proto == "adc" else self.h.nmdc_conn
        self.a = conn().login("alice")
        self.b = conn().login("bob")
        if proto == "adc":
            self.a.expect(f"BINF {self.b.sid} ")   # a knows b: nothing of b's login is pending

    def violations(self) -> list[dict]:
        """Every violation event so far. A control request is answered after
        every event the hub emitted before it took the request."""
        self.ctl.request("ping")
        return [e for e in self.ctl.events if e["event"] == "violation"]

    def violation(self, rule: str, **fields) -> dict:
        return self.ctl.wait_for("violation", timeout=TIMEOUT, rule=rule, **fields)


def sentinel(c: Conn) -> bytes:
    if isinstance(c, Nmdc):
        return f"<{c.nick}> sentinel".encode()
    return f"BMSG {c.sid} sentinel".encode()


def between(sender: Conn, receiver: Conn, line) -> list[bytes]:
    """sender sends line then a sentinel chat; the lines receiver got before
    the sentinel."""
    sender.send(line)
    mark = sentinel(sender)
    sender.send(mark)
    got = []
    while True:
        l = receiver.recv()
        if l is None:
            raise AssertionError(f"no sentinel (eof={receiver.eof}); got {got!r}")
        if l == mark:
            return got
        got.append(l)


def forwarded(room: Room, line, want=None, to=None) -> None:
    """line reaches b (as `want`, default unchanged) and breaks no rule."""
    before = len(room.violations())
    got = between(room.a, to or room.b, line)
    want = (want or line)
    want = want.encode() if isinstance(want, str) else want
    assert want in got, f"{want!r} not forwarded; got {got!r}"
    new = room.violations()[before:]
    assert not new, f"unexpected violations {new}"


def refused(room: Room, line, rule: str, sta: str | None = None, cmd: bytes | None = None) -> dict:
    """line does not reach b (nor, with cmd, any line holding cmd); a gets
    `ISTA <sta>` (ADC) and stays; the violation is reported with the rule
    and the line."""
    got_b = between(room.a, room.b, line)
    text = line if isinstance(line, str) else line.decode("latin-1")
    assert text.encode("latin-1") not in got_b, got_b
    assert not cmd or not any(cmd in l for l in got_b), got_b
    if sta:
        room.a.expect(f"ISTA {sta} ")
    v = room.violation(rule, line=text)
    assert v["action"] != "disconnected", v
    return v


def fatal(room: Room, conn: Conn, line, rule: str, sta: str | None = None) -> dict:
    """conn sends line and is disconnected with `ISTA <sta>` + IQUI (ADC) or a
    hub chat line (NMDC); the violation is reported."""
    conn.send(line)
    text = line if isinstance(line, str) else line.decode("latin-1")
    lines = conn.wait_closed()
    if isinstance(conn, Adc):
        assert any(l.startswith(f"ISTA {sta} ".encode()) for l in lines), lines
        assert any(l.startswith(b"IQUI ") for l in lines), lines
    else:
        assert any(l.startswith(b"<Hub> ") or l.startswith(b"$ValidateDenide") for l in lines), lines
    v = room.violation(rule, line=text)
    assert v["action"] == "disconnected", v
    return v


def trace_violations(trace: pathlib.Path) -> list[dict]:
    """The violation events of a fakehub trace file."""
    if not trace.exists():
        return []
    return [e for e in map(json.loads, trace.read_text().splitlines())
            if e.get("event") == "violation"]


# What eiskaltdcpp-daemon 2.4.2 does that breaks a rule, accepted in the
# interop tests because it is the real client's behaviour (docs/fakehub.md,
# "Protocol violations": eiskaltdcpp-daemon). Pairs (rule, detail).
EISKALT_KNOWN: set[tuple[str, str | None]] = set()


def daemon_violations(trace: pathlib.Path) -> list[tuple]:
    """(rule, detail, line) of every violation in the trace but the known ones."""
    return [(v["rule"], v.get("detail"), v["line"]) for v in trace_violations(trace)
            if (v["rule"], v.get("detail")) not in EISKALT_KNOWN]
