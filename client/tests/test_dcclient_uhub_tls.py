"""dcclient against uhub over TLS (interop; issue 8): uhub with tls_require
(dctest.peers.Uhub(tls=True), a self-signed certificate from the openssl
CLI). Two dcclients log in over adcs:// with the certificate's keyprint in
?kp=, exchange PMs, and Bob fetches Alice's list and a file over a TLS
client connection (ADCS/0.10 relayed by uhub); a wrong ?kp= is refused
naming both keyprints; a plain adc:// URL on the TLS-only port fails fast."""
import base64
import hashlib
import os
import ssl
import time

import pytest

from dccproc import dcclient, wait_nicks  # noqa: F401 (fixture)
from dctest import Uhub, require_binary

pytestmark = [pytest.mark.interop, pytest.mark.sanitize]

MULT = float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))


@pytest.fixture
def uhub_tls(tmp_path):
    require_binary("uhub")
    with Uhub(tmp_path / "uhub", tls=True) as h:
        der = ssl.PEM_cert_to_DER_cert((h.dir / "hub.crt").read_text())
        h.keyprint = "SHA256/" + base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=")
        yield h


def test_login_pm_list_and_download_over_adcs(uhub_tls, dcclient, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "f.bin").write_bytes(os.urandom(1 << 20))
    alice = dcclient("--nick", "alice", "--share", str(share), name="alice")
    bob = dcclient("--nick", "bob", name="bob")
    alice.channel.wait_for("share.done", timeout=30)
    url = f"{uhub_tls.url}/?kp={uhub_tls.keyprint}"
    assert url.startswith("adcs://")
    for c in (alice, bob):
        res = c.channel.request("connect", url=url, timeout=20)
        assert res["tls"] is True and res["keyprint"] == uhub_tls.keyprint
    wait_nicks(bob.channel, {"alice", "bob"})
    wait_nicks(alice.channel, {"alice", "bob"})
    users = {u["nick"]: u for u in bob.channel.request("users")["users"]}
    assert users["alice"]["tls"] is True and users["alice"]["keyprint"].startswith("SHA256/")

    alice.channel.request("pm", nick="bob", text="over uhub's TLS")
    assert bob.channel.wait_for("pm", timeout=10)["text"] == "over uhub's TLS"

    lst = bob.channel.request("list", nick="alice", timeout=30)
    assert [k["name"] for k in lst["tree"]["children"][0]["children"]] == ["f.bin"]
    got = tmp_path / "got"
    got.mkdir()
    res = bob.channel.request("download", nick="alice", path="/share/f.bin", target_dir=str(got), timeout=60)
    assert res["tls"] is True
    assert (got / "f.bin").read_bytes() == (share / "f.bin").read_bytes()


def test_wrong_keyprint_refused_and_plain_url_fails_fast(uhub_tls, dcclient):
    c = dcclient("--nick", "carol", "--set", "login_timeout=3", name="carol")
    wrong = "SHA256/" + "B" * 52
    res = c.channel.request("connect", url=f"{uhub_tls.url}/?kp={wrong}", timeout=20, check=False)
    assert res["ok"] is False and "keyprint mismatch" in res["error"], res
    assert wrong in res["error"] and uhub_tls.keyprint in res["error"]
    t0 = time.monotonic()
    plain = uhub_tls.url.replace("adcs://", "adc://")
    res = c.channel.request("connect", url=plain, timeout=15 * MULT, check=False)
    assert res["ok"] is False and time.monotonic() - t0 < 3 + 2 * MULT, res
    assert "TLS port" in res["error"], res["error"]
