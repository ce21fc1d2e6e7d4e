"""The hub-side cases of the ADC test specification (ADC-TST 1.0, Fredrik
Ullner, 2012: areas INF, MSG, PAS, QUI, SCH, SID, SUP, General), run
against fakehub over raw sockets. Where the specification states an outcome
("the other client does not receive the message", "server sends a STA ...
and disconnects") the test asserts exactly that; where it lists a case
without one, the test asserts the outcome of fakehub's rule for it, from
ADC 1.0.4's wording (docs/fakehub.md, "Protocol violations"). Every refusal
must also arrive as a `violation` event naming its rule."""
import pytest

from fhraw import Adc, b32, hub, new_identity, tiger  # noqa: F401
from strictkit import Room, between, fatal, forwarded, refused

pytestmark = pytest.mark.sanitize

BIG = "9" * 25          # overflows 64 bits
UNDER = "-" + "9" * 25  # underflows


@pytest.fixture
def room(hub):
    return Room(hub)


# ---- MSG -------------------------------------------------------------------------

@pytest.mark.parametrize("tail", ["", " ME1", " PM{a}", " ME1 PM{a}", " PM{a} ME1", " ME0", " ME"])
def test_msg_forwarded_unmodified(room, tail):
    """ADC-TST MSG: basic, ME, PM, ME and PM in both orders: forwarded unmodified."""
    a = room.a
    forwarded(room, f"BMSG {a.sid} example{tail.format(a=a.sid)}")
    forwarded(room, f"EMSG {a.sid} {room.b.sid} example{tail.format(a=a.sid)}")


@pytest.mark.parametrize("me", ["-1", UNDER, BIG, "2", "x", "1x"])
def test_msg_bad_me_not_forwarded(room, me):
    """ADC-TST MSG: negative out-of-bounds ME: the other client does not
    receive it; likewise underflow, overflow, positive out of bounds, junk."""
    v = refused(room, f"BMSG {room.a.sid} example ME{me}", "adc-msg-me", "140")
    assert v["detail"].startswith("ME")


@pytest.mark.parametrize("pm", ["", "AAA", "AAAAA", "AA1!", "AAA1", "ZZZZ", "{b}"])
def test_msg_bad_pm_not_forwarded(room, pm):
    """ADC-TST MSG: empty PM, too short/long SID, invalid characters,
    non-existing SID; and a PM naming someone else than the sender."""
    a, b = room.a, room.b
    refused(room, f"EMSG {a.sid} {b.sid} example PM{pm.format(b=b.sid)}", "adc-msg-pm", "140")


def test_msg_before_normal_is_fatal(hub):
    """ADC-TST MSG in PROTOCOL / IDENTIFY / VERIFY state; NORMAL is the
    forwarded case above."""
    room = Room(hub, "adc", "--user", "reg:pw")
    c = room.h.adc_conn()
    c.sid = "AAAA"   # not told yet: any SID
    fatal(room, c, "BMSG AAAA example", "adc-state", "244")
    c = room.h.adc_conn()
    c.hello()
    fatal(room, c, f"BMSG {c.sid} example", "adc-state", "244")
    c = room.h.adc_conn()
    c.hello()
    c.send(c.binf("reg"))
    c.expect("IGPA ")
    fatal(room, c, f"BMSG {c.sid} example", "adc-state", "244")


# ---- PAS -------------------------------------------------------------------------

@pytest.mark.parametrize("answer, sta", [("B" * 39, "223"), ("B" * 38 + "1", "240"), (None, "240")])
def test_pas_invalid_is_fatal(hub, answer, sta):
    """ADC-TST PAS: a response not matching the GPA, one with invalid
    characters, an empty PAS: STA and disconnect."""
    h = hub("--user", "reg:pw")
    c = h.adc_conn()
    c.hello()
    c.send(c.binf("reg"))
    c.expect("IGPA ")
    c.send("HPAS" + (f" {answer}" if answer else ""))
    lines = c.wait_closed()
    assert any(l.startswith(f"ISTA {sta} ".encode()) for l in lines), lines


def test_pas_valid(hub):
    h = hub("--user", "reg:pw")
    assert h.adc_conn().login("reg", password="pw")


