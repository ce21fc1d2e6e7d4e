"""fakehub against a real client: eiskaltdcpp-daemon (the DC++ core).

Issue 3's done-when: the daemon logs into fakehub over NMDC (dchub://) and
over ADC (adc://), and two daemon instances exchange a private message
through it in both directions, for each protocol. The ports come from
fakehub's ready line; fakehub's --trace file is printed when a test fails, so
the wire exchange is at hand.
"""
import time

import pytest

from dctest import EiskaltDaemon, Process, require_binary

pytestmark = pytest.mark.interop

SCHEMES = {"nmdc": "dchub", "adc": "adc"}


@pytest.fixture
def fakehub(tmp_path, bin_path):
    trace = tmp_path / "fakehub.trace"
    p = Process([bin_path("fakehub"), "--nmdc", "127.0.0.1:0", "--adc", "127.0.0.1:0",
                 "--name", "interop", "--trace", trace],
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
def daemons(tmp_path):
    require_binary("eiskaltdcpp-daemon")
    started = []

    def make(nick, **kw):
        d = EiskaltDaemon(tmp_path / nick, nick, **kw)
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
        print(f"--- {d.nick} ---\n{d.log_path.read_text(errors='replace')[-4000:]}")


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
