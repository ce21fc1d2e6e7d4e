"""fakehub over TLS (adcs://, nmdcs://; notes §1.7, §2.12) with Python's ssl
module as the client: the same login, user list, chat and PM as in plain
text; the ready line's keyprint is the certificate the client sees; wrong
speakers on either kind of port fail fast and nobody else notices; a
generated certificate survives a restart in its --data-dir; --cert/--key."""
import base64
import hashlib
import os
import ssl
import subprocess
import time

import pytest

from fhraw import TIMEOUT, Adc, Nmdc, hub, keyprint, tls_context  # noqa: F401

pytestmark = pytest.mark.sanitize

# A wrong speaker must be refused well within this; the hub's own bounds
# (tls-timeout 1 below) are what is measured, plus slack for ASan.
FAST = 3.0 * float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))


def still_chatting(a, b):
    """a's chat reaches b: the hub is alive and serving others."""
    if isinstance(a, Nmdc):
        a.send(f"<{a.nick}> still here")
        b.expect(f"<{a.nick}> still here")
    else:
        a.send(f"BMSG {a.sid} still\\shere")
        b.expect(f"BMSG {a.sid} still\\shere")


def openssl_cert(tmp_path, name="own"):
    """A self-signed EC certificate and key made by the openssl CLI."""
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def pem_keyprint(path) -> str:
    return keyprint(ssl.PEM_cert_to_DER_cert(path.read_text()))


def test_ready_line_keyprint_is_the_certificate_clients_see(hub):
    h = hub(tls=True)
    assert h.keyprint.startswith("SHA256/") and len(h.keyprint) == 7 + 52
    for conn in (h.adc_conn(tls=True), h.nmdc_conn(tls=True)):
        der = conn.sock.getpeercert(binary_form=True)
        assert keyprint(der) == h.keyprint
        assert "SHA256/" + base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=") \
            == h.keyprint                          # independent of fhraw's helper
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    # Plain listeners are still there and plain; no keyprint without TLS.
    assert h.adc and h.nmdc and h.adc != h.adcs and h.nmdc != h.nmdcs
    plain = hub()
    assert "keyprint" not in plain.ready and "adcs" not in plain.ready


def test_adcs_login_list_chat_and_pm(hub):
    h = hub(tls=True, control=True)
    a = h.adc_conn(tls=True).login("alice")
    b = h.adc_conn(tls=True).login("bob")
    p = h.adc_conn().login("plainpete")        # one room across adc and adcs
    binfs = [l for l in p.seen if l.startswith(b"BINF ")]
    assert {l.split()[1].decode() for l in binfs} == {a.sid, b.sid, p.sid}
    assert binfs[-1].startswith(f"BINF {p.sid} ".encode())      # own BINF last
    assert b"I4127.0.0.1" in a.expect(f"BINF {b.sid} ")
    a.send(f"BMSG {a.sid} hello\\sover\\stls")
    for x in (a, b, p):
        assert x.expect("BMSG ") == f"BMSG {a.sid} hello\\sover\\stls".encode()
    a.send(f"EMSG {a.sid} {b.sid} secret PM{a.sid}")
    assert b.expect("EMSG ") == f"EMSG {a.sid} {b.sid} secret PM{a.sid}".encode()
    assert a.expect("EMSG ") == f"EMSG {a.sid} {b.sid} secret PM{a.sid}".encode()
    p.send(f"EMSG {p.sid} {a.sid} from\\splain PM{p.sid}")
    assert a.expect("EMSG ") == f"EMSG {p.sid} {a.sid} from\\splain PM{p.sid}".encode()
    users = {u["nick"]: u for u in h.control().request("users")["users"]}
    assert users["alice"]["tls"] is True and users["bob"]["tls"] is True
    assert users["plainpete"]["tls"] is False
    assert "keyprint" not in users["alice"]        # it presented no certificate
    b.close()
    assert a.expect("IQUI ") == f"IQUI {b.sid}".encode()


