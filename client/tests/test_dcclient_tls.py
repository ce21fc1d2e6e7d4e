"""dcclient over TLS against fakehub's --adcs/--nmdcs listeners (issue 8;
notes §1.7, §2.8, §2.12, §3.10): login, PM, file list and download over
adcs:// and nmdcs://, client-client connections over TLS (ADCS/0.10, NMDC
port suffix S) when both sides announce them, the hub keyprint reported in
hub.connected and checked against ?kp= (a mismatch is refused naming both),
and the wrong speaker on either kind of port failing cleanly and fast.
"""
import json
import os
import signal
import time

import pytest

from dccproc import dcclient, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sanitize

MULT = float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))
WRONG_KP = "SHA256/" + "A" * 52


@pytest.fixture
def tlshub(fakehub_factory):
    """fakehub with plain and TLS listeners for both protocols."""
    h = fakehub_factory("--adcs", "127.0.0.1:0", "--nmdcs", "127.0.0.1:0")
    assert h.ready["keyprint"].startswith("SHA256/")
    return h


def tls_url(hub, proto, kp=True):
    url = f"{proto}://{hub.ready[proto]}"
    return url + f"/?kp={hub.ready['keyprint']}" if kp else url


def start_pair(tlshub, dcclient, tmp_path, proto, bob_active=True, alice_set=(), bob_set=()):
    share = tmp_path / "alice" / "share"
    share.mkdir(parents=True)
    files = {"small.txt": b"hello over TLS\n", "2mib.bin": os.urandom(2 << 20)}
    for name, data in files.items():
        (share / name).write_bytes(data)
    alice = dcclient("--nick", "alice", "--share", str(share), "--data-dir", str(tmp_path / "alice-data"),
                     *[a for kv in alice_set for a in ("--set", kv)], name="alice")
    bob = dcclient("--nick", "bob", "--data-dir", str(tmp_path / "bob-data"),
                   "--set", f"active={'true' if bob_active else 'false'}",
                   *[a for kv in bob_set for a in ("--set", kv)], name="bob")
    alice.channel.wait_for("share.done", timeout=60)
    url = tls_url(tlshub, proto)
    for c in (alice, bob):
        res = c.channel.request("connect", url=url, timeout=20)
        assert res["tls"] is True and res["keyprint"] == tlshub.ready["keyprint"]
    wait_nicks(bob.channel, {"alice", "bob"})
    wait_nicks(alice.channel, {"alice", "bob"})
    return alice, bob, {f"/share/{n}": share / n for n in files}


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
@pytest.mark.parametrize("bob_active", [True, False], ids=["active", "passive"])
def test_login_pm_list_and_download_over_tls(tlshub, dcclient, tmp_path, proto, bob_active):
    alice, bob, shared = start_pair(tlshub, dcclient, tmp_path, proto, bob_active)
    # Both announce TLS client connections: ADC SU ADC0 + KP, NMDC flag 0x10.
    users = {u["nick"]: u for u in bob.channel.request("users")["users"]}
    assert users["alice"].get("tls") is True
    if proto == "adcs":
        assert users["alice"]["keyprint"].startswith("SHA256/")
        assert users["alice"]["keyprint"] != tlshub.ready["keyprint"]
    alice.channel.request("pm", nick="bob", text="secret \u00e9 over tls")
    pm = bob.channel.wait_for("pm", timeout=10)
    assert (pm["from"], pm["text"]) == ("alice", "secret \u00e9 over tls")

    lst = bob.channel.request("list", nick="alice", timeout=60)
    assert {k["name"] for k in lst["tree"]["children"][0]["children"]} == {"small.txt", "2mib.bin"}
    done = bob.channel.wait_for("transfer.done", timeout=1)   # already queued before the reply
    assert done["list"] is True and done["tls"] is True
    target = tmp_path / "got"
    target.mkdir()
    for vpath, local in shared.items():
        res = bob.channel.request("download", nick="alice", path=vpath, target_dir=str(target), timeout=120)
        assert res["tls"] is True, res
        assert (target / local.name).read_bytes() == local.read_bytes()


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_compressed_download_over_tls(tlshub, dcclient, tmp_path, proto):
    alice, bob, shared = start_pair(tlshub, dcclient, tmp_path, proto, bob_set=("compress=true",))
    target = tmp_path / "got"
    target.mkdir()
    res = bob.channel.request("download", nick="alice", path="/share/2mib.bin", target_dir=str(target),
                              timeout=120)
    assert res["tls"] is True and res["compressed"] is True
    assert (target / "2mib.bin").read_bytes() == shared["/share/2mib.bin"].read_bytes()


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_plain_client_connections_unless_both_announce_tls(tlshub, dcclient, tmp_path, proto):
    """Alice turns TLS client connections off (cc_tls=never): she announces
    nothing, so Bob asks for a plain connection although the hub is TLS."""
    alice, bob, shared = start_pair(tlshub, dcclient, tmp_path, proto, alice_set=("cc_tls=never",))
    users = {u["nick"]: u for u in bob.channel.request("users")["users"]}
    assert "tls" not in users["alice"] and "keyprint" not in users["alice"]
    target = tmp_path / "got"
    target.mkdir()
    res = bob.channel.request("download", nick="alice", path="/share/small.txt", target_dir=str(target), timeout=60)
    assert res["tls"] is False
    assert (target / "small.txt").read_bytes() == shared["/share/small.txt"].read_bytes()


