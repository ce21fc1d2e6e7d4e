"""fakehub against a real client: eiskaltdcpp-daemon (the DC++ core).

Issue 3's done-when: the daemon logs into fakehub over NMDC (dchub://) and
over ADC (adc://), and two daemon instances exchange a private message
through it in both directions, for each protocol. The ports come from
fakehub's ready line; fakehub's --trace file is printed when a test fails, so
the wire exchange is at hand.
"""
import json
import socket
import time

import pytest

from dctest import JsonLines, Process

pytestmark = pytest.mark.interop

SCHEMES = {"nmdc": "dchub", "adc": "adc"}


@pytest.fixture
def fakehub(tmp_path, bin_path):
    trace = tmp_path / "fakehub.trace"
    p = Process([bin_path("fakehub"), "--nmdc", "127.0.0.1:0", "--adc", "127.0.0.1:0",
                 "--name", "interop", "--trace", trace, "--motd", "welcome to interop",
                 "--control", tmp_path / "ctl.sock",
                 "--user", "reggie:s3cret", "--user", "olga:0p-pw:op"],
                name="fakehub", log=tmp_path / "fakehub.log")
    try:
        ready = p.wait_ready()
        p.ready = ready
        p.trace_path = trace
        yield p
    finally:
        rc = p.stop()
        # Shown by pytest only when the test fails.
        print(f"--- fakehub exit {rc}; stderr ---\n{p.log_tail(60)}")
        if trace.exists():
            print(f"--- {trace} ---\n{trace.read_text(errors='replace')[-20000:]}")


@pytest.fixture
def daemons(dc_eiskalt):
    return dc_eiskalt


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_daemon_logs_in(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice = daemons("alice")
    t0 = time.monotonic()
    assert "alice" in alice.login(url)
    print(f"{proto}: login {1000 * (time.monotonic() - t0):.0f} ms")


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_two_daemons_exchange_pms(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    t0 = time.monotonic()
    alice.login(url)
    bob.login(url)
    assert {"alice", "bob"} <= set(alice.wait_users(url, ["bob"]))
    assert {"alice", "bob"} <= set(bob.wait_users(url, ["alice"]))
    visible = time.monotonic() - t0

    # Characters each protocol must escape on the wire: NMDC | $ &, ADC space.
    to_bob = f"hello bob over {proto}: pipe | dollar $ amp & done &#36; ünï"
    to_alice = f"hi alice, {proto} reply"
    t1 = time.monotonic()
    alice.pm(url, "bob", to_bob)
    bob.wait_pm("alice", to_bob)
    t2 = time.monotonic()
    bob.pm(url, "alice", to_alice)
    alice.wait_pm("bob", to_alice)
    t3 = time.monotonic()
    # One copy each way, delivered to the addressee only.
    assert bob.received_pms() == [("alice", to_bob)]
    assert alice.received_pms() == [("bob", to_alice)]
    print(f"{proto}: mutual visibility {1000 * visible:.0f} ms, "
          f"PM {1000 * (t2 - t1):.0f} ms / {1000 * (t3 - t2):.0f} ms")


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_registered_user_and_operator_log_in_with_passwords(fakehub, daemons, proto):
    """DC++ answers fakehub's $GetPass / IGPA; the operator shows as one."""
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    reggie = daemons("reggie", passwords={url: "s3cret"})
    olga = daemons("olga", passwords={url: "0p-pw"})
    bob = daemons("bob")
    for d in (reggie, olga, bob):
        d.login(url)
    bob.wait_users(url, ["reggie", "olga"])
    assert "op" in bob.user_info(url, "olga")["Icon"]
    assert "op" not in bob.user_info(url, "reggie")["Icon"]


@pytest.mark.parametrize("proto,refusal", [("nmdc", "$BadPass"), ("adc", "ISTA 223")])
def test_wrong_password_is_refused(fakehub, daemons, proto, refusal):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    bob = daemons("bob")
    bob.login(url)
    mallory = daemons("reggie", passwords={url: "guess"})
    mallory.hub_add(url)
    mallory.wait_log(f"Connection failed [ {url} ]")
    assert "reggie" not in bob.users(url)
    assert mallory.users(url) == []
    # The trace is flushed at shutdown: stop the hub, then read why it closed.
    assert fakehub.stop() == 0
    # One record per \n; Latin-1 text may hold U+0085, which splitlines() cuts at.
    rows = fakehub.trace_path.read_text(encoding="utf-8").split("\n")
    sent = [json.loads(row) for row in rows if row]
    sent = [r["line"] for r in sent if r.get("dir") == "out" and r.get("nick") in (None, "reggie")]
    assert any(line.startswith(refusal) for line in sent), sent


@pytest.mark.parametrize("passive", [False, True], ids=["active", "passive"])
@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_file_list_download_through_fakehub(tmp_path, fakehub, daemons, proto, passive):
    """A client-client connection set up through fakehub: the downloader is
    active (the hub relays its CTM) or passive (RCM, then the peer's CTM)."""
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "hello.txt").write_bytes(b"hello\n")
    (share / "sub" / "a1025.bin").write_bytes(b"A" * 1025)
    bob = daemons("bob", share=share)
    alice = daemons("alice", passive=passive)
    bob.wait_hashed()
    bob.login(url)
    alice.login(url)
    alice.wait_users(url, ["bob"])
    assert alice.user_info(url, "bob")["Shared"] == "1031"
    t0 = time.monotonic()
    xml = alice.download_filelist(url, "bob")
    print(f"{proto} {'passive' if passive else 'active'}: file list "
          f"{1000 * (time.monotonic() - t0):.0f} ms")
    # TTHs: the vectors in dc-protocol-notes.md section 1.3 (rhash agrees).
    assert '<File Name="hello.txt" Size="6" TTH="DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI"/>' in xml
    assert '<File Name="a1025.bin" Size="1025" TTH="PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"/>' in xml


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_main_chat_reaches_everyone_and_a_leaving_user_is_dropped(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    alice.login(url)
    bob.login(url)
    alice.wait_users(url, ["bob"])
    text = f"chat over {proto}: pipe | dollar $ amp & done &#36; ünï"
    alice.say(url, text)
    # DC++ shows its own line only when the hub echoes it back.
    assert alice.wait_chat(url, text).endswith(f"<alice> {text}")
    assert bob.wait_chat(url, text).endswith(f"<alice> {text}")
    bob.hub_del(url)
    alice.wait_gone(url, "bob")
    assert alice.users(url) == ["alice"]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_motd_hub_chat_kick_and_shutdown_reach_the_daemon(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    alice.login(url)
    bob.login(url)
    alice.wait_users(url, ["bob"])
    alice.wait_chat(url, "welcome to interop")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(fakehub.ready["control"])
        f = s.makefile("rw", encoding="utf-8")
        ctl = JsonLines(f, f, name="fakehub-control")
        ctl.request("chat", text="hub says: pipe | dollar $")
        alice.wait_chat(url, "hub says: pipe | dollar $")
        bob.wait_chat(url, "hub says: pipe | dollar $")
        ctl.request("kick", nick="bob", reason="go away")
        alice.wait_gone(url, "bob")
        bob.wait_log("You were kicked: go away")
        # EOF for the reader thread first: closing f under it would deadlock.
        s.shutdown(socket.SHUT_RDWR)
        f.close()
    assert fakehub.stop() == 0
    # The hub said why before closing (NMDC <Hub> chat, ADC ISTA 212).
    assert url in alice.wait_log("Hub is shutting down")
    alice.wait_log(f"Connection failed [ {url} ]")
