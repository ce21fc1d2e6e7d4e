"""dcclient over its JSON-lines control channel (docs/control-protocol.md),
against fakehub children: connect, users, PMs between two dcclient
processes, refusals with the hub's reason, malformed and unknown requests,
over-long lines, ping while connecting, EOF and SIGTERM (both exit 0), the
command line and the control socket."""
import json
import signal
import socket
import threading
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, nicks, wait_nicks  # noqa: F401 (fixtures)
from dctest import JsonLines

pytestmark = pytest.mark.sanitize

PM_ALICE = "dollar $ pipe | backslash \\ \\s newline\nnext &#36; &amp; caf\u00e9 \u20ac \U0001F600"
PM_BOB = "|$ back at you \\\\ \n\n<b> \u043f\u0440\u0438\u0432\u0435\u0442"


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_two_dcclients_log_in_list_users_and_exchange_pms(fakehub, dcclient, proto):
    alice, bob = dcclient(name="alice"), dcclient(name="bob")
    a, b = alice.channel, bob.channel
    url = fakehub.url(proto)
    res = a.request("connect", url=url, nick="alice", timeout=10)
    assert res == {"url": url, "protocol": proto, "nick": "alice", "tls": False}
    a.wait_for("hub.connected", url=url, protocol=proto, nick="alice")
    b.request("connect", url=url, nick="bob", timeout=10)
    wait_nicks(a, {"alice", "bob"})
    wait_nicks(b, {"alice", "bob"})
    users = {u["nick"]: u for u in a.request("users")["users"]}
    assert set(users) == {"alice", "bob"}
    for u in users.values():
        assert {"nick", "description", "email", "share", "op"} <= set(u)
        assert ("sid" in u) == (proto == "adc")

    assert a.request("pm", nick="bob", text=PM_ALICE) == {}
    assert b.request("pm", nick="alice", text=PM_BOB) == {}
    got_b = b.wait_for("pm", **{"from": "alice"})
    got_a = a.wait_for("pm", **{"from": "bob"})
    assert got_b["text"] == PM_ALICE and got_b["to"] == "bob"
    assert got_a["text"] == PM_BOB and got_a["to"] == "alice"

    assert a.request("say", text="hello $| all") == {}
    assert b.wait_for("chat", **{"from": "alice"})["text"] == "hello $| all"
    assert a.wait_for("chat", **{"from": "alice"})["text"] == "hello $| all"
    # The hub's echo of our own PM is never reported as received.
    assert [e for e in a.events if e["event"] == "pm"] == [got_a]
    assert [e for e in b.events if e["event"] == "pm"] == [got_b]

    assert b.request("disconnect") == {}
    b.wait_for("hub.disconnected")
    assert a.wait_for("user.leave", nick="bob")
    assert nicks(a) == ["alice"]
    err = b.request("pm", nick="alice", text="x", check=False)
    assert not err["ok"] and "not logged in" in err["error"] and err["code"] == "not-connected"


def test_pm_to_someone_offline_is_an_error(fakehub, dcclient):
    ch = dcclient().channel
    ch.request("connect", url=fakehub.adc_url, nick="solo")
    r = ch.request("pm", nick="ghost", text="hi", check=False)
    assert r == {"id": r["id"], "ok": False, "error": "user 'ghost' is not online", "code": "not-online"}


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_nick_taken_comes_back_with_the_hubs_reason(fakehub, dcclient, proto):
    first, second = dcclient().channel, dcclient().channel
    first.request("connect", url=fakehub.url(proto), nick="same")
    r = second.request("connect", url=fakehub.url(proto), nick="same", check=False)
    assert r["ok"] is False
    assert "taken" in r["error"].lower() or "in use" in r["error"].lower(), r["error"]
    assert r["code"] == "nick-taken", r
    ev = second.wait_for("hub.disconnected")
    assert ev["logged_in"] is False and ev["reason"] == r["error"]
    assert second.request("ping") == {"pong": True}


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_password_login_and_bad_password(fakehub_factory, dcclient, proto):
    hub = fakehub_factory("--user", "carol:s3cret")
    good, bad, none = dcclient().channel, dcclient().channel, dcclient().channel
    r = bad.request("connect", url=hub.url(proto), nick="carol", password="wrong", check=False)
    assert not r["ok"] and ("password" in r["error"].lower()) and r["code"] == "bad-password", r
    r = none.request("connect", url=hub.url(proto), nick="carol", check=False)
    assert not r["ok"] and "password" in r["error"].lower() and r["code"] == "password-required", r
    assert good.request("connect", url=hub.url(proto), nick="carol", password="s3cret")["nick"] == "carol"


