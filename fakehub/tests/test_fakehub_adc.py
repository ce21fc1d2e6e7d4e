"""fakehub over raw ADC sockets: SUP/SID/INF login with every BINF check,
user list with own BINF last, chat/PM routing, CTM/RCM/SCH/RES routing by
SID, passwords (IGPA/HPAS), spoofed SIDs, INF updates (notes §3, §4.3)."""
import pytest

from fhraw import Adc, b32, b32dec, hub, new_identity, tiger  # noqa: F401

pytestmark = pytest.mark.sanitize


def sta_and_quit(conn):
    """The lines a refused client gets before the hub closes: (ISTA, IQUI)."""
    lines = conn.wait_closed()
    sta = [l for l in lines if l.startswith(b"ISTA ")]
    qui = [l for l in lines if l.startswith(b"IQUI ")]
    assert sta and qui, lines
    assert lines.index(sta[-1]) < lines.index(qui[-1])
    return sta[-1], qui[-1]


def test_vectors_from_notes():
    # the helper's Tiger/base32 agree with notes §3.2, so the tests below mean something
    assert b32(tiger(bytes(range(24)))) == "W6AIUW3CLDF6OGHNVE4JPDDJ2P74IWRCF2O36TA"
    assert b32(tiger(bytes(24))) == "ZXO4VT7KPNYLJBLFLOR5YP3A33SPNOHYMEDJ4MY"


def test_login_list_own_binf_last_pd_stripped_i4_filled(hub):
    h = hub("--name", "Test Hub", "--topic", "about")
    a = h.adc_conn()
    a.send("HSUP ADBASE ADTIGR")
    assert a.expect("ISUP ") == b"ISUP ADBASE ADTIGR"
    a.sid = a.expect("ISID ").split()[1].decode()
    inf = a.expect("IINF ")
    assert b"CT32" in inf and b"NITest\\sHub" in inf and b"DEabout" in inf
    a.nick = "alice"
    a.send(a.binf("alice"))
    own = a.expect(f"BINF {a.sid} ")
    assert b" PD" not in own and a.pid.encode() not in own
    assert b"I4127.0.0.1" in own and f"ID{a.cid}".encode() in own
    b = h.adc_conn().login("bob")
    binfs = [l for l in b.seen if l.startswith(b"BINF ")]
    assert binfs[0].startswith(f"BINF {a.sid} ".encode())
    assert binfs[-1].startswith(f"BINF {b.sid} ".encode())        # own BINF last (pitfall 12)
    assert a.expect(f"BINF {b.sid} ") == binfs[-1]               # everyone sees the same
    b.close()
    assert a.expect("IQUI ") == f"IQUI {b.sid}".encode()


def test_chat_pm_echo_and_direct(hub):
    h = hub()
    a, b, c = (h.adc_conn().login(n) for n in ("alice", "bob", "carol"))
    a.send(f"BMSG {a.sid} hello\\sall")
    for x in (a, b, c):
        assert x.expect("BMSG ") == f"BMSG {a.sid} hello\\sall".encode()
    a.send(f"EMSG {a.sid} {b.sid} psst PM{a.sid}")
    assert b.expect("EMSG ") == f"EMSG {a.sid} {b.sid} psst PM{a.sid}".encode()
    assert a.expect("EMSG ") == f"EMSG {a.sid} {b.sid} psst PM{a.sid}".encode()   # E echoes
    a.send(f"DMSG {a.sid} {b.sid} direct PM{a.sid}")
    assert b.expect("DMSG ").startswith(f"DMSG {a.sid} {b.sid} direct".encode())
    a.send(f"BMSG {a.sid} marker")
    for x in (a, c):
        lines = []
        x.expect(lambda l: lines.append(l) or l == f"BMSG {a.sid} marker".encode())
        assert not any(l.startswith(b"DMSG") for l in lines)
        if x is c:
            assert not any(l.startswith(b"EMSG") for l in lines)
    a.send(f"DMSG {a.sid} ZZZZ lost PM{a.sid}")   # unknown target: recoverable STA
    assert a.expect("ISTA ").startswith(b"ISTA 140 ")


