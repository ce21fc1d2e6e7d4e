"""dcclient against real peers: uhub (ADC hub) and eiskaltdcpp-daemon.

Issue 4's done-when: dcclient, driven over its JSON-lines control channel,
logs into uhub over ADC and exchanges private messages both ways with an
eiskaltdcpp-daemon user through it. Both sides check what the other sent,
byte for byte, including the characters ADC must escape.
"""
import time

import pytest

from dctest import EiskaltDaemon, Process, Uhub, require_binary

pytestmark = pytest.mark.interop


@pytest.fixture
def hub(tmp_path):
    require_binary("uhub")
    with Uhub(tmp_path / "uhub") as h:
        yield h
        print(f"--- uhub log ---\n{h.log_path.read_text(errors='replace')[-6000:]}")


@pytest.fixture
def daemon(tmp_path):
    require_binary("eiskaltdcpp-daemon")
    with EiskaltDaemon(tmp_path / "alice", "alice") as d:
        yield d
    print(f"--- alice ---\n{d.log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def dcclient(tmp_path, bin_path):
    p = Process([bin_path("dcclient")], name="dcclient", stdin_pipe=True,
                log=tmp_path / "dcclient.log")
    try:
        p.wait_ready()
        yield p
    finally:
        rc = p.stop()
        print(f"--- dcclient exit {rc}; stderr ---\n{p.log_tail(60)}\n"
              f"--- events ---\n" + "\n".join(map(str, p.channel.events[-40:])))


def test_dcclient_and_daemon_exchange_pms_through_uhub(hub, daemon, dcclient):
    ch = dcclient.channel
    daemon.login(hub.url)

    t0 = time.monotonic()
    login = ch.request("connect", url=hub.url, nick="carol")
    login_ms = 1000 * (time.monotonic() - t0)
    assert login["protocol"] == "adc" and login["nick"] == "carol"
    # Each side sees the other in its user list.
    daemon.wait_users(hub.url, ["carol"])
    assert daemon.user_info(hub.url, "carol")["IP"] == "127.0.0.1"
    deadline = time.monotonic() + 10
    while "alice" not in [u["nick"] for u in ch.request("users")["users"]]:
        assert time.monotonic() < deadline, "dcclient never listed alice"
        ch.wait_for("user.join", timeout=max(deadline - time.monotonic(), 0.1))

    to_alice = "from dcclient: spaces, back\\slash, newline\nsecond line, ünï"
    to_carol = "from the daemon: pipe | dollar $ back\\slash ünï"

    t1 = time.monotonic()
    ch.request("pm", nick="alice", text=to_alice)
    daemon.wait_pm("carol", to_alice)
    t2 = time.monotonic()

    daemon.pm(hub.url, "carol", to_carol)
    ev = ch.wait_for("pm", **{"from": "alice"})
    t3 = time.monotonic()
    assert ev["text"] == to_carol
    assert ev["to"] == "carol"

    # Exactly one copy reached the daemon, and only from carol; dcclient
    # reported only the PM it received (uhub's echo of its own EMSG, which
    # came back long before the daemon's reply, is not a "pm" event).
    assert daemon.received_pms() == [("carol", to_alice)]
    assert [e for e in ch.events if e["event"] == "pm"] == [ev]
    print(f"login {login_ms:.0f} ms; PM dcclient->daemon {1000 * (t2 - t1):.0f} ms, "
          f"daemon->dcclient {1000 * (t3 - t2):.0f} ms")


def test_dcclient_sees_daemon_arrive_and_daemon_sees_dcclient_leave(hub, daemon, dcclient):
    ch = dcclient.channel
    ch.request("connect", url=hub.url, nick="carol")
    daemon.login(hub.url)
    joined = ch.wait_for("user.join", nick="alice")
    assert joined["op"] is False
    daemon.wait_users(hub.url, ["carol"])
    ch.request("disconnect")
    daemon.wait_gone(hub.url, "carol")
    assert "alice" in daemon.users(hub.url)


@pytest.fixture
def reg_hub(tmp_path):
    require_binary("uhub")
    with Uhub(tmp_path / "reg-uhub", users={"carol": "s3cret"},
              operators={"olga": "0p-pw"}) as h:
        yield h


@pytest.mark.parametrize("nick,password,op", [("carol", "s3cret", False),
                                              ("olga", "0p-pw", True)])
def test_dcclient_logs_in_with_password(reg_hub, daemon, dcclient, nick, password, op):
    """uhub checks HPAS (Tiger of password + salt) and flags operators."""
    daemon.login(reg_hub.url)
    login = dcclient.channel.request("connect", url=reg_hub.url, nick=nick, password=password)
    assert login["nick"] == nick
    daemon.wait_users(reg_hub.url, [nick])
    assert ("op" in daemon.user_info(reg_hub.url, nick)["Icon"]) is op
    me = [u for u in dcclient.channel.request("users")["users"] if u["nick"] == nick]
    assert len(me) == 1 and me[0]["op"] is op


def test_dcclient_wrong_password_fails_with_hubs_reason(reg_hub, daemon, dcclient):
    daemon.login(reg_hub.url)
    reply = dcclient.channel.request("connect", check=False, url=reg_hub.url,
                                     nick="carol", password="guess")
    assert reply["ok"] is False
    assert "Password is wrong" in reply["error"]
    assert "carol" not in daemon.users(reg_hub.url)
