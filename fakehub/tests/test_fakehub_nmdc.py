"""fakehub over raw NMDC sockets: login, user list, chat, PM, CTM/RCM,
search routing, passwords, refused keys and nicks (notes §2, §4.1)."""
import pytest

from fhraw import Nmdc, hub, lock_to_key  # noqa: F401  (hub is a fixture)

pytestmark = pytest.mark.sanitize


def test_login_user_list_and_quit(hub):
    h = hub()
    a = h.nmdc_conn().login("alice")
    b = h.nmdc_conn().login("bob", desc="bobdesc")
    # bob got alice's MyINFO before his own, then his own (newcomer included)
    mi = [l for l in b.seen if l.startswith(b"$MyINFO")]
    assert mi[0].startswith(b"$MyINFO $ALL alice ") and mi[-1].startswith(b"$MyINFO $ALL bob bobdesc")
    assert b"$Hello bob" in b.seen
    assert b"$UserIP bob 127.0.0.1" in b.seen        # UserIP2 asked for it
    # alice learns about bob, the line exactly as bob sent it
    assert a.expect(b"$MyINFO $ALL bob ") == b.myinfo(desc="bobdesc")
    b.close()
    assert a.expect(b"$Quit") == b"$Quit bob"


def test_lock_is_extended_and_key_checked(hub):
    h = hub()
    c = h.nmdc_conn()
    lock = c.expect(b"$Lock ")
    assert lock.startswith(b"$Lock EXTENDEDPROTOCOL") and b" Pk=" in lock
    c.send("$Supports NoHello ")
    c.send(b"$Key " + lock_to_key(b"EXTENDEDPROTOCOL_wrong_lock"))
    c.send("$ValidateNick alice")
    lines = c.wait_closed()
    assert any(b"Wrong key" in l for l in lines), lines
    assert not any(l.startswith(b"$Hello") for l in lines)


def test_nick_taken_case_insensitive_and_invalid(hub):
    h = hub()
    h.nmdc_conn().login("Alice")
    for nick in ("alice", "ALICE", "Hub", "a<b"):
        c = h.nmdc_conn()
        c.handshake(nick)
        lines = c.wait_closed()
        assert f"$ValidateDenide {nick}".encode() in lines, (nick, lines)
    # the original user is still fine
    assert h.nmdc_conn().login("carol")


def test_chat_echoed_to_all_and_sender_checked(hub):
    h = hub()
    a, b = h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")
    a.send("<alice> hello &#124; world")
    assert b.expect(b"<alice>") == b"<alice> hello &#124; world"
    assert a.expect(b"<alice>") == b"<alice> hello &#124; world"   # echo (§2.7)
    b.send("<alice> I am not bob")          # spoofed nick: refused and dropped
    lines = b.wait_closed()
    assert any(b"your nick" in l for l in lines), lines
    assert a.expect(b"$Quit") == b"$Quit bob"
    assert not any(b"I am not bob" in l for l in a.lines_until_quiet(0.2))


def test_pm_only_to_target_and_from_checked(hub):
    h = hub()
    a, b, c = (h.nmdc_conn().login(n) for n in ("alice", "bob", "carol"))
    pm = "$To: bob From: alice $<alice> secret &#36;"
    a.send(pm)
    assert b.expect(b"$To:") == pm.encode()
    a.send("<alice> marker")                 # everything before it has been routed
    for x in (a, c):
        lines = []
        x.expect(lambda l: lines.append(l) or l == b"<alice> marker")
        assert not any(l.startswith(b"$To:") for l in lines), lines   # no echo, no leak
    a.send("$To: nobody From: alice $<alice> hi")
    assert b"not online" in a.expect(b"<Hub>")
    c.send("$To: bob From: alice $<alice> forged")
    assert any(b"From: your own nick" in l for l in c.wait_closed())


def test_ctm_and_rcm_forwarded_to_target(hub):
    h = hub()
    a, b, c = (h.nmdc_conn().login(n) for n in ("alice", "bob", "carol"))
    a.send("$ConnectToMe bob 127.0.0.1:4112")
    assert b.expect(b"$ConnectToMe") == b"$ConnectToMe bob 127.0.0.1:4112"
    b.send("$RevConnectToMe bob alice")
    assert a.expect(b"$RevConnectToMe") == b"$RevConnectToMe bob alice"
    a.send("<alice> marker")
    lines = []
    c.expect(lambda l: lines.append(l) or l == b"<alice> marker")
    assert not any(b"ConnectToMe" in l for l in lines)
    c.send("$RevConnectToMe alice bob")     # not carol's own nick
    assert any(b"name you first" in l for l in c.wait_closed())


