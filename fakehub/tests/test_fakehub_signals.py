"""fakehub's deferred signal handling: SIGTERM/SIGINT shut down cleanly
(notices on both protocols, shutdown hooks exactly once, exit 0 within a
second), SIGHUP reloads the config without dropping users, SIGUSR1 dumps
state, and storms of mixed signals while clients chat neither deadlock nor
crash the hub (run it against the ASan build too)."""
import os
import signal
import threading
import time

import pytest

from fhraw import TIMEOUT, hub  # noqa: F401

pytestmark = pytest.mark.sanitize


def wait_log(h, text, timeout=TIMEOUT):
    """The hub's log (stderr) gains `text`. The log is written from the loop,
    so this is the only outside view of when a signal was handled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in h.proc.log_path.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise AssertionError(f"log lacks {text!r}:\n{h.log()}")


def shutdown_records(h):
    tr = h.trace()
    shutdowns = [r for r in tr if r.get("event") == "shutdown"]
    called = [r["set"] for r in tr if r.get("event") == "hook_called" and r["hook"] == "shutdown"]
    return shutdowns, called, tr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_notifies_both_protocols_and_exits_fast(hub, sig):
    h = hub(control=True)
    ctl = h.control()
    ctl.request("subscribe")
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    t0 = time.monotonic()
    h.proc.signal(sig)
    assert b"<Hub> Hub is shutting down" in a.wait_closed(timeout=2)
    lines = x.wait_closed(timeout=2)
    assert any(l.startswith(b"ISTA 212 Hub\\sis\\sshutting\\sdown") for l in lines), lines
    assert lines[-1].startswith(f"IQUI {x.sid} MSHub\\sis\\sshutting\\sdown".encode()), lines
    ctl.wait_for("shutdown", timeout=2)
    assert h.proc.wait(timeout=2) == 0
    assert time.monotonic() - t0 < 1.0
    shutdowns, called, _ = shutdown_records(h)
    assert len(shutdowns) == 1 and sorted(called) == ["control", "trace"]


def test_sighup_reloads_config_keeping_users(hub, tmp_path):
    conf = tmp_path / "hub.conf"
    conf.write_text("name = First\nuser = reg one\n")
    h = hub("--config", conf)
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    assert h.nmdc_conn().login("reg", "one")
    conf.write_text("name = Second\nmotd = welcome back\nuser = reg one\nuser = newreg two op\n")
    h.proc.signal(signal.SIGHUP)
    wait_log(h, "user newreg added")
    assert "name changed" in h.log() and "motd changed" in h.log()
    n = h.nmdc_conn().login("newreg", "two")          # the new registration is live
    assert b"<Hub> welcome back" in n.lines_until_quiet(0.3) + n.seen
    a.send("<alice> still connected")                  # nobody was dropped
    a.expect(b"<alice> still connected")
    x.send(f"BMSG {x.sid} me\\stoo")
    x.expect(f"BMSG {x.sid} me\\stoo")
    conf.write_text("name = Third\nmax-users = many\n")  # a bad edit is refused whole
    h.proc.signal(signal.SIGHUP)
    wait_log(h, "hub.conf:2: max-users: 'many' is not a number")
    assert "keeping the old config" in h.log()
    c = h.nmdc_conn()
    c.handshake("newreg2")
    c.expect(b"$Hello newreg2")
    late = h.nmdc_conn()
    assert late.expect(b"$HubName ") == b"$HubName Second"   # old config still in force


def test_sigusr1_dumps_state(hub):
    h = hub()
    h.nmdc_conn().login("alice")
    h.adc_conn().login("xa")
    h.proc.signal(signal.SIGUSR1)
    wait_log(h, "state dump: 2 users")
    log = h.log()
    assert "nick=alice" in log and "nick=xa sid=AAAB" in log and "logins=2" in log


def test_signal_storm_while_chatting(hub, tmp_path):
    conf = tmp_path / "hub.conf"
    conf.write_text("name = Storm\nuser = reg pw\n")
    h = hub("--config", conf, control=True)
    ctl = h.control()
    ctl.request("subscribe", events=["chat"])
    users = [h.nmdc_conn().login("n1"), h.nmdc_conn().login("n2"),
             h.adc_conn().login("a1"), h.adc_conn().login("a2", )]
    stop = threading.Event()
    sent = {"HUP": 0, "USR1": 0}

    def storm():
        i = 0
        while not stop.is_set():
            burst = signal.SIGHUP if i % 3 else signal.SIGUSR1
            for _ in range(5):
                os.kill(h.proc.pid, burst)
                sent["HUP" if burst == signal.SIGHUP else "USR1"] += 1
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=storm, daemon=True)
    t.start()
    rounds = 0
    t_end = time.monotonic() + 2.0
    try:
        while time.monotonic() < t_end or rounds < 20:
            who = users[rounds % 4]
            if who.delim == b"|":
                line = f"<{who.nick}> round {rounds}"
                expect_n, expect_a = line.encode(), None
                who.send(line)
            else:
                who.send(f"BMSG {who.sid} round\\s{rounds}")
                expect_n, expect_a = None, f"BMSG {who.sid} round\\s{rounds}".encode()
            # the two protocols are separate rooms: same-protocol users see it
            for u in users:
                if u.delim == who.delim:
                    u.expect(expect_n if u.delim == b"|" else expect_a, timeout=5)
            rounds += 1
            time.sleep(0.005)   # bounded load: well under the per-connection rate limit
    finally:
        stop.set()
        t.join()
    assert rounds >= 20 and sent["HUP"] > 50 and sent["USR1"] > 20
    # the control socket kept working through the storm too
    assert ctl.request("ping") == {"pong": True}
    t0 = time.monotonic()
    for s in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        h.proc.signal(s)
    assert h.proc.wait(timeout=3) == 0
    assert time.monotonic() - t0 < 1.0
    for u in users:
        assert u.wait_closed(timeout=2) is not None
    shutdowns, called, tr = shutdown_records(h)
    assert len(shutdowns) == 1, shutdowns
    assert sorted(called) == ["control", "trace"]
    handled = [r["signal"] for r in tr if r.get("event") == "signal"]
    assert handled.count("HUP") > 0 and handled.count("USR1") > 0   # coalesced, never lost entirely
    assert "reloaded" in h.log() and "state dump" in h.log()


def test_shutdown_flush_is_bounded_with_a_stuck_reader(hub):
    """A client that never reads cannot hold the shutdown: the flush is
    bounded and the hub still exits 0 within a second."""
    import socket
    h = hub("--max-output", "67108864", "--max-line", "1048576")
    w = h.adc_conn().login("writer")
    stuck = h.adc_conn()
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.login("stuck")
    w.expect(f"BINF {stuck.sid} ")
    for _ in range(40):                       # ~40 MB queued for a reader that never reads
        w.send(f"DMSG {w.sid} {stuck.sid} {'x' * 1000000}")
    w.send(f"BMSG {w.sid} done")
    w.expect(f"BMSG {w.sid} done", timeout=10)   # the hub has taken it all
    t0 = time.monotonic()
    h.proc.signal(signal.SIGTERM)
    assert h.proc.wait(timeout=3) == 0
    assert time.monotonic() - t0 < 1.0
    assert "flush bound reached" in h.log()