def bad_line(ch, line: str) -> str:
    """Send a raw line that carries no usable id; return the error text of
    its one reply (id null)."""
    ch.send_raw(line)
    r = ch.reply(None, timeout=5)
    assert r["ok"] is False and r["id"] is None and r["code"] == "bad-request", r
    return r["error"]


def test_malformed_and_unknown_requests_get_one_error_each(dcclient):
    ch = dcclient().channel
    assert "not valid JSON" in bad_line(ch, "this is not json")
    assert "not valid JSON" in bad_line(ch, '{"id": 1, "cmd": "ping"')
    assert "JSON object" in bad_line(ch, '[1, 2, 3]')
    assert "id must be" in bad_line(ch, '{"id": [1], "cmd": "ping"}')
    assert "no \"cmd\"" in bad_line(ch, '{"args": {}}')

    codes = {}

    def err(req: dict) -> str:
        ch.send_raw(json.dumps(req))
        r = ch.reply(req.get("id"), timeout=5)
        assert r["ok"] is False and r["id"] == req.get("id"), r
        codes[req.get("id")] = r["code"]
        return r["error"]

    assert err({"id": 2, "cmd": "frobnicate"}) == "unknown command 'frobnicate'"
    assert "no \"cmd\"" in err({"id": 3, "cmd": 5})
    assert "must be an object" in err({"id": 4, "cmd": "ping", "args": [1]})
    assert "missing argument 'text'" in err({"id": 5, "cmd": "pm", "args": {"nick": "x"}})
    assert "argument 'nick' must be a string" in err({"id": 6, "cmd": "pm", "args": {"nick": 7, "text": "x"}})
    assert "unknown argument 'colour'" in err({"id": 7, "cmd": "users", "args": {"colour": "red"}})
    assert "unknown setting 'nope'" in err({"id": 8, "cmd": "get", "args": {"name": "nope"}})
    assert "of type int, not a string" in err({"id": 9, "cmd": "set", "args": {"name": "slots", "value": "3"}})
    assert "of type bool, not an integer" in err({"id": 10, "cmd": "set", "args": {"name": "reconnect", "value": 1}})
    assert "between" in err({"id": 11, "cmd": "set", "args": {"name": "slots", "value": -4}})
    assert "52 base32" in err({"id": 12, "cmd": "connect", "args": {"url": "adcs://127.0.0.1:1/?kp=SHA256/X"}})
    assert "must be auto, always or never" in err({"id": 16, "cmd": "set",
                                                   "args": {"name": "cc_tls", "value": "sometimes"}})
    assert "unknown scheme" in err({"id": 13, "cmd": "connect", "args": {"url": "http://x"}})
    assert "not connected" in err({"id": 14, "cmd": "disconnect"})
    assert "not logged in" in err({"id": 15, "cmd": "say", "args": {"text": "hi"}})
    assert err({"id": "str-id", "cmd": "nope"}) == "unknown command 'nope'"
    # ... each with its stable code (docs/control-protocol.md)
    assert codes == {2: "unknown-command", 3: "bad-request", 4: "bad-request", 5: "bad-request", 6: "bad-request",
                     7: "bad-request", 8: "unknown-setting", 9: "bad-value", 10: "bad-value", 11: "bad-value",
                     12: "bad-url", 16: "bad-value", 13: "bad-url", 14: "not-connected", 15: "not-connected",
                     "str-id": "unknown-command"}
    # Still alive and well, settings unchanged by the failures.
    assert ch.request("ping") == {"pong": True}
    assert ch.request("get", name="slots") == {"name": "slots", "type": "int", "value": 2}
    assert ch.request("set", name="slots", value=5) == {}
    assert ch.request("get", name="slots")["value"] == 5
    assert ch.request("set", name="reconnect_delay", value=2) == {}, "an integer is a valid double"
    names = [s["name"] for s in ch.request("settings")["settings"]]
    assert {"nick", "password", "description", "email", "data_dir", "reconnect"} <= set(names)
    # No stray replies: every request above got exactly one.
    assert not ch._replies