# ---- QUI -------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    "{b}", "{b} MSspoofed", "ZZZZ", "{a}", "{b} ID{a}", "{b} IDAAA", "{b} IDAAAAA", "{b} IDAA1!",
    "{b} IDZZZZ", "{b} TL-1", "{b} TL-2", "{b} TL" + UNDER, "{b} TL" + BIG, "{b} TL120",
    "{b} TLx", "{b} TL", "{b} MSexample", "{b} MS", "{b} DI-1", "{b} DI" + UNDER, "{b} DI" + BIG,
    "{b} DI0", "{b} DI1", "{b} DIx", "{b} DI", "{b} RD", "{b} RDadc://127.0.0.1:1",
])
def test_qui_from_a_client_is_never_relayed(room, params):
    """ADC-TST QUI (every case with a well-formed SID): QUI is the hub's
    (contexts: F). A client's is refused with STA 125 FC, reaches nobody,
    and the user it names stays online."""
    a, b = room.a, room.b
    refused(room, f"BQUI {a.sid} {params.format(a=a.sid, b=b.sid)}", "adc-context", "125", cmd=b"QUI")
    forwarded(room, f"BMSG {a.sid} still\\sthere")   # b still gets a's chat: both online


@pytest.mark.parametrize("sid", ["AAA", "AAAAA", "AA1!"])
def test_qui_with_malformed_sid_is_fatal(room, sid):
    """ADC-TST QUI: too short, too long, invalid characters in the SID: the
    line does not parse; the sender is disconnected, b gets only its IQUI."""
    fatal(room, room.a, f"BQUI {room.a.sid} {sid}", "adc-syntax", "240")
    assert room.b.expect("IQUI ") == f"IQUI {room.a.sid}".encode()


def test_qui_in_every_state_is_refused(hub):
    """ADC-TST QUI in PROTOCOL, IDENTIFY, VERIFY, NORMAL state."""
    room = Room(hub, "adc", "--user", "reg:pw")
    c = room.h.adc_conn()
    c.send(f"HQUI {room.b.sid}")
    c.expect("ISTA 125 ")
    c.hello()
    c.send(f"BQUI {c.sid} {room.b.sid}")
    c.expect("ISTA 125 ")
    c.send(c.binf("reg"))
    c.expect("IGPA ")
    c.send(f"BQUI {c.sid} {room.b.sid}")
    c.expect("ISTA 125 ")
    assert len([v for v in room.violations() if v["rule"] == "adc-context"]) == 3
    refused(room, f"DQUI {room.a.sid} {room.b.sid} {room.b.sid}", "adc-context", "125", cmd=b"QUI")


# ---- SID -------------------------------------------------------------------------

@pytest.mark.parametrize("sid, rule", [("BBB", "adc-syntax"), ("BBBBB", "adc-syntax"),
                                       ("BBB1", "adc-syntax"), ("ZZZZ", "adc-sid"), ("{b}", "adc-sid")])
def test_sid_in_inf_must_be_the_assigned_one(room, sid, rule):
    """ADC-TST SID: too short, too long, invalid characters, non-assigned,
    assigned to another client: STA and disconnect."""
    c = room.h.adc_conn()
    c.hello()
    line = c.binf("carol").replace(f"BINF {c.sid} ", f"BINF {sid.format(b=room.b.sid)} ")
    fatal(room, c, line, rule, "240")


def test_valid_sid_assignment_and_use(room):
    """ADC-TST SID: valid assignment and use (the room's users logged in)."""
    forwarded(room, f"BMSG {room.a.sid} valid\\ssid")


# ---- SUP -------------------------------------------------------------------------

@pytest.mark.parametrize("sup, sta, rule", [
    ("HSUP ADBAS2 ADTIGR", "245", "adc-sup-base"),   # invalid BASE version
    ("HSUP ADBASE", "247", "adc-sup-hash"),          # no overlapping hash
    ("HSUP", "245", "adc-sup-base"),                  # no SUP content
])
def test_sup_at_login(room, sup, sta, rule):
    """ADC-TST SUP from a client: STA indicating the lack and disconnect."""
    fatal(room, room.h.adc_conn(), sup, rule, sta)


@pytest.mark.parametrize("feature", ["BASE", "TIGR"])
def test_sup_removing_base_or_hash_in_normal(room, feature):
    """ADC-TST SUP: remove BASE / hash support in NORMAL from the client:
    STA indicating the lack of support and disconnect."""
    v = fatal(room, room.a, f"HSUP RM{feature}", "adc-sup-remove", "245")
    assert v["detail"] == f"RM{feature}"


def test_sup_valid_sequence_in_normal(room):
    """ADC-TST SUP: valid SUP sequence from the client (also in NORMAL)."""
    room.a.send("HSUP ADZLIF RMBLOM")
    forwarded(room, f"BMSG {room.a.sid} after\\ssup")


# ---- INF -------------------------------------------------------------------------

def inf_login(room, extra="", nick="carol", drop=()):
    """A third client's BINF with `extra` fields, without the fields in drop."""
    c = room.h.adc_conn()
    c.hello()
    line = " ".join(t for t in c.binf(nick).split(" ") if t[:2] not in drop) + extra
    c.send(line)
    return c, line