def test_ctm_rcm_sta_sch_res_routed(hub):
    h = hub()
    a, b = h.adc_conn().login("alice"), h.adc_conn().login("bob", extra=",UDP4")
    c = h.adc_conn().login("carol")       # SU TCP4 only (no UDP4)
    for line in (f"DCTM {a.sid} {b.sid} ADC/1.0 4114 tok1", f"DRCM {a.sid} {b.sid} ADC/1.0 tok2",
                 f"DSTA {a.sid} {b.sid} 241 Protocol\\sunknown PRx TOtok3",
                 f"DRES {a.sid} {b.sid} FN/a.txt SI6 SL1 TOt"):
        a.send(line)
        assert b.expect(line[:4]) == line.encode()
    a.send(f"DSCH {a.sid} {b.sid} ANdirect TOs0")
    assert b.expect("DSCH ") == f"DSCH {a.sid} {b.sid} ANdirect TOs0".encode()
    a.send(f"BSCH {a.sid} ANneedle TOs1")
    assert c.expect("BSCH ") == f"BSCH {a.sid} ANneedle TOs1".encode()
    a.send(f"FSCH {a.sid} +UDP4 ANneedle TOs2")
    assert b.expect("FSCH ") == f"FSCH {a.sid} +UDP4 ANneedle TOs2".encode()
    a.send(f"BMSG {a.sid} marker")
    lines = []
    c.expect(lambda l: lines.append(l) or l == f"BMSG {a.sid} marker".encode())
    assert not any(l[1:4] in (b"CTM", b"RCM", b"STA", b"RES") or l[:4] in (b"FSCH", b"DSCH")
                   for l in lines)


def test_password_login_good_and_bad(hub):
    h = hub("--user", "boss:secret:op")
    boss = h.adc_conn().login("boss", password="secret")
    own = [l for l in boss.seen if l.startswith(f"BINF {boss.sid}".encode())][-1]
    assert b"CT4" in own
    bad = h.adc_conn()
    bad.hello()
    bad.send(bad.binf("BOSS2"))              # unregistered: no IGPA
    bad.expect(f"BINF {bad.sid} ")
    wrong = h.adc_conn()
    wrong.hello()
    wrong.send(wrong.binf("Boss"))           # taken, case-insensitively
    sta, qui = sta_and_quit(wrong)
    assert sta.startswith(b"ISTA 222 ")
    boss.close()
    bad.expect(f"IQUI {boss.sid}")           # the nick is free again
    w2 = h.adc_conn()
    w2.hello()
    w2.send(w2.binf("boss"))
    salt = b32dec(w2.expect("IGPA ").split()[1].decode())
    assert len(salt) >= 24
    w2.send("HPAS " + b32(tiger(b"wrong" + salt)))
    sta, qui = sta_and_quit(w2)
    assert sta.startswith(b"ISTA 223 ") and qui.startswith(f"IQUI {w2.sid}".encode())
    assert not any(l.startswith(f"BINF {w2.sid}".encode()) for l in w2.seen)


@pytest.mark.parametrize("mutate,code", [
    (lambda c, l: l.replace(f"ID{c.cid}", "ID" + new_identity()[1]), b"243"),   # CID != Tiger(PID)
    (lambda c, l: l.replace(f" PD{c.pid}", ""), b"243"),                        # PD missing
    (lambda c, l: l.replace(f"PD{c.pid}", "PDAAAA"), b"227"),                    # PID malformed
    (lambda c, l: l.replace(" NIeve", " NIe|v$e"), b"221"),                      # invalid nick
    (lambda c, l: l.replace(f"BINF {c.sid}", "BINF AAZZ"), b"240"),              # not its SID
])
def test_binf_checks(hub, mutate, code):
    h = hub()
    c = h.adc_conn()
    c.hello()
    c.send(mutate(c, c.binf("eve")))
    sta, qui = sta_and_quit(c)
    assert sta.startswith(b"ISTA " + code), sta


def test_cid_taken(hub):
    h = hub()
    a = h.adc_conn().login("alice")
    b = h.adc_conn()
    b.pid, b.cid = a.pid, a.cid
    b.hello()
    b.send(b.binf("bob"))
    assert sta_and_quit(b)[0].startswith(b"ISTA 224 ")


def test_no_common_hash(hub):
    h = hub()
    c = h.adc_conn()
    c.send("HSUP ADBASE ADMD50")
    assert sta_and_quit(c)[0].startswith(b"ISTA 247 ")


