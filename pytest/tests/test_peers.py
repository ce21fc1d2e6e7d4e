"""Tests of the real peers against each other: uhub (dctest.peers.Uhub)
and eiskaltdcpp-daemon as a party (parties/eiskaltdcpp_party.py through
dc_client(profile="eiskaltdcpp"), docs/parties.md).

Two daemon parties log into uhub, see each other and exchange private
messages both ways; the hub's handshake, a TLS port and a clean stop are
checked over real sockets; the daemon driver's config is the one in effect.
"""
import socket
import time

import pytest

from dctest import ProcessError, require_binary
from dctest.eiskaltdcpp import EiskaltDaemon
from dctest.peers import Uhub

pytestmark = pytest.mark.interop


@pytest.fixture
def uhub_bin():
    return require_binary("uhub")


@pytest.fixture
def daemons(dc_client):
    """daemons(nick, **settings) -> an eiskaltdcpp party (dctest Client)."""
    require_binary("eiskaltdcpp-daemon")
    return lambda nick, **settings: dc_client(nick, profile="eiskaltdcpp", **settings)


def pms(client) -> list:
    return [(e["from"], e["text"]) for e in client.events if e["event"] == "pm"]


def _adc_lines(sock, want, timeout=5.0):
    """Read ADC lines until every prefix in `want` was seen."""
    sock.settimeout(timeout)
    seen, buf = [], b""
    while not all(any(line.startswith(w) for line in seen) for w in want):
        chunk = sock.recv(4096)
        assert chunk, f"hub closed after {seen}"
        buf += chunk
        *lines, buf = buf.split(b"\n")
        seen += [line.decode() for line in lines]
    return seen


def test_uhub_answers_handshake_and_stops(tmp_path, uhub_bin):
    hub = Uhub(tmp_path / "hub").start()
    try:
        assert hub.url == f"adc://127.0.0.1:{hub.port}"
        with hub.connect() as s:
            s.sendall(b"HSUP ADBASE ADTIGR\n")
            lines = _adc_lines(s, ["ISUP", "ISID", "IINF"])
        assert any(f"NI{hub.hub_name}" in line for line in lines if line.startswith("IINF"))
    finally:
        rc = hub.stop()
    assert rc == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hub.port), timeout=2).close()


def test_uhub_tls_port_refuses_plain_text(tmp_path, uhub_bin):
    with Uhub(tmp_path / "hub", tls=True) as hub:
        assert hub.url.startswith("adcs://127.0.0.1:")
        with hub.connect() as s:             # TLS handshake, then ADC
            s.sendall(b"HSUP ADBASE ADTIGR\n")
            _adc_lines(s, ["ISUP", "ISID"])
        with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as s:
            s.sendall(b"HSUP ADBASE ADTIGR\n")
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            assert b"ISUP" not in data


def test_two_daemons_exchange_pms_through_uhub(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub") as hub:
        alice, bob = daemons("alice"), daemons("bob")
        t0 = time.monotonic()
        alice.connect(hub.url, timeout=30)
        bob.connect(hub.url, timeout=30)
        alice.wait_for("user.join", nick="bob")
        bob.wait_for("user.join", nick="alice")
        visible = time.monotonic() - t0
        assert [u["nick"] for u in alice.users()] == ["alice", "bob"]

        to_bob = "hello bob | $ & &#36; <x> ünïcode"
        to_alice = "hi alice,\n\nlines 1 and 3, separators \u2028 \x85 kept"
        alice.pm("bob", to_bob)
        bob.wait_for("pm", from_="alice", text=to_bob)
        bob.pm("alice", to_alice)
        alice.wait_for("pm", from_="bob", text=to_alice)
        # Exactly one copy each way, and nobody received their own line.
        time.sleep(0.3)
        assert pms(bob) == [("alice", to_bob)]
        assert pms(alice) == [("bob", to_alice)]
        print(f"login to mutual visibility {visible * 1000:.0f} ms")


def test_daemon_logs_into_uhub_over_tls(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", tls=True) as hub:
        alice, bob = daemons("alice"), daemons("bob")
        assert alice.connect(hub.url, timeout=30)["tls"] is True
        bob.connect(hub.url, timeout=30)
        alice.wait_for("user.join", nick="bob")
        alice.pm("bob", "over tls")
        bob.wait_for("pm", from_="alice", text="over tls")


def test_pm_to_absent_nick_is_refused(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub") as hub:
        alice = daemons("alice")
        alice.connect(hub.url, timeout=30)
        with pytest.raises(ProcessError, match="not online") as e:
            alice.pm("nobody", "lost")
        assert e.value.code == "not-online"


def test_registered_users_and_operators_log_in_with_passwords(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", users={"alice": "s3cret"}, operators={"olga": "0p pw"}) as hub:
        alice = daemons("alice", password="s3cret")
        olga = daemons("olga")
        bob = daemons("bob")
        alice.connect(hub.url, timeout=30)
        olga.connect(hub.url, password="0p pw", timeout=30)
        bob.connect(hub.url, timeout=30)
        bob.wait_for("user.join", nick="alice")
        assert bob.wait_for("user.join", nick="olga")["op"] is True
        users = {u["nick"]: u for u in bob.users()}
        assert users["alice"]["op"] is False and users["bob"]["op"] is False


def test_wrong_password_is_refused(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", users={"alice": "s3cret"}) as hub:
        mallory = daemons("alice", password="guess")
        with pytest.raises(ProcessError, match="Password is wrong") as e:
            mallory.connect(hub.url, timeout=30)
        assert e.value.code == "bad-password"
        assert mallory.users() == []


def test_file_list_download_through_uhub(tmp_path, uhub_bin, daemons):
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "hello.txt").write_bytes(b"hello\n")
    (share / "sub" / "a1025.bin").write_bytes(b"A" * 1025)
    with Uhub(tmp_path / "hub") as hub:
        bob = daemons("bob")
        alice = daemons("alice")
        bob.share(share)
        bob.wait_for("share.done", timeout=30)
        bob.connect(hub.url, timeout=30)
        alice.connect(hub.url, timeout=30)
        assert alice.wait_for("user.join", nick="bob")["share"] == 1031
        tree = alice.list("bob")["tree"]
    # TTHs: the vectors in dc-protocol-notes.md section 1.3 (rhash agrees).
    [root] = tree["children"]
    files = {c["name"]: c for c in root["children"]}
    assert files["hello.txt"] == {"name": "hello.txt", "type": "file", "size": 6,
                                  "tth": "DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI"}
    [a1025] = files["sub"]["children"]
    assert a1025["tth"] == "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY" and a1025["size"] == 1025


def test_daemon_runs_with_the_settings_written_for_it(tmp_path):
    """The DCPlusPlus.xml the driver writes (the daemon never writes one: it
    dies in its RPC thread before saving) is the one in effect."""
    require_binary("eiskaltdcpp-daemon")
    with EiskaltDaemon(tmp_path / "alice", "alice", settings={"Description": "desc & <more>"}) as d:
        get = lambda key: d.rpc("settings.getset", key=key)["value"]
        assert get("Nick") == "alice" and get("CID") == d.private_id
        assert get("Description") == "desc & <more>"
        assert get("InPort") == str(d.ports["InPort"])
        assert get("BindAddress") == "127.0.0.1" and get("UseDHT") == "0"
        assert get("HashingStartDelay") == "0" and get("LogPrivateChat") == "1"
        with socket.create_connection(("127.0.0.1", d.ports["InPort"]), timeout=5):
            pass                                   # active mode: it listens there
