"""fakehub's fault rules (docs/fakehub.md, "Fault rules"): every action's
effect on the wire (the trace's fault records and line records) and on the
client that meets it, seeded probabilities giving the same lines twice,
lifetimes, rules that never matched, and bad rules refused naming the field
(control socket, command line, config file at FILE:LINE).

Raw clients (fhraw) so the tests see exactly the bytes the hub sends."""
import json
import os
import signal
import socket
import time

import pytest

from fhraw import TIMEOUT, hub  # noqa: F401

pytestmark = pytest.mark.sanitize


def stopped_trace(h) -> list[dict]:
    """The whole trace: stop the hub first (the trace is flushed at exit)."""
    h.close_conns()
    assert h.proc.stop() == 0
    h.expect_rc = None
    return h.trace()


def faults(trace, action=None):
    return [r for r in trace if r.get("event") == "fault" and (action is None or r["action"] == action)]


def nmdc_pair(h):
    return h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")


def adc_pair(h):
    return h.adc_conn().login("alice"), h.adc_conn().login("bob")


def pm(a, to, text):
    a.send(f"$To: {to} From: {a.nick} $<{a.nick}> {text}")


# ---- rules refused, naming the field ---------------------------------------------

def test_control_add_list_clear_and_errors_name_the_field(hub):
    h = hub(control=True)
    ctl = h.control()
    bad = {
        "delay=2x cmd=pm": 'field "delay"',
        "drop colour=red": 'field "colour"',
        "cmd=pm": 'field "action"',
        "drop delay=1s": 'field "delay"',
        "drop=1.5": 'field "drop"',
        "drop proto=nmdc cmd=EMSG": 'field "cmd"',
        "stall=sideways for=1s": 'field "stall"',
        "disconnect=maybe": 'field "disconnect"',
        'drop text="open': 'field "text"',
    }
    for rule, field in bad.items():
        r = ctl.request("fault", check=False, add=rule)
        assert r["ok"] is False and field in r["error"], (rule, r)
    r = ctl.request("fault", check=False, add={"drop": True, "count": "many"})
    assert r["ok"] is False and 'field "count"' in r["error"]
    r = ctl.request("fault", check=False, add={"delay": "1s", "dir": ["in"]})
    assert r["ok"] is False and 'field "dir"' in r["error"]
    assert ctl.request("fault", check=False, add="drop", list=True)["ok"] is False
    one = ctl.request("fault", add="drop cmd=pm count=1")
    two = ctl.request("fault", add={"delay": "250ms", "cmd": "chat", "text": "a b"})
    assert (one["id"], two["id"]) == (1, 2)
    assert two["rule"] == 'delay=250ms cmd=chat text="a b"'
    rules = ctl.request("fault", list=True)["rules"]
    assert [(r["id"], r["action"], r["active"], r["matched"]) for r in rules] == [
        (1, "drop", True, 0), (2, "delay", True, 0)]
    assert ctl.request("fault", clear=1) == {"cleared": 1}
    assert ctl.request("fault", check=False, clear=1)["ok"] is False
    assert ctl.request("fault", clear=True) == {"cleared": 1}
    assert [r["active"] for r in ctl.request("fault", list=True)["rules"]] == [False, False]


def test_bad_rule_on_the_command_line_and_in_the_config_file(hub, tmp_path, bin_path):
    from dctest import Process
    conf = tmp_path / "hub.conf"
    conf.write_text("name = x\n\nfault = drop cmd=pm\nfault = delay=soon cmd=pm\n")
    for args, want in ((["--config", conf], f'{conf}:4: fault: field "delay"'),
                       (["--fault", "drop bogus=1"], 'field "bogus"')):
        p = Process([bin_path("fakehub"), "--nmdc", "127.0.0.1:0", *args], name="fakehub",
                    log=tmp_path / "bad.log")
        assert p.wait(TIMEOUT) == 1
        p.stop()
        assert want in (tmp_path / "bad.log").read_text()


# ---- one test per action -----------------------------------------------------------

def test_drop_count_then_pass(hub):
    h = hub("--fault", "drop cmd=pm from=alice count=2", control=True)
    a, b = nmdc_pair(h)
    for i in range(3):
        pm(a, "bob", f"pm {i}")
    b.expect(b"$To: bob From: alice $<alice> pm 2")
    assert not any(b"pm 0" in l or b"pm 1" in l for l in b.seen)
    r = h.control().request("fault", list=True)["rules"][0]
    assert (r["matched"], r["applied"], r["active"]) == (2, 2, False)
    tr = stopped_trace(h)
    d = faults(tr, "drop")
    assert [x["line"] for x in d] == [f"$To: bob From: alice $<alice> pm {i}" for i in (0, 1)]
    assert all(x["dir"] == "in" and x["nick"] == "alice" and x["rule"] == 1 for x in d)
    outs = [x["line"] for x in tr if x.get("dir") == "out" and x.get("nick") == "bob" and "pm " in x.get("line", "")]
    assert outs == ["$To: bob From: alice $<alice> pm 2"]