def test_inf_id_pd_matching(room):
    c, _ = inf_login(room)
    c.expect(f"BINF {c.sid} ")


@pytest.mark.parametrize("drop, extra, flag", [
    ((), " ID" + new_identity()[1], "FBID"),           # mismatching: ID given twice, other CID
    (("ID", "PD"), " ID" + new_identity()[1] + " PD" + new_identity()[0], "FBID"),  # mismatch
    (("PD",), "", "FMPD"),                              # only ID
    (("ID",), "", "FMID"),                              # only PD
    (("ID", "PD"), "", "FMID"),                         # neither
    (("ID",), " ID" + "A" * 38 + "1", "FBID"),          # invalid characters in ID
    (("PD",), " PD" + "A" * 38 + "1", "FBPD"),          # invalid characters in PD
], ids=["other-id", "mismatch", "only-id", "only-pd", "neither", "bad-id", "bad-pd"])  # stable under xdist
def test_inf_identity_cases(room, drop, extra, flag):
    """ADC-TST INF: ID/PD mismatching, only one, neither, invalid characters."""
    c, line = inf_login(room, extra, drop=drop)
    lines = c.wait_closed()
    assert any(flag.encode() in l and l.startswith(b"ISTA 2") for l in lines), lines
    room.violation("adc-inf-identity")


def test_inf_empty(room):
    c = room.h.adc_conn()
    c.hello()
    fatal(room, c, f"BINF {c.sid}", "adc-inf-identity", "243")


@pytest.mark.parametrize("field", ["NI", "DE"])
@pytest.mark.parametrize("bad", ["a\x01b", "bell\x07"])
def test_inf_invalid_characters_in_text(room, field, bad):
    """ADC-TST INF: invalid characters in NI / DE (control characters; the
    spec allows code points >= 32, NI > 32): refused at login (fatal) and in
    an update (STA 143, not relayed)."""
    c, _ = inf_login(room, f" {field}{bad}", drop=(field,) if field == "NI" else ())
    lines = c.wait_closed()
    assert any(l.startswith(b"ISTA 243 ") and f"FB{field}".encode() in l for l in lines), lines
    room.violation("adc-inf-text")
    refused(room, f"BINF {room.a.sid} {field}{bad}", "adc-inf-text", "143")


@pytest.mark.parametrize("value", ["10.0.0.1", "127.0.0.x", "300.1.1.1", "localhost", "0.0.0.0",
                                   "127.0.0.1"])
def test_inf_i4_is_the_real_address(room, value):
    """ADC-TST INF: invalid characters, invalid IP, wrong IP, DNS, zero and
    correct address in I4: what others see is the address the client
    connects from; all but zero and correct are violations."""
    before = len(room.violations())
    got = between(room.a, room.b, f"BINF {room.a.sid} I4{value}")
    assert f"BINF {room.a.sid} I4127.0.0.1".encode() in got, got
    new = room.violations()[before:]
    if value in ("0.0.0.0", "127.0.0.1"):
        assert not new, new
    else:
        assert [v["rule"] for v in new] == ["adc-inf-ip"] and new[0]["action"] == "replaced", new


@pytest.mark.parametrize("value", ["2001:db8::g1", "2001:db8::1", "::1", "example.org", "::"])
def test_inf_i6_from_an_ipv4_client_is_dropped(room, value):
    """ADC-TST INF: invalid characters, invalid, wrong, DNS, zero, correct
    address in I6: over IPv4 nobody can check an IPv6 address, so it is
    dropped (a violation unless it is the zero address)."""
    before = len(room.violations())
    got = between(room.a, room.b, f"BINF {room.a.sid} I6{value} SS5")
    assert f"BINF {room.a.sid} SS5".encode() in got, got
    new = room.violations()[before:]
    assert [v["rule"] for v in new] == ([] if value == "::" else ["adc-inf-ip"]), new
    c, _ = inf_login(room, f" I6{value}")
    own = c.expect(f"BINF {c.sid} ")
    assert b" I6" not in own, own


@pytest.mark.parametrize("su", ["TCP4,UDP45", "TCP4,UDP", "TCP4,udp4", "TCP4,,UDP4", "TCP4;UDP4"])
def test_inf_bad_su(room, su):
    """ADC-TST INF: too long / too short / invalid FOURCC, invalid formatting of SU."""
    refused(room, f"BINF {room.a.sid} SU{su}", "adc-inf-su", "143")
    c, _ = inf_login(room, f" SU{su}", drop=("SU",))
    assert any(l.startswith(b"ISTA 243 ") and b"FBSU" in l for l in c.wait_closed())