def test_search_broadcast_and_passive_sr_routed(hub):
    h = hub()
    a, b = h.nmdc_conn().login("alice", mode="P"), h.nmdc_conn().login("bob")
    a.send("$Search Hub:alice F?T?0?1?needle")
    assert b.expect(b"$Search") == b"$Search Hub:alice F?T?0?1?needle"
    sr = (b"$SR bob share\\needle.txt\x056 1/1\x05TTH:LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
          b" (127.0.0.1:411)")
    b.send(sr + b"\x05alice")
    assert a.expect(b"$SR") == sr          # the \x05alice target stripped
    b.send("$Search Hub:alice F?T?0?1?x")   # passive search in someone else's name
    assert any(b"Hub:<your nick>" in l for l in b.wait_closed())


def test_password_login_and_bad_password(hub):
    h = hub("--user", "boss:s3cret:op", "--user", "reg:pw")
    a = h.nmdc_conn().login("alice")
    boss = h.nmdc_conn().login("boss", "s3cret")
    assert b"$LogedIn boss" in boss.seen
    assert b"$OpList boss$$" in boss.seen
    assert a.expect(b"$OpList") == b"$OpList boss$$"   # others learn the new op
    bad = h.nmdc_conn()
    bad.handshake("REG")                    # registration is case-insensitive too
    bad.expect(b"$GetPass")
    bad.send("$MyPass wrong")
    lines = bad.wait_closed()
    assert b"$BadPass" in lines and not any(l.startswith(b"$Hello") for l in lines)
    assert h.nmdc_conn().login("reg", "pw")


def test_old_client_without_nohello_gets_nicklist_and_hello(hub):
    h = hub()
    a = h.nmdc_conn().login("alice")
    old = h.nmdc_conn()
    old.handshake("oldie", supports=None)   # no $Supports at all
    old.expect(b"$Hello oldie")
    assert not any(l.startswith(b"$Supports") for l in old.seen)
    old.send(old.myinfo())
    assert old.expect(b"$NickList") in (b"$NickList alice$$oldie$$", b"$NickList oldie$$alice$$")
    old.expect(b"$MyINFO $ALL oldie")
    assert not any(l.startswith(b"$MyINFO $ALL alice") for l in old.seen)   # it asks instead
    old.send("$GetINFO alice oldie")
    assert old.expect(b"$MyINFO").startswith(b"$MyINFO $ALL alice ")
    new = h.nmdc_conn().login("newbie")
    assert old.expect(b"$Hello newbie")    # join notice precedes the MyINFO
    old.expect(b"$MyINFO $ALL newbie")
    assert a.expect(b"$MyINFO $ALL newbie") and not any(l == b"$Hello newbie" for l in a.seen)
    old.send("$GetNickList")                 # asked again once logged in
    assert sorted(old.expect(b"$NickList ")[10:].split(b"$$")) == [b"", b"alice", b"newbie", b"oldie"]
    old.expect(b"$OpList")
    a.send("$GetNickList")                   # NoHello: the MyINFOs again
    assert a.expect(b"$MyINFO $ALL ") and new


def test_quicklist_myinfo_instead_of_validatenick(hub):
    h = hub()
    c = h.nmdc_conn()
    lock = c.expect(b"$Lock ")[6:].split(b" Pk=")[0]
    c.send("$Supports QuickList NoHello ")
    c.send(b"$Key " + lock_to_key(lock))
    c.nick = "quick"
    c.send(c.myinfo())
    c.expect(b"$Hello quick")
    c.expect(b"$MyINFO $ALL quick ")


def test_myinfo_update_broadcast_and_nick_checked(hub):
    h = hub()
    a, b = h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")
    b.send(b.myinfo(desc="changed", share=42))
    assert a.expect(b"$MyINFO $ALL bob changed")
    b.send(a.myinfo())                      # alice's MyINFO from bob's socket
    assert any(b"own nick" in l for l in b.wait_closed())


def test_long_user_list_queued_in_pieces(hub):
    # NoHello: the MyINFOs are pushed, more than one 16 KiB piece of them;
    # every one arrives once, then $OpList, $UserIP and the own MyINFO
    h = hub()
    big = [h.nmdc_conn().login(f"u{i}", desc="x" * 5000) for i in range(8)]
    c = h.nmdc_conn().login("carol")
    mi = [l for l in c.seen if l.startswith(b"$MyINFO $ALL ")]
    assert mi[-1].startswith(b"$MyINFO $ALL carol ")
    assert sorted(l.split()[2] for l in mi[:-1]) == sorted(u.nick.encode() for u in big)
    assert c.seen.index(b"$UserIP carol 127.0.0.1") < c.seen.index(mi[-1])
    big[0].send("<u0> hi")
    assert c.expect(b"<u0> ") == b"<u0> hi"
