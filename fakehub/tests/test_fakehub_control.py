"""fakehub's --control socket (docs/fakehub.md): requests and replies,
subscriptions to login/logout/chat/pm/ctm events, kick, raw lines, hub chat,
malformed requests answered with errors on a connection that stays usable,
several controllers at once, shutdown."""
import json
import socket

import pytest

from dctest import ProcessError
from fhraw import hub  # noqa: F401

pytestmark = pytest.mark.sanitize


def test_subscriber_sees_login_chat_pm_ctm_logout(hub):
    h = hub(control=True)
    ctl = h.control()
    assert ctl.request("ping") == {"pong": True}
    assert ctl.request("subscribe", events=["login", "logout", "chat", "pm", "ctm"]) == {}
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    ctl.wait_for("login", nick="alice", proto="nmdc")
    ctl.wait_for("login", nick="xa", proto="adc")
    b = h.nmdc_conn().login("bob")
    a.send("<alice> hi &#36;5")
    assert ctl.wait_for("chat", nick="alice")["text"] == "hi $5"      # unescaped
    x.send(f"BMSG {x.sid} adc\\schat")
    assert ctl.wait_for("chat", nick="xa")["text"] == "adc chat"
    a.send("$To: bob From: alice $<alice> secret")
    assert ctl.wait_for("pm", **{"from": "alice"}) == {"event": "pm", "from": "alice", "to": "bob",
                                                       "text": "secret"}
    a.send("$ConnectToMe bob 127.0.0.1:4000")
    b.send("$RevConnectToMe bob alice")
    ctl.wait_for("ctm", kind="ctm", **{"from": "alice", "to": "bob"})
    ctl.wait_for("ctm", kind="rcm", **{"from": "bob", "to": "alice"})
    b.close()
    ctl.wait_for("logout", nick="bob", proto="nmdc")
    users = ctl.request("users")["users"]
    assert sorted((u["nick"], u["proto"]) for u in users) == [("alice", "nmdc"), ("xa", "adc")]
    assert [u["sid"] for u in users if u["proto"] == "adc"] == [x.sid]


def test_subscription_filter(hub):
    h = hub(control=True)
    only_chat, nothing = h.control(), h.control()
    only_chat.request("subscribe", events=["chat"])
    a = h.nmdc_conn().login("alice")
    a.send("<alice> one")
    only_chat.wait_for("chat", nick="alice")
    assert nothing.request("ping") == {"pong": True}
    assert not any(e["event"] == "login" for e in only_chat.events)
    assert nothing.events == []


def test_kick_raw_and_hub_chat(hub):
    h = hub(control=True)
    ctl = h.control()
    a, b = h.nmdc_conn().login("alice"), h.nmdc_conn().login("bob")
    x, y = h.adc_conn().login("xa"), h.adc_conn().login("ya")
    assert ctl.request("raw", nick="alice", line="$ForceMove elsewhere") == {"sent": 1}
    assert a.expect(b"$ForceMove") == b"$ForceMove elsewhere"
    assert ctl.request("raw", all=True, proto="adc", line="IMSG raw\\sto\\sall") == {"sent": 2}
    for c in (x, y):
        c.expect(b"IMSG raw\\sto\\sall")
    ctl.request("chat", text="hello from the hub $|")
    a.expect(b"<Hub> hello from the hub &#36;&#124;")
    x.expect(b"IMSG hello\\sfrom\\sthe\\shub\\s$|")
    ctl.request("kick", nick="BOB", reason="testing")     # nicks are case-insensitive
    assert b"<Hub> You were kicked: testing" in b.wait_closed()
    assert a.expect(b"$Quit") == b"$Quit bob"
    ctl.request("kick", nick="ya")
    lines = y.wait_closed()
    assert any(l.startswith(f"IQUI {y.sid} MSYou\\swere\\skicked".encode()) for l in lines), lines
    assert x.expect(b"IQUI") == f"IQUI {y.sid}".encode()
    assert sorted(u["nick"] for u in ctl.request("users")["users"]) == ["alice", "xa"]


def test_malformed_requests_get_errors_and_connection_survives(hub):
    h = hub(control=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(h.control_path)
    h.conns.append(s)
    r, w = s.makefile("r", encoding="utf-8"), s.makefile("w", encoding="utf-8")

    def ask(text):
        w.write(text + "\n")
        w.flush()
        return json.loads(r.readline())

    bad = [
        ("not json", None, "not valid JSON"),
        ("[1,2]", None, "must be a JSON object"),
        ('{"id":1}', 1, "no \"cmd\""),
        ('{"id":2,"cmd":"frobnicate"}', 2, "unknown cmd"),
        ('{"id":3,"cmd":"kick"}', 3, "kick needs"),
        ('{"id":4,"cmd":"kick","args":{"nick":"nobody"}}', 4, "no such user"),
        ('{"id":5,"cmd":"raw","args":{"line":"x"}}', 5, "raw needs"),
        ('{"id":6,"cmd":"raw","args":{"line":"a|b","all":true,"proto":"nmdc"}}', 6, "terminator"),
        ('{"id":7,"cmd":"subscribe","args":{"events":["bogus"]}}', 7, "unknown event"),
        ('{"id":"s","cmd":"ping","args":[]}', "s", "args"),
        ('{"id":9,"cmd":"chat","args":{"text":5}}', 9, "chat needs"),
    ]
    for text, rid, msg in bad:
        rep = ask(text)
        assert rep["ok"] is False and rep["id"] == rid and msg in rep["error"], (text, rep)
    w.write("x" * 200000 + "\n")              # oversized line
    w.flush()
    rep = json.loads(r.readline())
    assert rep["ok"] is False and "longer than" in rep["error"]
    assert ask('{"id":10,"cmd":"ping"}') == {"id": 10, "ok": True, "result": {"pong": True}}


def test_many_controllers_and_shutdown_request(hub):
    h = hub(control=True)
    ctls = [h.control() for _ in range(8)]
    for c in ctls:
        c.request("subscribe")
    h.nmdc_conn().login("alice")
    for c in ctls:
        c.wait_for("login", nick="alice")
    assert ctls[0].request("shutdown") == {}
    for c in ctls[1:]:
        c.wait_for("shutdown")
    assert h.proc.wait(timeout=2) == 0
    with pytest.raises((ProcessError, OSError)):   # the socket is gone
        ctls[1].request("ping", timeout=1)