def test_spoofed_sid_disconnects_and_others_see_quit(hub):
    h = hub()
    a, b = h.adc_conn().login("alice"), h.adc_conn().login("bob")
    b.send(f"BMSG {a.sid} spoofed")
    sta, qui = sta_and_quit(b)
    assert sta.startswith(b"ISTA 240 ")
    assert a.expect("IQUI ") == f"IQUI {b.sid}".encode()
    assert not any(b"spoofed" in l for l in a.seen)


def test_inf_update_merged_and_relayed(hub):
    h = hub()
    a, b = h.adc_conn().login("alice"), h.adc_conn().login("bob")
    a.expect(f"BINF {b.sid} ID")             # bob's login
    b.send(f"BINF {b.sid} SS1024 SF1 I41.2.3.4 PD{b.pid}")
    upd = a.expect(f"BINF {b.sid} ")
    assert upd == f"BINF {b.sid} SS1024 SF1 I4127.0.0.1".encode()   # PD gone, I4 real
    b.send(f"BINF {b.sid} NIalice")          # taken: refused, recoverable
    assert b.expect("ISTA ").startswith(b"ISTA 122 ")
    b.send(f"BINF {b.sid} NIbobby DE")
    assert a.expect(f"BINF {b.sid} ") == f"BINF {b.sid} NIbobby DE".encode()
    c = h.adc_conn().login("carol")          # a newcomer sees the merged INF
    binf = [l for l in c.seen if l.startswith(f"BINF {b.sid}".encode())][0]
    assert b"NIbobby" in binf and b"SS1024" in binf and b" DE" not in binf
    assert b" PD" not in binf and b.pid.encode() not in binf


def test_inf_merge_exact_line(hub):
    # the stored BINF, field by field: unchanged fields keep their place and
    # escaped text, an updated one changes in place (a repeated one's last
    # value wins), an empty one is deleted, new ones follow in the order
    # sent; PD never appears, I4 is the real address
    h = hub()
    b = h.adc_conn().login("bob", extra=" DEa\\sb DEtwo\\\\three")
    fixed = f"ID{b.cid} NIbob SL1"
    own = [l for l in b.seen if l.startswith(f"BINF {b.sid} ".encode())][-1]
    assert own == (f"BINF {b.sid} {fixed} SS0 SF0 VEfhraw\\s1 HN1 HR0 HO0 I4127.0.0.1 SUTCP4 "
                   "DEtwo\\\\three").encode()
    a = h.adc_conn().login("alice")
    b.send(f"BINF {b.sid} SS1024 VE SF1 SF2 I41.2.3.4 PD{b.pid} XXnew\\sfield HN XY")
    assert a.expect(f"BINF {b.sid} ") == (
        f"BINF {b.sid} SS1024 VE SF1 SF2 I4127.0.0.1 XXnew\\sfield HN XY").encode()
    c = h.adc_conn().login("carol")
    binf = [l for l in c.seen if l.startswith(f"BINF {b.sid} ".encode())][0]
    assert binf == (f"BINF {b.sid} {fixed} SS1024 SF2 HR0 HO0 I4127.0.0.1 SUTCP4 "
                    "DEtwo\\\\three XXnew\\sfield").encode()


def test_state_machine_enforced(hub):
    h = hub()
    c = h.adc_conn()
    c.hello()
    c.send(f"BMSG {c.sid} too\\searly")
    assert sta_and_quit(c)[0].startswith(b"ISTA 244 ")


def test_long_user_list_queued_in_pieces(hub):
    # 8 BINFs of ~5 KB are more than one 16 KiB piece of the newcomer's list:
    # all of them arrive, once each, then the own BINF last; a user who joins
    # meanwhile and a user who leaves are seen as usual
    h = hub()
    big = [h.adc_conn().login(f"u{i}", extra=" DE" + "x" * 5000) for i in range(8)]
    c = h.adc_conn().login("carol")
    binfs = [l.split()[1].decode() for l in c.seen if l.startswith(b"BINF ")]
    assert binfs[-1] == c.sid
    assert sorted(binfs[:-1]) == sorted(u.sid for u in big)
    assert all(len(l) > 5000 for l in c.seen if l.startswith(b"BINF ") and not l.startswith(f"BINF {c.sid}".encode()))
    d = h.adc_conn().login("dave")
    assert c.expect(f"BINF {d.sid} ")
    big[0].close()
    assert c.expect("IQUI ") == f"IQUI {big[0].sid}".encode()
    c.send(f"BMSG {c.sid} done")
    assert d.expect("BMSG ") == f"BMSG {c.sid} done".encode()
