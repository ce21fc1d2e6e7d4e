"""fakehub's protocol rules beyond the ADC test specification's cases
(test_adc_spec.py): the NMDC rules, one bad input per violation kind; the
`violation` event's fields on the control socket and in the trace; and
lenient mode (`--lenient`, `lenient = 1`), which relays what strict mode
refuses and still reports it."""
import json
import signal
import time

import pytest

from fhraw import TIMEOUT, hub  # noqa: F401
from strictkit import Room, between, fatal, forwarded, refused

pytestmark = pytest.mark.sanitize


@pytest.fixture
def nroom(hub):
    return Room(hub, "nmdc")


# ---- NMDC, one case per rule ------------------------------------------------------

def test_nmdc_syntax(nroom):
    v = fatal(nroom, nroom.a, b"$MyINFO $ALL alice \xff\x00", "nmdc-syntax")
    assert v["line"] == "$MyINFO $ALL alice \u00ff\u0000" or v["line"].startswith("$MyINFO")


def test_nmdc_state(nroom):
    c = nroom.h.nmdc_conn()
    c.expect("$Lock ")
    fatal(nroom, c, "<nobody> chat before login", "nmdc-state")


@pytest.mark.parametrize("key", [b"$Key wrong", None])
def test_nmdc_key(nroom, key):
    """A wrong $Key, or $ValidateNick before any $Key."""
    c = nroom.h.nmdc_conn()
    c.expect("$Lock ")
    fatal(nroom, c, key or b"$ValidateNick carol", "nmdc-key")


@pytest.mark.parametrize("nick", ["car$ol", "car<ol>", "car\x01ol"])
def test_nmdc_nick(nroom, nick):
    c = nroom.h.nmdc_conn()
    lock = c.expect("$Lock ")[6:].split(b" Pk=")[0]
    from fhraw import lock_to_key
    c.send(b"$Key " + lock_to_key(lock))
    fatal(nroom, c, f"$ValidateNick {nick}", "nmdc-nick")


@pytest.mark.parametrize("line", [
    "<bob> not me",
    "$To: bob From: bob $<bob> not me",
    "$To: bob From: alice $<bob> not me",
    "$RevConnectToMe bob alice",
    "$Search Hub:bob F?T?0?1?x",
    "$SR bob file\x0510 1/1\x05TTH:AAAA (127.0.0.1:1)\x05alice",
    "$MyINFO $ALL bob x$ $100\x01$$0$",
])
def test_nmdc_sender(nroom, line):
    """Every command that names its sender must name the sender's own nick."""
    fatal(nroom, nroom.a, line, "nmdc-sender")
    nroom.b.expect("$Quit alice")


@pytest.mark.parametrize("line", ["$Hello alice", "$Quit bob", "$NickList a$$b$$", "$OpList bob$$",
                                  "$HubName fake", "$ForceMove 127.0.0.1:1", "$LogedIn alice",
                                  "$GetPass", "$BadPass", "$ValidateDenide bob", "$HubIsFull",
                                  "$UserIP bob 1.2.3.4$$", "$Lock x Pk=y", "$MyNick alice",
                                  "$Direction Download 1", "$ADCGET file files.xml.bz2 0 -1",
                                  "$MaxedOut", "$Error File Not Available"])
def test_nmdc_context(nroom, line):
    """Commands only hubs send, or only clients to clients: reported,
    ignored (never relayed), the sender stays."""
    v = refused(nroom, line, "nmdc-context")
    assert v["action"] == "ignored"


@pytest.mark.parametrize("addr", ["10.0.0.1:4000", "0.0.0.0:4000", "localhost:4000"])
def test_nmdc_ctm_ip(nroom, addr):
    """$ConnectToMe must give the sender's own address (notes §2.8): else the
    target never gets it and the sender is told."""
    refused(nroom, f"$ConnectToMe bob {addr}", "nmdc-ctm-ip")
    nroom.a.expect("<Hub> &#36;ConnectToMe refused")
    forwarded(nroom, "$ConnectToMe bob 127.0.0.1:4000")
    forwarded(nroom, "$ConnectToMe bob 127.0.0.1:4001S")


