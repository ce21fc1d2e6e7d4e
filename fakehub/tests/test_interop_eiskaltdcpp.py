"""fakehub against a real client: eiskaltdcpp-daemon (the DC++ core).

Issue 3's done-when: the daemon logs into fakehub over NMDC (dchub://) and
over ADC (adc://), and two daemon instances exchange a private message
through it in both directions, for each protocol. The daemons run as
parties (parties/eiskaltdcpp_party.py through dc_client(profile=
"eiskaltdcpp"), docs/parties.md). The ports come from fakehub's ready line; fakehub's --trace file is printed when a test fails, so
the wire exchange is at hand.
"""
import json
import socket
import time

import pytest

from dctest import JsonLines, Process, ProcessError, require_binary
from strictkit import daemon_violations

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
    # The real client breaks none of fakehub's protocol rules (docs/fakehub.md
    # lists what it does break, if anything, and why it is accepted here).
    assert daemon_violations(trace) == []


@pytest.fixture
def daemons(dc_client):
    """daemons(nick, **settings) -> an eiskaltdcpp party (dctest Client)."""
    require_binary("eiskaltdcpp-daemon")
    return lambda nick, **settings: dc_client(nick, profile="eiskaltdcpp", **settings)


def pms(client) -> list:
    return [(e["from"], e["text"]) for e in client.events if e["event"] == "pm"]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_daemon_logs_in(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice = daemons("alice")
    t0 = time.monotonic()
    assert alice.connect(url, timeout=30)["nick"] == "alice"
    assert alice.wait_for("user.join", nick="alice")          # its own nick, once
    alice.wait_for("hub.connected", nick="alice", protocol=proto)
    print(f"{proto}: login {1000 * (time.monotonic() - t0):.0f} ms (daemon start included)")


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_two_daemons_exchange_pms(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    t0 = time.monotonic()
    alice.connect(url, timeout=30)
    bob.connect(url, timeout=30)
    alice.wait_for("user.join", nick="bob")
    bob.wait_for("user.join", nick="alice")
    visible = time.monotonic() - t0

    # Characters each protocol must escape on the wire: NMDC | $ &, ADC space.
    to_bob = f"hello bob over {proto}: pipe | dollar $ amp & done &#36; ünï"
    to_alice = f"hi alice, {proto} reply"
    t1 = time.monotonic()
    alice.pm("bob", to_bob)
    bob.wait_for("pm", from_="alice", text=to_bob)
    t2 = time.monotonic()
    bob.pm("alice", to_alice)
    alice.wait_for("pm", from_="bob", text=to_alice)
    t3 = time.monotonic()
    # One copy each way, delivered to the addressee only.
    time.sleep(0.3)
    assert pms(bob) == [("alice", to_bob)]
    assert pms(alice) == [("bob", to_alice)]
    print(f"{proto}: mutual visibility {1000 * visible:.0f} ms, "
          f"PM {1000 * (t2 - t1):.0f} ms / {1000 * (t3 - t2):.0f} ms")


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_registered_user_and_operator_log_in_with_passwords(fakehub, daemons, proto):
    """DC++ answers fakehub's $GetPass / IGPA; the operator shows as one."""
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    reggie = daemons("reggie", password="s3cret")
    olga = daemons("olga", password="0p-pw")
    bob = daemons("bob")
    for d in (reggie, olga, bob):
        d.connect(url, timeout=30)
    assert bob.wait_for("user.join", nick="olga")["op"] is True
    assert bob.wait_for("user.join", nick="reggie")["op"] is False


@pytest.mark.parametrize("proto,refusal", [("nmdc", "$BadPass"), ("adc", "ISTA 223")])
def test_wrong_password_is_refused(fakehub, daemons, proto, refusal):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    bob = daemons("bob")
    bob.connect(url, timeout=30)
    mallory = daemons("reggie", password="guess")
    with pytest.raises(ProcessError) as e:
        mallory.connect(url, timeout=30)
    assert e.value.code == "bad-password", e.value
    assert "reggie" not in [u["nick"] for u in bob.users()]
    assert mallory.users() == []
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
    bob = daemons("bob")
    alice = daemons("alice", active=not passive)
    bob.share(share)
    bob.wait_for("share.done", timeout=30)
    bob.connect(url, timeout=30)
    alice.connect(url, timeout=30)
    assert alice.wait_for("user.join", nick="bob")["share"] == 1031
    t0 = time.monotonic()
    tree = alice.list("bob")["tree"]
    print(f"{proto} {'passive' if passive else 'active'}: file list "
          f"{1000 * (time.monotonic() - t0):.0f} ms")
    assert alice.wait_for("transfer.done", list=True, nick="bob")
    # TTHs: the vectors in dc-protocol-notes.md section 1.3 (rhash agrees).
    [root] = tree["children"]
    files = {c["name"]: c for c in root["children"]}
    assert files["hello.txt"]["tth"] == "DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI"
    assert files["sub"]["children"][0]["tth"] == "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_main_chat_reaches_everyone_and_a_leaving_user_is_dropped(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    alice.connect(url, timeout=30)
    bob.connect(url, timeout=30)
    alice.wait_for("user.join", nick="bob")
    text = f"chat over {proto}: pipe | dollar $ amp & done &#36; ünï"
    alice.say(text)               # DC++ shows its own line only when the hub echoes it back
    alice.wait_for("chat", from_="alice", text=text)
    bob.wait_for("chat", from_="alice", text=text)
    bob.disconnect()
    alice.wait_for("user.leave", nick="bob")
    assert [u["nick"] for u in alice.users()] == ["alice"]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_motd_hub_chat_kick_and_shutdown_reach_the_daemon(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto]}"
    alice, bob = daemons("alice"), daemons("bob")
    alice.connect(url, timeout=30)
    bob.connect(url, timeout=30)
    alice.wait_for("user.join", nick="bob")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(fakehub.ready["control"])
        f = s.makefile("rw", encoding="utf-8")
        ctl = JsonLines(f, f, name="fakehub-control")
        ctl.request("chat", text="hub says: pipe | dollar $")
        for d in (alice, bob):
            d.wait_for("chat", text="hub says: pipe | dollar $")
        ctl.request("kick", nick="bob", reason="go away")
        alice.wait_for("user.leave", nick="bob")
        assert "go away" in bob.wait_for("hub.disconnected")["reason"]
        # EOF for the reader thread first: closing f under it would deadlock.
        s.shutdown(socket.SHUT_RDWR)
        f.close()
    assert fakehub.stop() == 0
    # The hub said why before closing (NMDC <Hub> chat, ADC ISTA 212).
    alice.wait_for("hub.disconnected")
    said = [e.get("text") for e in alice.events if e["event"] in ("chat", "hub.status")]
    assert any("shutting down" in t for t in said), said