@pytest.mark.parametrize("proto", ["adc", "nmdc"])
def test_tls_client_connections_on_a_plain_hub_with_cc_tls_always(tlshub, dcclient, tmp_path, proto):
    share = tmp_path / "share"
    share.mkdir()
    (share / "f.bin").write_bytes(os.urandom(300 << 10))
    alice = dcclient("--nick", "alice", "--share", str(share), "--set", "cc_tls=always", name="alice")
    bob = dcclient("--nick", "bob", "--set", "cc_tls=always", name="bob")
    alice.channel.wait_for("share.done", timeout=60)
    for c in (alice, bob):
        res = c.channel.request("connect", url=tlshub.url(proto), timeout=20)
        assert res["tls"] is False and "keyprint" not in res
    wait_nicks(bob.channel, {"alice", "bob"})
    res = bob.channel.request("download", nick="alice", path="/share/f.bin", target_dir=str(tmp_path), timeout=60)
    assert res["tls"] is True
    assert (tmp_path / "f.bin").read_bytes() == (share / "f.bin").read_bytes()


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_keyprint_reported_without_kp(tlshub, dcclient, proto):
    c = dcclient("--nick", "carol", name="carol")
    res = c.channel.request("connect", url=tls_url(tlshub, proto, kp=False), timeout=20)
    ev = c.channel.wait_for("hub.connected", timeout=5)
    assert res["keyprint"] == ev["keyprint"] == tlshub.ready["keyprint"]
    assert ev["tls"] is True and ev["protocol"] == proto[:-1]


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_wrong_keyprint_is_refused(tlshub, dcclient, proto):
    c = dcclient("--nick", "mallory", "--set", "reconnect=true", name="mallory")
    url = f"{proto}://{tlshub.ready[proto]}/?kp={WRONG_KP}"
    res = c.channel.request("connect", url=url, timeout=20, check=False)
    assert res["ok"] is False
    err = res["error"]
    assert "keyprint mismatch" in err and WRONG_KP in err and tlshub.ready["keyprint"] in err, err
    ev = c.channel.wait_for("hub.disconnected", timeout=5)
    assert ev["logged_in"] is False and "keyprint mismatch" in ev["reason"]
    # Not retried, even with reconnect on: a wrong certificate is no network hiccup.
    with pytest.raises(Exception):
        c.channel.wait_for("hub.reconnecting", timeout=1.5)
    # The right one (lower-cased base32 is the same keyprint) still works.
    kp = tlshub.ready["keyprint"]
    ok = c.channel.request("connect", url=f"{proto}://{tlshub.ready[proto]}/?kp=SHA256/{kp[7:].lower()}",
                           timeout=20)
    assert ok["keyprint"] == kp