def test_nmdc_clean_session_has_no_violations(nroom):
    a, b = nroom.a, nroom.b
    forwarded(nroom, "<alice> hello")
    between(a, b, "$To: bob From: alice $<alice> pm")
    between(a, b, "$RevConnectToMe alice bob")
    between(a, b, "$Search Hub:alice F?T?0?1?x")
    between(a, b, "$Search 127.0.0.1:4000 F?T?0?9?TTH:" + "A" * 39)
    assert nroom.violations() == []


# ---- the report ------------------------------------------------------------------

def test_violation_event_fields_on_control_and_trace(hub):
    room = Room(hub)
    a = room.a
    line = f"BQUI {a.sid} {room.b.sid} MSspoofed"
    v = refused(room, line, "adc-context", "125")
    assert v == {"event": "violation", "conn": v["conn"], "nick": "alice", "proto": "adc",
                 "rule": "adc-context", "section": "ADC 1.0.4 BASE messages: Contexts",
                 "what": v["what"], "detail": "BQUI", "action": "refused", "line": line}
    assert "QUI" in v["what"]
    room.h.proc.signal(signal.SIGUSR1)   # flushes the trace
    deadline = time.monotonic() + TIMEOUT
    while True:
        tv = [e for e in room.h.trace() if e.get("event") == "violation"]
        if tv or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert tv and {k: tv[0][k] for k in ("conn", "nick", "proto", "rule", "section", "action",
                                         "line", "detail")} == \
        {k: v[k] for k in ("conn", "nick", "proto", "rule", "section", "action", "line", "detail")}
    # the line that broke the rule is in the trace just before its violation
    trace = room.h.trace()
    i = trace.index(tv[0])
    assert trace[i - 1].get("dir") == "in" and trace[i - 1]["line"] == line


def test_subscribe_names_violation(hub):
    h = hub(control=True)
    ctl = h.control()
    assert ctl.request("subscribe", events=["violation"]) == {}
    r = ctl.request("subscribe", events=["nonsense"], check=False)
    assert not r["ok"] and "violation" in r["error"]


# ---- lenient mode ----------------------------------------------------------------

@pytest.mark.parametrize("how", [("--lenient",), ("--lenient=1",), "config"])
def test_lenient_relays_and_still_reports(hub, tmp_path, how):
    if how == "config":
        cfg = tmp_path / "lenient.conf"
        cfg.write_text("lenient = 1\n")
        how = ("--config", str(cfg))
    room = Room(hub, "adc", *how)
    a, b = room.a, room.b
    for line, rule in [(f"BQUI {a.sid} {b.sid} MSspoofed", "adc-context"),
                       (f"BMSG {a.sid} x ME2", "adc-msg-me"),
                       (f"EMSG {a.sid} {b.sid} x PM{b.sid}", "adc-msg-pm"),
                       (f"BSCH {a.sid} ANx TY7", "adc-sch"),
                       (f"BINF {a.sid} CT4", "adc-inf-ct"),
                       (f"BINF {a.sid} I610.0.0.1", "adc-inf-ip"),
                       (f"BINF {a.sid} DEbell\x07", "adc-inf-text")]:
        got = between(a, b, line)
        assert line.encode() in got, (line, got)
        assert room.violation(rule, line=line)["action"] == "relayed"
    # rules the hub cannot bend still disconnect
    fatal(room, a, f"BMSG ZZZZ spoofed", "adc-sid", "240")


def test_lenient_nmdc_ctm(hub):
    room = Room(hub, "nmdc", "--lenient")
    got = between(room.a, room.b, "$ConnectToMe bob 10.0.0.1:4000")
    assert b"$ConnectToMe bob 10.0.0.1:4000" in got
    assert room.violation("nmdc-ctm-ip")["action"] == "relayed"


def test_strict_is_the_default_and_counted_in_the_dump(hub):
    room = Room(hub)
    refused(room, f"BMSG {room.a.sid} x ME2", "adc-msg-me", "140")
    room.h.proc.signal(signal.SIGUSR1)
    deadline = time.monotonic() + TIMEOUT
    while "violations=1 " not in room.h.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "violations=1 " in room.h.log()
    assert "violation adc-msg-me ME2: refused" in room.h.log()


def test_help_lists_lenient(bin_path):
    import subprocess
    out = subprocess.run([bin_path("fakehub"), "--help"], capture_output=True, text=True,
                         timeout=TIMEOUT).stdout
    assert "--lenient" in out
    json.dumps(out)