def test_overlong_request_line_is_refused_and_the_next_line_survives(dcclient):
    ch = dcclient().channel
    big = json.dumps({"id": 99, "cmd": "say", "args": {"text": "x" * (1536 * 1024)}})
    # One write: the over-long line and a ping right behind it.
    ch.send_raw(big + "\n" + json.dumps({"id": 100, "cmd": "ping"}))
    r = ch.reply(None, timeout=10)
    assert r["ok"] is False and "longer than" in r["error"]
    assert ch.reply(100, timeout=10)["result"] == {"pong": True}
    assert 99 not in ch._replies
    # A line just under the limit is still read (and fails for its own reason).
    ok = json.dumps({"id": 101, "cmd": "say", "args": {"text": "y" * (1024 * 1024 - 100)}})
    ch.send_raw(ok)
    assert "not logged in" in ch.reply(101, timeout=10)["error"]


def test_ping_is_answered_while_a_connect_is_pending(dcclient):
    # A hub that accepts and never speaks: the login can only time out.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    try:
        p = dcclient("--set", "login_timeout=1.5")
        ch = p.channel
        ch.send_raw(json.dumps({"id": 1, "cmd": "connect", "args": {"url": f"dchub://127.0.0.1:{port}", "nick": "n"}}))
        conn, _ = srv.accept()
        t0 = time.monotonic()
        assert ch.request("ping", timeout=5) == {"pong": True}
        assert time.monotonic() - t0 < 1.0, "ping waited for the connect"
        assert 1 not in ch._replies, "connect replied before the login finished"
        r = ch.reply(1, timeout=10)
        assert r["ok"] is False and "timed out" in r["error"] and r["code"] == "timeout", r
        conn.close()
    finally:
        srv.close()


def test_eof_on_stdin_leaves_the_hub_and_exits_0(fakehub, dcclient):
    watcher, leaver = dcclient().channel, dcclient()
    watcher.request("connect", url=fakehub.nmdc_url, nick="watcher")
    leaver.channel.request("connect", url=fakehub.nmdc_url, nick="leaver")
    wait_nicks(watcher, {"leaver"})
    leaver.channel.request("pm", nick="watcher", text="bye $|")
    leaver.proc.stdin.close()
    assert leaver.wait(timeout=10) == 0
    assert watcher.wait_for("pm", **{"from": "leaver"})["text"] == "bye $|", "queued PM lost at exit"
    watcher.wait_for("user.leave", nick="leaver")


def test_sigterm_leaves_the_hub_and_exits_0(fakehub, dcclient):
    watcher, victim = dcclient().channel, dcclient()
    watcher.request("connect", url=fakehub.adc_url, nick="watcher")
    victim.channel.request("connect", url=fakehub.adc_url, nick="victim")
    wait_nicks(watcher, {"victim"})
    victim.signal(signal.SIGTERM)
    assert victim.wait(timeout=10) == 0
    watcher.wait_for("user.leave", nick="victim")
    ev = victim.channel.wait_for("hub.disconnected", timeout=5)
    assert ev["logged_in"] is True


def test_quit_replies_then_exits_0(dcclient):
    p = dcclient()
    assert p.channel.request("quit") == {}
    assert p.wait(timeout=10) == 0


