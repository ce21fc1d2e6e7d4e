"""fakehub over TLS against a real client: eiskaltdcpp-daemon (the DC++ core).

Issue 8: fakehub replaces the public nmdcs:// hub that Python DC suites use
for their Alice/Bob tests. Here the daemon logs in over adcs:// and nmdcs://,
checks fakehub's keyprint when the URL carries ?kp= (and refuses a wrong
one), and two daemons exchange PMs through it. The daemons run as parties
(parties/eiskaltdcpp_party.py, dc_client(profile="eiskaltdcpp")). DC++ also presents its own
certificate to the hub; the keyprint fakehub reports for it must equal the
KP that DC++ publishes in its ADC INF, a cross-check of the keyprint code in
both directions. fakehub's trace is printed when a test fails.
"""
import json
import time

import pytest

from dctest import JsonLines, Process, ProcessError, require_binary
from strictkit import daemon_violations

pytestmark = pytest.mark.interop

SCHEMES = {"nmdc": "nmdcs", "adc": "adcs"}


@pytest.fixture
def fakehub(tmp_path, bin_path):
    trace = tmp_path / "fakehub.trace"
    p = Process([bin_path("fakehub"), "--nmdcs", "127.0.0.1:0", "--adcs", "127.0.0.1:0",
                 "--name", "interop-tls", "--trace", trace, "--control", tmp_path / "ctl.sock",
                 "--data-dir", tmp_path / "hubdata"],
                name="fakehub", log=tmp_path / "fakehub.log")
    try:
        p.ready = p.wait_ready()
        p.trace_path = trace
        yield p
    finally:
        rc = p.stop()
        print(f"--- fakehub exit {rc}; stderr ---\n{p.log_tail(60)}")
        if trace.exists():
            print(f"--- {trace} ---\n{trace.read_text(errors='replace')[-20000:]}")
    # The real client breaks none of fakehub's protocol rules (docs/fakehub.md
    # lists what it does break, if anything, and why it is accepted here).
    assert daemon_violations(trace) == []


@pytest.fixture
def daemons(dc_client):
    """The party starts the daemon with UseTLS: its certificate is ready at
    start and, on a TLS hub, it advertises ADC0 and KP."""
    require_binary("eiskaltdcpp-daemon")
    return lambda nick: dc_client(nick, profile="eiskaltdcpp")


def pms(client) -> list:
    return [(e["from"], e["text"]) for e in client.events if e["event"] == "pm"]


def hub_users(fakehub) -> dict:
    with JsonLines.unix(fakehub.ready["control"], name="fakehub-control") as ctl:
        return {u["nick"]: u for u in ctl.request("users")["users"]}


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_daemon_logs_in_over_tls(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto + 's']}"
    alice = daemons("alice")
    t0 = time.monotonic()
    assert alice.connect(url, timeout=30)["tls"] is True
    print(f"{url}: login {1000 * (time.monotonic() - t0):.0f} ms")
    me = hub_users(fakehub)["alice"]
    assert me["tls"] is True and me["proto"] == proto
    assert me["keyprint"].startswith("SHA256/")        # DC++ presents its certificate


def test_hub_sees_the_keyprint_dcpp_publishes(fakehub, daemons):
    url = f"adcs://{fakehub.ready['adcs']}"
    alice = daemons("alice")
    alice.connect(url, timeout=30)
    seen = hub_users(fakehub)["alice"]["keyprint"]
    assert fakehub.stop() == 0                     # flushes the trace
    rows = [json.loads(r) for r in fakehub.trace_path.read_text().split("\n") if r]
    binfs = [r["line"] for r in rows if r.get("dir") == "in" and r["line"].startswith("BINF ")]
    assert all(r.get("tls") is True for r in rows if "line" in r)
    kps = [f[2:] for b in binfs for f in b.split(" ") if f.startswith("KP")]
    assert kps and kps[0] == seen, (binfs, seen)
    sus = [f[2:] for b in binfs for f in b.split(" ") if f.startswith("SU")]
    assert sus and "ADC0" in sus[0].split(","), sus   # notes §3.10, pitfall 16


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_keyprint_in_the_url_is_checked_by_the_daemon(fakehub, daemons, proto):
    base = f"{SCHEMES[proto]}://{fakehub.ready[proto + 's']}"
    kp = fakehub.ready["keyprint"]
    good = f"{base}/?kp={kp}"
    alice = daemons("alice")
    alice.connect(good, timeout=30)
    wrong = "SHA256/" + ("A" if kp[7] != "A" else "B") + kp[8:]
    bob = daemons("bob")
    with pytest.raises(ProcessError, match="Keyprint mismatch") as e:
        bob.connect(f"{base}/?kp={wrong}", timeout=30)
    assert e.value.code == "keyprint-mismatch"
    assert "bob" not in hub_users(fakehub)
    assert [u["nick"] for u in alice.users()] == ["alice"]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_two_daemons_exchange_pms_over_tls(fakehub, daemons, proto):
    url = f"{SCHEMES[proto]}://{fakehub.ready[proto + 's']}"
    alice, bob = daemons("alice"), daemons("bob")
    t0 = time.monotonic()
    alice.connect(url, timeout=30)
    bob.connect(url, timeout=30)
    alice.wait_for("user.join", nick="bob")
    bob.wait_for("user.join", nick="alice")
    visible = time.monotonic() - t0
    to_bob = f"hello bob over {proto} tls: pipe | dollar $ amp & ünï"
    to_alice = f"hi alice, {proto} tls reply"
    t1 = time.monotonic()
    alice.pm("bob", to_bob)
    bob.wait_for("pm", from_="alice", text=to_bob)
    t2 = time.monotonic()
    bob.pm("alice", to_alice)
    alice.wait_for("pm", from_="bob", text=to_alice)
    t3 = time.monotonic()
    time.sleep(0.3)
    assert pms(bob) == [("alice", to_bob)]
    assert pms(alice) == [("bob", to_alice)]
    assert {u["tls"] for u in hub_users(fakehub).values()} == {True}
    print(f"{url}: mutual visibility {1000 * visible:.0f} ms, "
          f"PM {1000 * (t2 - t1):.0f} ms / {1000 * (t3 - t2):.0f} ms")