def test_nmdcs_login_list_chat_and_pm(hub):
    h = hub(tls=True, control=True)
    a = h.nmdc_conn(tls=True).login("alice")
    lock = a.seen[0]
    assert lock.startswith(b"$Lock EXTENDEDPROTOCOL") and b" Pk=" in lock   # $Lock inside TLS
    b = h.nmdc_conn(tls=True).login("bob")
    p = h.nmdc_conn().login("plainpete")
    assert any(l.startswith(b"$MyINFO $ALL alice ") for l in p.seen)
    assert any(l.startswith(b"$MyINFO $ALL bob ") for l in p.seen)
    assert a.expect(b"$MyINFO $ALL plainpete ")
    a.send("<alice> hello over tls &#124; pipe")
    for x in (a, b, p):
        assert x.expect(b"<alice>") == b"<alice> hello over tls &#124; pipe"
    a.send("$To: bob From: alice $<alice> secret")
    assert b.expect(b"$To: ") == b"$To: bob From: alice $<alice> secret"
    p.send("$To: alice From: plainpete $<plainpete> from plain")
    assert a.expect(b"$To: ") == b"$To: alice From: plainpete $<plainpete> from plain"
    users = {u["nick"]: u["tls"] for u in h.control().request("users")["users"]}
    assert users == {"alice": True, "bob": True, "plainpete": False}
    b.close()
    assert a.expect(b"$Quit") == b"$Quit bob"


def test_trace_is_clear_text_marked_tls_and_client_keyprint_reported(hub, tmp_path):
    h = hub(tls=True, control=True)
    cert, key = openssl_cert(tmp_path, "client")
    a = h.adc_conn(tls=tls_context(cert, key)).login("alice")
    p = h.adc_conn().login("plainpete")
    users = {u["nick"]: u for u in h.control().request("users")["users"]}
    assert users["alice"]["keyprint"] == pem_keyprint(cert)
    a.send(f"BMSG {a.sid} traced")
    p.expect(f"BMSG {a.sid} traced")
    assert h.proc.stop() == 0          # the trace is flushed at shutdown
    h.expect_rc = None
    rows = h.trace()
    mine = [r for r in rows if r.get("conn") is not None and r.get("nick") == "alice"]
    assert any(r.get("line") == f"BMSG {a.sid} traced" and r["dir"] == "in" for r in mine)
    assert all(r.get("tls") is True for r in mine)
    assert any(r.get("event") == "login" and r.get("tls") is True for r in mine)
    pete = [r for r in rows if r.get("nick") == "plainpete"]
    assert pete and not any("tls" in r for r in pete)


def test_plain_clients_on_tls_ports_fail_fast_and_others_carry_on(hub):
    h = hub("--tls-timeout", "1", tls=True)
    a = h.adc_conn(tls=True).login("alice")
    n = h.nmdc_conn(tls=True).login("nina")
    # A plain ADC client speaks first: its HSUP is no ClientHello.
    t0 = time.monotonic()
    x = Adc(h.adcs)
    h.conns.append(x)
    x.send("HSUP ADBASE ADTIGR")
    got = x.wait_closed(timeout=FAST)
    assert time.monotonic() - t0 < FAST
    assert not any(l.startswith(b"ISUP") for l in got), got
    # A plain NMDC client waits for $Lock, which never comes in clear text:
    # the hub gives up after tls-timeout.
    t0 = time.monotonic()
    y = Nmdc(h.nmdcs)
    h.conns.append(y)
    got = y.wait_closed(timeout=FAST)
    took = time.monotonic() - t0
    assert 0.5 < took < FAST, took
    assert not any(b"$Lock" in l for l in got), got
    still_chatting(a, a)
    still_chatting(n, n)
    assert h.adc_conn(tls=True).login("late")