@pytest.mark.parametrize("proto", ["adc", "nmdc"])
def test_plain_client_on_a_tls_port_fails_cleanly(tlshub, dcclient, proto):
    c = dcclient("--nick", "plainpete", "--set", "login_timeout=3", name="pete")
    t0 = time.monotonic()
    res = c.channel.request("connect", url=f"{proto}://{tlshub.ready[proto + 's']}", timeout=15 * MULT,
                            check=False)
    took = time.monotonic() - t0
    assert res["ok"] is False and took < 3 + 2 * MULT, (res, took)
    assert "TLS port" in res["error"], res["error"]


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_tls_client_on_a_plain_port_fails_cleanly(tlshub, dcclient, proto):
    c = dcclient("--nick", "tlstina", "--set", "login_timeout=3", name="tina")
    t0 = time.monotonic()
    res = c.channel.request("connect", url=f"{proto}://{tlshub.ready[proto[:-1]]}", timeout=15 * MULT,
                            check=False)
    took = time.monotonic() - t0
    assert res["ok"] is False and took < 3 + 2 * MULT, (res, took)
    assert "TLS" in res["error"] and "not a TLS port" in res["error"], res["error"]
    c.channel.wait_for("hub.disconnected", timeout=5)


def test_tls_url_to_a_closed_port_says_cannot_connect(dcclient):
    from dctest import free_port
    c = dcclient("--nick", "nobody", name="nobody")
    res = c.channel.request("connect", url=f"adcs://127.0.0.1:{free_port()}", timeout=10, check=False)
    assert res["ok"] is False and res["error"].startswith("cannot connect to 127.0.0.1:"), res


# ---- the peer's certificate against the KP its INF announced ------------------

def _fhraw():
    import pathlib
    import sys
    here = pathlib.Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent.parent / "fakehub" / "tests"))
    import fhraw
    return fhraw


def _openssl_cert(tmp_path, name):
    import subprocess
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


@pytest.mark.parametrize("announced", ["right", "wrong"])
def test_incoming_tls_peer_checked_against_its_inf_kp(tlshub, dcclient, tmp_path, announced):
    """A raw ADC peer (eve) announces SU ADC0 and a KP; Bob asks her for her
    list with DCTM ADCS/0.10; she connects over TLS presenting her
    certificate. Bob serves the handshake only when it matches the KP."""
    import ssl
    fhraw = _fhraw()
    cert, key = _openssl_cert(tmp_path, "eve")
    real_kp = fhraw.keyprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    kp = real_kp if announced == "right" else WRONG_KP
    eve = fhraw.Adc(tlshub.ready["adcs"], tls=True).login("eve", extra=f",ADC0 KP{kp}")
    try:
        bob = dcclient("--nick", "bob", name="bob")
        bob.channel.request("connect", url=tls_url(tlshub, "adcs"), timeout=20)
        wait_nicks(bob.channel, {"bob", "eve"})
        bob.channel.send_raw('{"id": "L", "cmd": "list", "args": {"nick": "eve"}}')
        ctm = eve.expect("DCTM ").decode().split()
        assert ctm[3] == "ADCS/0.10", ctm          # what DC++-family clients understand
        port, token = int(ctm[4]), ctm[5]
        peer = fhraw.Adc(f"127.0.0.1:{port}", tls=fhraw.tls_context(cert, key))
        try:
            peer.send("CSUP ADBASE ADTIGR")
            peer.send(f"CINF ID{eve.cid} TO{token}")
            if announced == "right":
                peer.expect("CSUP ")
                peer.expect("CINF ")
                assert peer.expect("CGET ").startswith(b"CGET file files.xml.bz2 0 -1")
                peer.send("CSTA 151 File\\sNot\\sAvailable")
                res = bob.channel.reply("L", timeout=10)
                assert res["ok"] is False and "File Not Available" in res["error"], res
            else:
                peer.wait_closed()
                res = bob.channel.reply("L", timeout=10)
                assert res["ok"] is False
                assert "keyprint mismatch" in res["error"] and WRONG_KP in res["error"] \
                    and real_kp in res["error"], res
        finally:
            peer.close()
    finally:
        eve.close()


