"""Bad input against fakehub: oversized lines, binary garbage, floods, slow
readers, silent and idle clients. The offender gets the protocol's error and
is disconnected; everyone else carries on; the hub exits 0 at teardown (the
fixture checks, which under ASan also means no leaks)."""
import os
import re
import signal
import socket
import time

import pytest

from fhraw import Adc, Nmdc, hub  # noqa: F401

pytestmark = pytest.mark.sanitize


def still_chatting(a, b):
    """a's chat reaches b: the hub is alive and serving others."""
    if isinstance(a, Nmdc):
        a.send(f"<{a.nick}> still here")
        b.expect(f"<{a.nick}> still here")
    else:
        a.send(f"BMSG {a.sid} still\\shere")
        b.expect(f"BMSG {a.sid} still\\shere")


def test_oversized_lines(hub):
    h = hub("--max-line", "1024")
    a, b = h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")
    x, y = h.adc_conn().login("xa"), h.adc_conn().login("ya")
    b.send_raw(b"<bob> " + b"x" * 5000)          # no terminator at all
    assert b"<Hub> Line too long" in b.wait_closed()
    y.send_raw(f"BMSG {y.sid} ".encode() + b"y" * 1100 + b"\n")   # terminated, still too long
    lines = y.wait_closed()
    assert any(l.startswith(b"ISTA 240 Line\\stoo\\slong") for l in lines), lines
    assert any(l.startswith(f"IQUI {y.sid}".encode()) for l in lines)
    a.send("<alice> " + "z" * 1000)              # just under the limit is fine
    assert a.expect("<alice> zzz")
    still_chatting(a, a)
    still_chatting(x, x)


def test_binary_garbage(hub):
    h = hub()
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    rnd = bytes(range(256)) * 4
    n = h.nmdc_conn()
    n.expect(b"$Lock")
    n.send_raw(rnd + b"|")
    assert any(l.startswith(b"<Hub> ") for l in n.wait_closed())
    g = h.adc_conn()
    g.send_raw(b"\x00\xff\xfe garbage \x80\x81\n")
    assert any(l.startswith(b"ISTA 240 ") for l in g.wait_closed())
    x.send_raw(f"BMSG {x.sid} bad\\qescape\n".encode())   # logged-in user, malformed line
    assert any(l.startswith(b"ISTA 240 Malformed") for l in x.wait_closed())
    a.send_raw(b"$MyINFO $ALL alice \xff\x00|")          # malformed known command
    assert any(l.startswith(b"<Hub> Malformed") for l in a.wait_closed())
    b = h.nmdc_conn().login("bob")
    y = h.adc_conn().login("ya")
    still_chatting(b, b)
    still_chatting(y, y)


def test_keepalives_are_ignored(hub):
    h = hub()
    a = h.nmdc_conn()
    a.expect(b"$Lock")
    a.send_raw(b"|||")
    x = h.adc_conn()
    x.send_raw(b"\n\n")
    x.hello()
    assert h.nmdc_conn().login("bob")


def test_login_timeout(hub):
    h = hub("--login-timeout", "1")
    t0 = time.monotonic()
    n, x = h.nmdc_conn(), h.adc_conn()     # connect and never speak
    assert b"<Hub> Login timeout" in n.wait_closed(timeout=4)
    lines = x.wait_closed(timeout=4)
    assert any(l.startswith(b"ISTA 220 Login\\stimeout") for l in lines), lines
    assert 0.8 < time.monotonic() - t0 < 4


def test_idle_timeout_spares_talkers(hub):
    h = hub("--idle-timeout", "1")
    quiet = h.nmdc_conn().login("quiet")
    talker = h.nmdc_conn().login("talker")
    aq = h.adc_conn().login("aquiet")
    deadline = time.monotonic() + 4
    while not (quiet.eof and aq.eof) and time.monotonic() < deadline:
        talker.send_raw(b"|")                # keep-alives count as activity
        quiet.recv(0.2)
        aq.recv(0.05)
    assert quiet.eof and aq.eof, "silent users were not timed out"
    assert b"<Hub> Idle timeout" in quiet.seen
    assert any(l.startswith(b"ISTA 230 Idle\\stimeout") for l in aq.seen)
    still_chatting(talker, talker)