def _dropped_with_seed(hub, seed):
    h = hub("--fault", f"drop=0.5 seed={seed} cmd=chat dir=out to=bob")
    a, b = nmdc_pair(h)
    for i in range(40):
        a.send(f"<alice> line {i:02d}")
    a.send("<alice> end")
    a.expect(b"<alice> end")
    got = set()
    while (line := b.recv(1.0)) is not None:
        if line.startswith(b"<alice> line"):
            got.add(int(line[-2:]))
    tr = stopped_trace(h)
    dropped = {int(x["line"][-2:]) for x in faults(tr, "drop") if x["line"].startswith("<alice> line")}
    assert dropped == set(range(40)) - got      # the trace says exactly what bob missed
    return dropped


def test_drop_with_probability_is_the_same_for_the_same_seed(hub):
    first, again, other = (_dropped_with_seed(hub, s) for s in (42, 42, 43))
    assert 5 < len(first) < 35
    assert first == again
    assert first != other


def test_delay_holds_one_line_while_others_pass(hub):
    h = hub("--fault", "delay=800ms cmd=pm to=bob")
    a, b = nmdc_pair(h)
    t0 = time.monotonic()
    pm(a, "bob", "late")
    a.send("<alice> early")
    b.expect(b"<alice> early")
    b.expect(b"$To: bob From: alice $<alice> late")
    assert time.monotonic() - t0 >= 0.7
    i_early = next(i for i, l in enumerate(b.seen) if l == b"<alice> early")
    assert b.seen.index(b"$To: bob From: alice $<alice> late") > i_early
    tr = stopped_trace(h)
    (f,) = faults(tr, "delay")
    assert f["delay"] == 0.8 and f["dir"] == "in"
    out = next(x for x in tr if x.get("dir") == "out" and x.get("nick") == "bob" and "late" in x.get("line", ""))
    assert out["t"] - f["t"] >= 0.75


def test_replace_part_and_whole_line_adc(hub):
    h = hub("--fault", "replace=goodbye find=hello cmd=BMSG dir=out to=bob count=1",
            "--fault", "replace=BMSG\\sAAAA\\sforged proto=adc text=swap count=1", nmdc=False)
    a, b = adc_pair(h)
    a.send(f"BMSG {a.sid} hello\\sworld")
    assert b.expect("BMSG ") == f"BMSG {a.sid} goodbye\\sworld".encode()
    a.expect(f"BMSG {a.sid} hello\\sworld")        # only bob's copy was changed
    tr = stopped_trace(h)
    (f,) = faults(tr, "replace")
    assert f["new"] == f"BMSG {a.sid} goodbye\\sworld" and f["line"] == f"BMSG {a.sid} hello\\sworld"
    # the second rule never saw its text: reported at the end
    assert [x["rule"] for x in tr if x.get("event") == "fault_unmatched"] == [2]
    assert "fault rule 2 never matched" in h.log()


def test_corrupt_changes_bytes_the_trace_names(hub):
    h = hub("--fault", "corrupt=3 seed=7 cmd=chat dir=out to=bob")
    a, b = nmdc_pair(h)
    sent = b"<alice> " + b"x" * 60
    a.send(sent)
    got = b.expect(lambda l: len(l) == len(sent))
    assert len(got) == len(sent) and got != sent
    assert sum(1 for x, y in zip(got, sent) if x != y) <= 3
    tr = stopped_trace(h)
    (f,) = faults(tr, "corrupt")
    assert f["new"].encode() == got and f["line"].encode() == sent


def test_duplicate(hub):
    h = hub("--fault", "duplicate=3 cmd=pm")
    a, b = nmdc_pair(h)
    pm(a, "bob", "twice")
    pm(a, "bob", "after")
    b.expect(b"$To: bob From: alice $<alice> after")
    assert b.seen.count(b"$To: bob From: alice $<alice> twice") == 3
    tr = stopped_trace(h)
    assert [f["copies"] for f in faults(tr, "duplicate")] == [3, 3]


def test_disconnect_fin_and_rst(hub):
    h = hub("--fault", "disconnect cmd=pm from=alice", "--fault", "disconnect=rst cmd=pm from=carol")
    a, b = nmdc_pair(h)
    c = h.nmdc_conn().login("carol")
    pm(a, "bob", "bye")
    a.wait_closed()                               # FIN: an orderly EOF
    c.sock.settimeout(TIMEOUT)
    pm(c, "bob", "reset")
    with pytest.raises(ConnectionResetError):
        while c.sock.recv(65536):
            pass
    b.expect(b"$Quit carol")
    assert not any(b"bye" in l or b"reset" in l for l in b.seen)
    tr = stopped_trace(h)
    assert [f.get("how") for f in faults(tr, "disconnect")] == ["fin", "rst"]
    assert any(x.get("event") == "logout" and x["nick"] == "alice" and x["reason"] == "fault: disconnect" for x in tr)