@pytest.mark.parametrize("proto", ["ADCS/1.0", "ADCS/0.10"])
def test_outgoing_tls_to_a_peer_that_asks_with_either_name(tlshub, dcclient, tmp_path, proto):
    """Eve (raw, active) sends Bob DCTM with the ADC-EXT name or DC++'s; Bob
    connects to her TLS listener, presents the certificate whose keyprint his
    INF announced, and checks hers against her KP."""
    import socket
    import ssl
    fhraw = _fhraw()
    cert, key = _openssl_cert(tmp_path, "eve")
    kp = fhraw.keyprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
    eve = fhraw.Adc(tlshub.ready["adcs"], tls=True).login("eve", extra=f",ADC0 KP{kp}")
    lsock = socket.create_server(("127.0.0.1", 0))
    try:
        bob = dcclient("--nick", "bob", name="bob")
        bob.channel.request("connect", url=tls_url(tlshub, "adcs"), timeout=20)
        wait_nicks(bob.channel, {"bob", "eve"})
        bob_user = {u["nick"]: u for u in bob.channel.request("users")["users"]}["bob"]
        binf = eve.expect(f"BINF {bob_user['sid']} ").decode()
        assert " SUTCP4,ADC0" in binf and f" KP{bob_user['keyprint']}" in binf, binf
        eve.send(f"DCTM {eve.sid} {bob_user['sid']} {proto} {lsock.getsockname()[1]} tok1")
        lsock.settimeout(10)
        raw, _ = lsock.accept()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        s = sctx.wrap_socket(raw, server_side=True)
        try:
            s.settimeout(10)
            f = s.makefile("rb")
            assert f.readline().startswith(b"CSUP ")
            s.sendall(b"CSUP ADBASE ADTIGR\n")
            cinf = f.readline()
            assert cinf.startswith(b"CINF ") and b" TOtok1" in cinf and bob_user["cid"].encode() in cinf, cinf
        finally:
            s.close()
    finally:
        lsock.close()
        eve.close()


@pytest.mark.parametrize("proto", ["adcs", "nmdcs"])
def test_tls_upload_cut_by_a_killed_downloader(tlshub, dcclient, tmp_path, proto):
    """A TLS upload sends its records from its own buffer (not through the
    bufferevent): the downloader SIGKILLed mid-file must cost the uploader
    only that connection, and the next downloader gets the file whole over a
    new TLS connection, then a second file on the same one (the socket is
    the SSL's again after each upload)."""
    share = tmp_path / "alice" / "share"
    share.mkdir(parents=True)
    files = {"big.bin": os.urandom(64 << 20), "small.txt": b"after the big one\n"}
    for name, data in files.items():
        (share / name).write_bytes(data)
    alice = dcclient("--nick", "alice", "--share", str(share), "--data-dir", str(tmp_path / "alice-data"),
                     name="alice")
    alice.channel.wait_for("share.done", timeout=60)
    url = tls_url(tlshub, proto)
    alice.channel.request("connect", url=url, timeout=20)
    for n in ("bob1", "bob2"):
        bob = dcclient("--nick", n, "--data-dir", str(tmp_path / f"{n}-data"), name=n)
        bob.channel.request("connect", url=url, timeout=20)
        wait_nicks(bob.channel, {"alice", n})
        target = tmp_path / f"got-{n}"
        target.mkdir()
        if n == "bob1":
            bob.channel.send_raw(json.dumps({"id": 999, "cmd": "download", "args": {
                "nick": "alice", "path": "/share/big.bin", "target_dir": str(target)}}))
            # On a quiet machine 64 MiB cross loopback in ~0.1 s, before any
            # progress event: stop bob1 once the file upload has begun, so
            # the uploader is stuck mid-file on a full socket when bob1 dies.
            bob.channel.wait_for("transfer.done", timeout=60 * MULT, list=True)
            deadline = time.monotonic() + 30 * MULT
            while True:
                bob.signal(signal.SIGSTOP)
                # the list went first: the second upload is the file's
                if alice.log_path.read_text().count("upload to bob1: file") >= 2:
                    break
                assert time.monotonic() < deadline, "alice never started the upload to bob1"
                bob.signal(signal.SIGCONT)
                time.sleep(0.005)
            bob.signal(signal.SIGKILL)
            bob.wait(10)
            bob.expect_rc = -signal.SIGKILL
            continue
        for name, data in files.items():
            res = bob.channel.request("download", nick="alice", path=f"/share/{name}", target_dir=str(target),
                                      timeout=120 * MULT)
            assert res["tls"] is True, res
            assert (target / name).read_bytes() == data
    assert "client connection with bob1 closed" in alice.log_path.read_text()
    assert alice.channel.request("ping")