def test_flood_is_cut_off(hub):
    h = hub("--rate-limit", "20")
    a, b = h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")
    b.send_raw(b"".join(b"<bob> flood %d|" % i for i in range(200)))
    assert any(b"Flooding" in l for l in b.wait_closed())
    assert a.expect(b"$Quit bob")
    still_chatting(a, a)


def test_slow_reader_dropped_at_max_output(hub):
    h = hub("--max-output", "65536")
    w = h.adc_conn().login("writer")
    slow = Adc(h.adc)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    h.conns.append(slow)
    slow.login("slow")
    w.expect(f"BINF {slow.sid} ")
    chunk = "x" * 60000
    sent = 0
    # DMSG is not echoed, so only the slow reader's queue grows.
    while sent < 400:
        w.send(f"DMSG {w.sid} {slow.sid} {chunk}")
        sent += 1
        if w.recv(0) is not None and w.seen[-1] == f"IQUI {slow.sid}".encode():
            break
    assert w.expect(f"IQUI {slow.sid}", timeout=10)
    assert "max-output" in h.log()
    still_chatting(w, w)


def test_many_silent_and_garbage_connections_do_not_disturb(hub):
    h = hub("--login-timeout", "1")
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    silent = [h.nmdc_conn() for _ in range(40)] + [h.adc_conn() for _ in range(40)]
    for c in silent[::4]:
        c.send_raw(os.urandom(64))           # half a line of noise, never finished
    for i in range(20):
        still_chatting(a, a)
        still_chatting(x, x)
    for c in silent:
        c.wait_closed(timeout=5)             # all timed out, none left behind
    still_chatting(a, a)
    h.proc.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while "state dump" not in h.log() and time.monotonic() < deadline:
        time.sleep(0.02)               # the log is the only outside view of the dump
    dump = h.log().split("state dump")[-1]
    assert dump.count("  conn ") == 2, dump   # only the two users remain


def test_paused_readers_get_every_line_in_order(hub):
    """Output takes three paths: the lines of one loop pass (written at its
    end), a write in mid-pass once a burst has queued thousands of lines, and
    a connection's own backlog when its socket is full. None may lose, repeat
    or reorder a line. 30 users; one sends 150 short chat lines in one write
    (read at once: ~4,000 queued lines in one pass), then 6 MB of PMs to each
    of two users who do not read meanwhile (more than socket buffers hold:
    the state dump shows their backlogs), then 100 more chat lines. Then
    everyone must have every line in order, and the paused users the join of
    a user who came while they were not reading."""
    h = hub("--rate-limit", "0", "--max-output", str(16 << 20), trace=False)
    users = [h.adc_conn().login(f"u{i:02d}") for i in range(28)]
    paused = [h.adc_conn().login(f"paused{i}") for i in range(2)]
    w = users[0]
    for u in users:
        u.expect(f"BINF {paused[1].sid} ")
    w.send_raw("".join(f"BMSG {w.sid} n{k:03d}{'s' * 40}\n" for k in range(150)).encode())
    pm = "".join(f"DMSG {w.sid} {p.sid} pm{k:04d}{'l' * 3000}\n" for k in range(2000) for p in paused)
    w.send_raw(pm.encode())
    w.send_raw("".join(f"BMSG {w.sid} n{k:03d}\n" for k in range(150, 250)).encode())
    late = h.adc_conn().login("late")
    deadline = time.monotonic() + 10
    while not re.search(r"nick=paused0 .* out=[1-9]", h.log()):
        assert time.monotonic() < deadline, "paused0 never had a backlog"
        h.proc.signal(signal.SIGUSR1)
        time.sleep(0.2)
    chat = [f"n{k:03d}" for k in range(250)]
    for u in paused + users:
        got = []
        while len(got) < (len(chat) + 2000 if u in paused else len(chat)):
            f = u.expect(lambda l: l.startswith(f"BMSG {w.sid} ".encode()) or l.startswith(b"DMSG "), timeout=20).split()
            got.append(f[2].decode()[:4] if f[0] == b"BMSG" else f[3].decode()[:6])
        want = chat[:150] + [f"pm{k:04d}" for k in range(2000)] + chat[150:] if u in paused else chat
        assert got == want, (u.nick, len(got), [g for g, x in zip(got, want) if g != x][:5])
    for p in paused:   # before, among or after the chat lines: not skipped
        assert any(l.startswith(f"BINF {late.sid} ".encode()) for l in p.seen) or p.expect(f"BINF {late.sid} ")
    still_chatting(paused[0], paused[1])
