"""Tests of the real-peer drivers (dctest.peers) against each other.

Before our own hub and client exist, uhub and eiskaltdcpp-daemon prove the
drivers: two daemons log into uhub, see each other and exchange private
messages both ways; the hub's handshake, a TLS port and a clean stop are
checked over real sockets.
"""
import socket
import time

import pytest

from dctest import require_binary
from dctest.peers import Uhub

pytestmark = pytest.mark.interop


@pytest.fixture
def uhub_bin():
    return require_binary("uhub")


@pytest.fixture
def daemons(dc_eiskalt):
    return dc_eiskalt


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
        alice.login(hub.url)
        bob.login(hub.url)
        assert {"alice", "bob"} <= set(alice.wait_users(hub.url, ["bob"]))
        assert {"alice", "bob"} <= set(bob.wait_users(hub.url, ["alice"]))
        visible = time.monotonic() - t0
        info = alice.user_info(hub.url, "bob")
        assert info["Nick"] == "bob" and info["IP"] == "127.0.0.1"
        assert len(info["CID"]) == 39
        assert info["CID"] != alice.user_info(hub.url, "alice")["CID"]

        to_bob = "hello bob | $ & &#36; <x> ünïcode"
        to_alice = "hi alice,\n\nlines 1 and 3, separators \u2028 \x85 kept"
        alice.pm(hub.url, "bob", to_bob)
        bob.wait_pm("alice", to_bob)
        bob.pm(hub.url, "alice", to_alice)
        alice.wait_pm("bob", to_alice)
        # Exactly one copy each way, and nobody received their own line.
        assert bob.received_pms() == [("alice", to_bob)]
        assert alice.received_pms() == [("bob", to_alice)]
        print(f"login to mutual visibility {visible * 1000:.0f} ms")


def test_daemon_logs_into_uhub_over_tls(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", tls=True) as hub:
        alice, bob = daemons("alice", tls=True), daemons("bob", tls=True)
        alice.login(hub.url)
        bob.login(hub.url)
        alice.wait_users(hub.url, ["bob"])
        alice.pm(hub.url, "bob", "over tls")
        bob.wait_pm("alice", "over tls")


def test_pm_to_absent_nick_is_refused(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub") as hub:
        alice = daemons("alice")
        alice.login(hub.url)
        with pytest.raises(Exception, match="refused"):
            alice.pm(hub.url, "nobody", "lost")


def test_registered_users_and_operators_log_in_with_passwords(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", users={"alice": "s3cret"}, operators={"olga": "0p pw"}) as hub:
        alice = daemons("alice", passwords={hub.url: "s3cret"})
        olga = daemons("olga", passwords={hub.url: "0p pw"})
        bob = daemons("bob")
        for d in (alice, olga, bob):
            d.login(hub.url)
        bob.wait_users(hub.url, ["alice", "olga"])
        assert "op" in bob.user_info(hub.url, "olga")["Icon"]
        assert "op" not in bob.user_info(hub.url, "alice")["Icon"]
        assert "op" not in bob.user_info(hub.url, "bob")["Icon"]


def test_wrong_password_is_refused(tmp_path, uhub_bin, daemons):
    with Uhub(tmp_path / "hub", users={"alice": "s3cret"}) as hub:
        mallory = daemons("alice", passwords={hub.url: "guess"})
        mallory.hub_add(hub.url)
        mallory.wait_chat(hub.url, "Password is wrong")
        assert mallory.users(hub.url) == []


def test_file_list_download_through_uhub(tmp_path, uhub_bin, daemons):
    share = tmp_path / "share"
    (share / "sub").mkdir(parents=True)
    (share / "hello.txt").write_bytes(b"hello\n")
    (share / "sub" / "a1025.bin").write_bytes(b"A" * 1025)
    with Uhub(tmp_path / "hub") as hub:
        bob = daemons("bob", share=share)
        alice = daemons("alice")
        bob.wait_hashed()
        bob.login(hub.url)
        alice.login(hub.url)
        alice.wait_users(hub.url, ["bob"])
        assert alice.user_info(hub.url, "bob")["Shared"] == "1031"
        xml = alice.download_filelist(hub.url, "bob")
    # TTHs: the vectors in dc-protocol-notes.md section 1.3 (rhash agrees).
    assert '<File Name="hello.txt" Size="6" TTH="DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI"/>' in xml
    assert '<File Name="a1025.bin" Size="1025" TTH="PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"/>' in xml


def test_daemon_runs_with_the_settings_written_for_it(tmp_path, daemons):
    """The DCPlusPlus.xml we write (the daemon never writes one: it dies in
    its RPC thread before saving) is the one in effect."""
    d = daemons("alice", settings={"Description": "desc & <more>"})
    get = lambda key: d.rpc("settings.getset", key=key)["value"]
    assert get("Nick") == "alice" and get("CID") == d.private_id
    assert get("Description") == "desc & <more>"
    assert get("InPort") == str(d.ports["InPort"])
    assert get("BindAddress") == "127.0.0.1" and get("UseDHT") == "0"
    assert get("HashingStartDelay") == "0" and get("LogPrivateChat") == "1"
    with socket.create_connection(("127.0.0.1", d.ports["InPort"]), timeout=5):
        pass                                   # active mode: it listens there