INT_FIELDS = ["SS", "SF", "US", "DS", "SL", "AS", "AM", "HN", "HR", "HO", "AW"]


@pytest.mark.parametrize("value", [UNDER, "-1", BIG, "1x", "x"])
def test_inf_bad_integers(room, value):
    """ADC-TST INF: underflow, negative out-of-range, overflow, invalid
    characters for SS SF US DS SL AS AM HN HR HO AW: refused."""
    for f in INT_FIELDS:
        refused(room, f"BINF {room.a.sid} {f}{value}", "adc-inf-int", "143")


def test_inf_integer_ranges_and_zero(room):
    """ADC-TST INF: 0 for every integer field is accepted; AW above 2 is a
    positive out-of-range value."""
    forwarded(room, f"BINF {room.a.sid} " + " ".join(f"{f}0" for f in INT_FIELDS))
    refused(room, f"BINF {room.a.sid} AW3", "adc-inf-int", "143")
    refused(room, f"BINF {room.a.sid} U470000", "adc-inf-int", "143")


@pytest.mark.parametrize("ct", ["-1", "64", "1x2", "0", "32", "4", UNDER, BIG, ""])
def test_inf_ct_is_the_hubs(room, ct):
    """CT (user type) is the hub's: stripped from logins and updates, the
    rest relayed; registered users still get the hub's CT2."""
    a = room.a
    got = between(a, room.b, f"BINF {a.sid} CT{ct} SS7")
    assert f"BINF {a.sid} SS7".encode() in got, got
    assert room.violation("adc-inf-ct")["action"] == "stripped"
    c, _ = inf_login(room, f" CT{ct}")
    own = c.expect(f"BINF {c.sid} ")
    assert b" CT" not in own, own


def test_inf_ct_of_registered_user_is_the_hubs(hub):
    room = Room(hub, "adc", "--user", "reg:pw:op")
    c = room.h.adc_conn().login("reg", password="pw", extra=" CT1")
    own = [l for l in c.seen if l.startswith(f"BINF {c.sid} ".encode())][-1]
    assert b" CT4" in own and b" CT1" not in own, own


# ---- SCH -------------------------------------------------------------------------

@pytest.mark.parametrize("term", ["LE" + UNDER, "GE-1", "EQ" + BIG, "TY" + BIG, "TY3", "TY0",
                                  "LEx", "GE1x", "EQ", "TY-1", "TY"])
def test_sch_bad_sizes_and_types(room, term):
    """ADC-TST SCH: underflow, negative, overflow, invalid characters in LE
    GE EQ TY; TY out of range (1 file, 2 directory); empty LE GE EQ TY."""
    refused(room, f"BSCH {room.a.sid} ANx {term} TOt", "adc-sch", "140")


@pytest.mark.parametrize("terms", ["LE0 GE0 EQ0 TY1", "LE5 EQ9", "GE9 EQ5", "LE1 GE9 EQ5",
                                   "ANlinux", "NOgentoo", "NOonly", "ANx NOx", "EXi\\sso",
                                   "AN", "NO", "EX", "TO", "ANx TY2"])
def test_sch_valid_forms_forwarded(room, terms):
    """ADC-TST SCH: 0 values, conflicting LE/GE/EQ (an empty result, not a
    malformed search), AN/NO/EX and empty string terms are forwarded."""
    forwarded(room, f"BSCH {room.a.sid} {terms}")


# ---- General ---------------------------------------------------------------------

def test_unknown_fields_and_commands_forwarded(room):
    """ADC-TST General: the server forwards unknown fields and unknown commands."""
    forwarded(room, f"BMSG {room.a.sid} text XXunknown")
    forwarded(room, f"BINF {room.a.sid} XYvalue")
    forwarded(room, f"BZZZ {room.a.sid} whatever FLag")
    forwarded(room, f"DZZZ {room.a.sid} {room.b.sid} direct")


@pytest.mark.parametrize("cmd", ["SID", "GPA", "GET", "GFI", "SND"])
def test_other_commands_a_client_may_not_send_to_the_hub(room, cmd):
    """ADC 1.0.4 contexts: SID, GPA come from the hub (F); GET, GFI, SND go
    between clients (C). None is relayed."""
    params = {"SID": "AAAB", "GPA": "A" * 39, "GET": "file x 0 -1", "GFI": "file x",
              "SND": "file x 0 1"}[cmd]
    refused(room, f"DCMD {room.a.sid} {room.b.sid} {params}".replace("CMD", cmd),
            "adc-context", "125", cmd=cmd.encode())
