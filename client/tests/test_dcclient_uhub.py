"""dcclient against uhub, a real ADC hub (interop): two dcclient processes log
in, see each other, exchange PMs both ways byte-exactly (uhub echoes EMSG to
the sender; the echo must not come back as a received PM), chat, leave; a
registered nick logs in with its password (HPAS) and is refused with uhub's
own reason for a wrong one; a taken nick is refused with uhub's reason."""
import pytest

from dccproc import dcclient, nicks, wait_nicks  # noqa: F401 (fixture)
from dctest import Uhub, require_binary

pytestmark = [pytest.mark.interop, pytest.mark.sanitize]

# No 4-byte UTF-8 here: uhub 0.4.1 silently drops any message holding one
# (U+1F600 tried: the EMSG never reached the target nor came back as echo).
PM_ONE = "uhub pm: spaces  and \\s and \\ and\nnewline $|& \u00e9\u20ac\u043f"
PM_TWO = "reply\n\nwith trailing space "


@pytest.fixture
def uhub(tmp_path):
    require_binary("uhub")
    with Uhub(tmp_path / "uhub", users={"reggie": "pa55 word"}) as h:
        yield h


def test_two_dcclients_exchange_pms_through_uhub(uhub, dcclient):
    a, b = dcclient(name="alice").channel, dcclient(name="bob").channel
    assert a.request("connect", url=uhub.url, nick="alice")["protocol"] == "adc"
    assert b.request("connect", url=uhub.url, nick="bob")["nick"] == "bob"
    wait_nicks(a, {"alice", "bob"})
    wait_nicks(b, {"alice", "bob"})
    bob = {u["nick"]: u for u in a.request("users")["users"]}["bob"]
    assert len(bob["sid"]) == 4 and len(bob["cid"]) == 39

    a.request("pm", nick="bob", text=PM_ONE)
    assert b.wait_for("pm", **{"from": "alice"})["text"] == PM_ONE
    b.request("pm", nick="alice", text=PM_TWO)
    assert a.wait_for("pm", **{"from": "bob"})["text"] == PM_TWO
    b.request("say", text="main chat through uhub")
    assert a.wait_for("chat", **{"from": "bob"})["text"] == "main chat through uhub"
    # uhub echoed each EMSG to its sender: not a received PM.
    assert [e["from"] for e in a.events if e["event"] == "pm"] == ["bob"]
    assert [e["from"] for e in b.events if e["event"] == "pm"] == ["alice"]

    b.request("disconnect")
    a.wait_for("user.leave", nick="bob")
    assert nicks(a) == ["alice"]


def test_registered_nick_password_and_refusals(uhub, dcclient):
    good, bad, dup = dcclient().channel, dcclient().channel, dcclient().channel
    r = bad.request("connect", url=uhub.url, nick="reggie", password="wrong", check=False)
    assert r["ok"] is False and "password" in r["error"].lower(), r["error"]
    assert good.request("connect", url=uhub.url, nick="reggie", password="pa55 word")["nick"] == "reggie"
    r = dup.request("connect", url=uhub.url, nick="reggie", password="pa55 word", check=False)
    assert r["ok"] is False and r["error"], r
    status = [e for e in dup.events if e["event"] == "hub.status"]
    assert status and status[-1]["code"] >= 200, status