def test_half_close_hub_stops_writing_keeps_reading(hub):
    h = hub("--fault", "half-close cmd=chat from=alice text=stop")
    a, b = nmdc_pair(h)
    a.send("<alice> stop")
    a.wait_closed()                               # EOF from the hub ...
    pm(a, "bob", "still heard")                   # ... which still reads alice
    b.expect(b"$To: bob From: alice $<alice> still heard")
    tr = stopped_trace(h)
    assert [f.get("how") for f in faults(tr, "half-close")] == ["half"]


def test_throttle_limits_output_rate(hub):
    h = hub("--fault", "throttle=4000 dir=out to=bob cmd=chat count=1")
    a, b = nmdc_pair(h)
    line = "<alice> " + "y" * 990
    t0 = time.monotonic()
    for _ in range(12):
        a.send(line)
    a.send("<alice> done")
    b.expect(b"<alice> done", timeout=TIMEOUT * 3)
    took = time.monotonic() - t0
    assert took >= 12 * 1000 / 4000 * 0.8, took   # ~3 s at 4000 B/s
    assert b.seen.count(line.encode()) == 12
    tr = stopped_trace(h)
    assert [f["rate"] for f in faults(tr, "throttle")] == [4000]


def test_slice_writes_small_pieces(hub):
    h = hub("--fault", "slice=7 gap=30ms dir=out to=bob cmd=chat count=1 for=3s")
    a, b = nmdc_pair(h)
    text = b"<alice> " + b"z" * 90
    a.send(text)
    b.sock.settimeout(TIMEOUT)
    data, sizes = b"", []
    while not data.endswith(text + b"|"):
        chunk = b.sock.recv(65536)
        assert chunk
        data += chunk
        sizes.append(len(chunk))
    # unsliced it is one read; sliced, 15 pieces 30 ms apart (a busy reader
    # may take a few at once)
    assert len(sizes) >= 4 and max(sizes) <= len(text) // 2, sizes
    tr = stopped_trace(h)
    assert [f["slice"] for f in faults(tr, "slice")] == [7]


def test_stall_read_and_write_for_a_while(hub):
    h = hub("--fault", "stall=read for=1s cmd=chat from=alice text=pause count=1",
            "--fault", "stall=write for=1s dir=out to=bob cmd=chat text=hold count=1")
    a, b = nmdc_pair(h)
    t0 = time.monotonic()
    # One write, so the PM is already read when the chat line stalls reading:
    # it must wait with the unread bytes (CI once delivered it at once).
    a.send_raw(b"<alice> pause|$To: bob From: alice $<alice> after the pause|")
    b.expect(b"$To: bob From: alice $<alice> after the pause")
    assert time.monotonic() - t0 >= 0.8
    t0 = time.monotonic()
    a.send("<alice> hold")                        # bob's output stalls for 1 s
    a.expect(b"<alice> hold")
    b.expect(b"<alice> hold")
    assert time.monotonic() - t0 >= 0.8
    tr = stopped_trace(h)
    assert sorted(f["stall"] for f in faults(tr, "stall")) == ["read", "write"]


def test_ttl_ends_a_rule(hub):
    h = hub(control=True)
    ctl = h.control()
    ctl.request("fault", add="drop cmd=pm ttl=300ms")
    a, b = nmdc_pair(h)
    pm(a, "bob", "lost")
    assert b.recv(0.6) is None                    # dropped, and the ttl passes meanwhile
    pm(a, "bob", "kept")
    b.expect(b"$To: bob From: alice $<alice> kept")
    assert b"$To: bob From: alice $<alice> lost" not in b.seen
    r = ctl.request("fault", list=True)["rules"][0]
    assert (r["applied"], r["active"]) == (1, False)


def test_shaping_and_half_close_on_tls_connections(hub):
    """TLS connections are shaped with libevent's rate limits, not the
    plain writer: the same rules, the same effects."""
    h = hub("--fault", "throttle=4000 dir=out to=bob cmd=chat text=go count=1",
            "--fault", "stall=write for=1s dir=out to=bob cmd=chat text=hold count=1",
            "--fault", "half-close cmd=chat from=bob text=stop", tls=True, adc=False)
    a, b = h.nmdc_conn(tls=True).login("alice"), h.nmdc_conn(tls=True).login("bob")
    line = "<alice> go " + "y" * 990
    t0 = time.monotonic()
    for _ in range(12):
        a.send(line)
    a.send("<alice> done")
    b.expect(b"<alice> done", timeout=TIMEOUT * 3)
    took = time.monotonic() - t0
    assert took >= 12 * 1000 / 4000 * 0.6, took   # ~2.7 s; the first burst goes at once
    t0 = time.monotonic()
    a.send("<alice> hold")
    b.expect(b"<alice> hold")
    assert time.monotonic() - t0 >= 0.8
    b.send("<bob> stop")
    b.wait_closed()
    tr = stopped_trace(h)
    assert sorted(f["action"] for f in faults(tr)) == ["half-close", "stall", "throttle"]