def test_command_line_mirrors_settings_and_connects_at_start(fakehub, dcclient, bin_path, tmp_path):
    p = dcclient("--nick", "cli", "--description", "from the command line", "--email=e@x",
                 "--set", "slots=7", "--reconnect", "--data-dir", str(tmp_path / "data"),
                 "--hub", fakehub.adc_url)
    ch = p.channel
    ev = ch.wait_for("hub.connected", timeout=10)
    assert ev["nick"] == "cli" and ev["protocol"] == "adc"
    me = {u["nick"]: u for u in ch.request("users")["users"]}["cli"]
    assert me["description"] == "from the command line" and me["email"] == "e@x"
    assert ch.request("get", name="slots")["value"] == 7
    assert ch.request("get", name="reconnect")["value"] is True
    pid_file = tmp_path / "data" / "adc-pid"
    assert len(pid_file.read_text().strip()) == 39, "the PID is persisted in the data dir"
    assert me["cid"] and len(me["cid"]) == 39


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown option"),
    (["--nick"], "needs NICK"),
    (["--set", "nope=1"], "unknown setting"),
    (["--set", "slots=many"], "not a valid int"),
    (["--set", "noequals"], "NAME=VALUE"),
    (["--hub", "adcs://127.0.0.1:1/?kp=SHA256/X"], "52 base32"),
    (["--reconnect=yes"], "takes no value"),
])
def test_bad_command_lines_exit_2_with_a_message(bin_path, args, message):
    import subprocess
    r = subprocess.run([str(bin_path("dcclient")), *args], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r
    assert message in r.stderr and r.stdout == ""


def test_help_lists_options_and_settings(bin_path):
    import subprocess
    r = subprocess.run([str(bin_path("dcclient")), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for word in ("--nick", "--control-socket", "--set", "reconnect_max_delay", "login_timeout"):
        assert word in r.stdout


def test_control_socket_serves_more_controllers(fakehub, dcclient, tmp_path):
    path = tmp_path / "ctl.sock"
    p = dcclient("--control-socket", str(path))
    socks = []
    try:
        chans = []
        for i in range(2):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            socks.append(s)
            ch = JsonLines(s.makefile("r", encoding="utf-8"), s.makefile("w", encoding="utf-8"), name=f"sock{i}")
            assert ch.wait_for("ready")["pid"] == p.pid
            chans.append(ch)
        assert chans[0].request("ping") == {"pong": True}
        assert "not valid JSON" in bad_line(chans[1], "{{{")
        chans[0].request("connect", url=fakehub.nmdc_url, nick="sockuser", timeout=10)
        # Events go to every controller, stdio included.
        for ch in (chans[1], p.channel):
            ch.wait_for("hub.connected", nick="sockuser")
        # One controller hanging up does not disturb the others.
        socks[1].close()
        assert p.channel.request("users")["users"][0]["nick"] == "sockuser"
    finally:
        for s in socks:
            s.close()
    p.channel.request("quit")
    assert p.wait(timeout=10) == 0
    assert not path.exists(), "the socket file is removed at exit"


def test_last_request_without_newline_is_answered_at_eof(dcclient):
    p = dcclient()
    p.proc.stdin.write('{"id": 1, "cmd": "ping"}\n{"id": 2, "cmd": "get", "args": {"name": "nick"}}')
    p.proc.stdin.close()
    assert p.wait(timeout=10) == 0
    assert p.channel.reply(1, timeout=5)["result"] == {"pong": True}
    assert p.channel.reply(2, timeout=5)["result"]["value"] == "dcclient"


@pytest.mark.parametrize("scheme", ["dchub", "adc"])
def test_source_address_binds_the_hub_connection(dcclient, scheme):
    """source_address: the hub sees the connection come from that 127/8
    address (for hubs that tell users apart by IP); a value that is no
    IPv4 address is refused at `set`."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.settimeout(10)
        p = dcclient()
        assert p.channel.request("set", name="source_address", value="127.0.0.3") == {}
        url = f"{scheme}://127.0.0.1:{srv.getsockname()[1]}"
        # Not request(): its reply comes only once the login ends, and this hub never speaks.
        p.channel.send_raw(json.dumps({"id": "src", "cmd": "connect", "args": {"url": url, "nick": "src"}}))
        conn, peer = srv.accept()
        conn.close()
        assert peer[0] == "127.0.0.3"
    err = p.channel.request("set", name="source_address", value="10.0.0.300", check=False)
    assert "must be an IPv4 address" in err["error"], err


@pytest.mark.parametrize("proto, line, rule", [
    ("nmdc", "$ConnectToMe bob 10.0.0.1:4000", "nmdc-ctm-ip"),
    ("adc", "HQUI AAAB", "adc-context"),
])
def test_raw_line_reaches_the_hub_as_given(fakehub_factory, dcclient, tmp_path, proto, line, rule):
    """`raw` queues a line unchanged (here one fakehub refuses and reports);
    a line with the protocol's terminator, or while offline, is an error."""
    hub = fakehub_factory("--control", tmp_path / "ctl.sock")
    alice = dcclient(name="alice").channel
    err = alice.request("raw", line="x", check=False)
    assert not err["ok"] and "not logged in" in err["error"]
    with JsonLines.unix(hub.ready["control"], name="fakehub-control") as ctl:
        ctl.request("subscribe", events=["violation"])
        alice.request("connect", url=hub.url(proto), nick="alice", timeout=10)
        assert alice.request("raw", line=line) == {}
        v = ctl.wait_for("violation", rule=rule)
        assert v["line"] == line and v["nick"] == "alice"
    term = "|" if proto == "nmdc" else "\n"
    for bad in ("", f"a{term}b"):
        err = alice.request("raw", line=bad, check=False)
        assert not err["ok"] and "terminator" in err["error"]