def test_tls_clients_on_plain_ports_fail_fast_and_others_carry_on(hub):
    h = hub(tls=True)
    a = h.adc_conn().login("alice")
    n = h.nmdc_conn().login("nina")
    for addr, cls in ((h.adc, Adc), (h.nmdc, Nmdc)):
        t0 = time.monotonic()
        # NMDC: the hub's $Lock is no ServerHello. ADC: the hub spots the
        # ClientHello and answers in plain text, which is no ServerHello either.
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            cls(addr, tls=True).close()
        assert time.monotonic() - t0 < FAST, addr
    # A ClientHello often holds a '\n' byte, which ends a (garbage) ADC line;
    # one without any must be refused as fast, from its first byte (0x16).
    for addr, cls in ((h.adc, Adc), (h.nmdc, Nmdc)):
        t0 = time.monotonic()
        x = cls(addr)
        h.conns.append(x)
        x.send_raw(b"\x16\x03\x01\x00\x30" + b"\x01" * 20)   # a record header, no delimiter
        x.wait_closed(timeout=FAST)
        assert time.monotonic() - t0 < FAST, addr
    still_chatting(a, a)
    still_chatting(n, n)
    assert h.nmdc_conn().login("late")


def test_login_timeout_still_counts_from_accept_over_tls(hub):
    h = hub("--login-timeout", "1", tls=True, nmdc=False)
    t0 = time.monotonic()
    c = h.adc_conn(tls=True)         # handshake done, then silence
    lines = c.wait_closed(timeout=FAST)
    assert any(l.startswith(b"ISTA 220 ") for l in lines), lines   # said inside TLS
    assert time.monotonic() - t0 < FAST


def test_generated_certificate_is_reused_from_the_data_dir(hub, tmp_path):
    data = tmp_path / "hubdata"
    first = hub("--data-dir", data, tls=True)
    k1 = first.keyprint
    assert pem_keyprint(data / "cert.pem") == k1
    assert (data / "key.pem").stat().st_mode & 0o777 == 0o600
    assert first.proc.stop() == 0
    first.expect_rc = None
    again = hub("--data-dir", data, tls=True)
    assert again.keyprint == k1
    assert keyprint(again.adc_conn(tls=True).sock.getpeercert(binary_form=True)) == k1
    assert "loaded from" in again.log()
    other = hub("--data-dir", tmp_path / "elsewhere", tls=True)
    memory = hub(tls=True)                       # no --data-dir: a fresh one each run
    assert len({k1, other.keyprint, memory.keyprint}) == 3


def test_cert_and_key_options(hub, tmp_path, bin_path):
    cert, key = openssl_cert(tmp_path)
    h = hub("--cert", cert, "--key", key, tls=True)
    assert h.keyprint == pem_keyprint(cert)
    assert keyprint(h.nmdc_conn(tls=True).sock.getpeercert(binary_form=True)) == h.keyprint
    both = tmp_path / "both.pem"               # --key defaults to the --cert file
    both.write_text(cert.read_text() + key.read_text())
    assert hub("--cert", both, tls=True).keyprint == h.keyprint
    other_cert, other_key = openssl_cert(tmp_path, "other")
    for args, rc, why in ((["--cert", cert, "--key", other_key], 1, "does not belong"),
                          (["--cert", tmp_path / "missing.pem"], 1, "missing.pem"),
                          (["--key", key], 2, "--key needs --cert")):
        r = subprocess.run([str(bin_path("fakehub")), "--adcs", "127.0.0.1:0", *map(str, args)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == rc and why in r.stderr, (args, r.returncode, r.stderr)
        assert r.stdout == ""                    # no ready line


def test_long_user_list_over_tls_and_mixed(hub):
    # the TLS write path continues a list longer than one 16 KiB piece too;
    # plain and TLS users list each other
    h = hub(tls=True)
    big = [h.adc_conn(tls=i % 2 == 0).login(f"u{i}", extra=" DE" + "x" * 5000) for i in range(8)]
    c = h.adc_conn(tls=True).login("carol")
    binfs = [l.split()[1].decode() for l in c.seen if l.startswith(b"BINF ")]
    assert binfs[-1] == c.sid and sorted(binfs[:-1]) == sorted(u.sid for u in big)
    d = h.adc_conn().login("dave")
    dl = [l.split()[1].decode() for l in d.seen if l.startswith(b"BINF ")]
    assert dl[-1] == d.sid and sorted(dl[:-1]) == sorted([u.sid for u in big] + [c.sid])
    assert c.expect(f"BINF {d.sid} ")
    c.send(f"BMSG {c.sid} done")
    for x in (d, big[0], big[1]):
        assert x.expect("BMSG ") == f"BMSG {c.sid} done".encode()
