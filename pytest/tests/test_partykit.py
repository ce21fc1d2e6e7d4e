"""The party kit (dctest.partykit): framing, argument checks, settings,
user events, the stop path and children that never outlive the party —
checked on a real party process over its stdin/stdout."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dctest.partykit import PartyError, UserTable, check_args, opt, parse_hub_url

PYTEST_DIR = pathlib.Path(__file__).resolve().parent.parent

PARTY = textwrap.dedent('''
    import os, subprocess, sys
    sys.path.insert(0, {pytest_dir!r})
    from dctest.partykit import Party, PartyError, Settings, opt

    p = Party("toy", version="1", settings=Settings(extra={{"colour": (str, "red")}},
                                                    unsupported=("slots",)))

    @p.command("echo", text=str, times=opt(int))
    def echo(text, times=1):
        return {{"text": text * times}}

    @p.command("refuse", nick=str)
    def refuse(nick):
        raise PartyError("not-online", f"{{nick}} is not online")

    @p.command("daemon")
    def daemon():
        proc = p.children.spawn(["sleep", "1000"])
        return {{"pid": proc.pid}}

    @p.command("join", nick=str, share=opt(int))
    def join(nick, share=0):
        p.users.put(nick, share=share)

    def on_stop():
        sys.stderr.write("on_stop ran\\n")
    p.on_stop = on_stop
    p.run()
''')


class Party:
    def __init__(self, tmp_path):
        script = tmp_path / "toy_party.py"
        script.write_text(PARTY.format(pytest_dir=str(PYTEST_DIR)))
        self.log = tmp_path / "toy.log"
        self.proc = subprocess.Popen([sys.executable, script, "--dir", tmp_path / "dir"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "wb"), start_new_session=True)
        self.ready = self.line()

    def send(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def line(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def ask(self, obj) -> dict:
        self.send(json.dumps(obj).encode() + b"\n")
        return self.line()

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def party(tmp_path):
    p = Party(tmp_path)
    yield p
    p.close()


def test_ready_line_and_replies(party):
    assert party.ready["event"] == "ready" and party.ready["party"] == "toy"
    assert party.ready["pid"] == party.proc.pid
    assert party.ask({"id": 7, "cmd": "ping"}) == {"id": 7, "ok": True, "result": {"pong": True}}
    assert party.ask({"id": "a", "cmd": "echo", "args": {"text": "ab", "times": 2}})["result"] == {"text": "abab"}
    reply = party.ask({"id": 3, "cmd": "refuse", "args": {"nick": "zed"}})
    assert reply == {"id": 3, "ok": False, "error": "zed is not online", "code": "not-online"}


@pytest.mark.parametrize("request_, code, culprit", [
    ({"id": 1, "cmd": "echo"}, "bad-request", "'text'"),
    ({"id": 1, "cmd": "echo", "args": {"text": 5}}, "bad-request", "'text'"),
    ({"id": 1, "cmd": "echo", "args": {"text": "x", "times": True}}, "bad-request", "'times'"),
    ({"id": 1, "cmd": "echo", "args": {"text": "x", "loud": 1}}, "bad-request", "'loud'"),
    ({"id": 1, "cmd": "nope"}, "unknown-command", "'nope'"),
    ({"id": 1, "cmd": "set", "args": {"name": "nope", "value": 1}}, "unknown-setting", "'nope'"),
    ({"id": 1, "cmd": "set", "args": {"name": "slots", "value": 1}}, "unsupported", "'slots'"),
    ({"id": 1, "cmd": "set", "args": {"name": "active", "value": "yes"}}, "bad-value", "'active'"),
    ({"id": 1, "cmd": "set", "args": {"name": "share_size", "value": -1}}, "bad-value", "'share_size'"),
])
def test_bad_requests_name_the_culprit(party, request_, code, culprit):
    reply = party.ask(request_)
    assert reply["ok"] is False and reply["code"] == code and culprit in reply["error"], reply
    assert party.ask({"id": 2, "cmd": "ping"})["ok"] is True     # and the party goes on


def test_settings_store(party):
    assert party.ask({"id": 1, "cmd": "set", "args": {"name": "colour", "value": "blue"}})["ok"]
    assert party.ask({"id": 2, "cmd": "get", "args": {"name": "colour"}})["result"]["value"] == "blue"
    names = [s["name"] for s in party.ask({"id": 3, "cmd": "settings"})["result"]["settings"]]
    assert {"nick", "password", "description", "email", "share_size", "active", "colour"} <= set(names)
    assert "slots" not in names


def test_framing(party):
    for raw in (b"not json\n", b"[1]\n", b'{"id": [1], "cmd": "ping"}\n', b'{"id": 1}\n'):
        party.send(raw)
        reply = party.line()
        assert reply["ok"] is False and reply["code"] == "bad-request", (raw, reply)
        assert reply["id"] in (None, 1)
    # an overlong line: one error, then the next line is read intact
    party.send(b'{"id": 1, "cmd": "echo", "args": {"text": "' + b"x" * (1 << 20) + b'"}}\n')
    assert party.line() == {"id": None, "ok": False, "code": "bad-request",
                            "error": "request line longer than 1048576 bytes"}
    party.send(b"\n\r\n" + b'{"id": 9, "cmd": "ping"}\r\n')        # empty lines ignored, \r dropped
    assert party.line()["id"] == 9
    # a line of exactly 1 MiB is fine
    body = b'{"id": 10, "cmd": "echo", "args": {"text": "'
    pad = (1 << 20) - len(body) - 3
    party.send(body + b"y" * pad + b'"}}\n')
    assert len(party.line()["result"]["text"]) == pad
    # the last request cut off by EOF is still answered, then the party exits 0
    party.send(b'{"id": 11, "cmd": "ping"}')
    party.proc.stdin.close()
    assert party.line()["id"] == 11
    assert party.proc.wait(timeout=10) == 0
    assert "on_stop ran" in party.log.read_text()


def test_user_events(party):
    for nick, share in (("bob", 0), ("bob", 0), ("bob", 5), ("alice", 1)):
        party.send(json.dumps({"id": 1, "cmd": "join", "args": {"nick": nick, "share": share}}).encode()
                   + b"\n")
        time.sleep(0.1)      # each request runs in its own thread: keep their order
    events = []
    party.proc.stdin.close()
    for raw in party.proc.stdout:
        events.append(json.loads(raw))
    assert [(e["event"], e["nick"], e["share"]) for e in events if "event" in e] == [
        ("user.join", "bob", 0), ("user.update", "bob", 5), ("user.join", "alice", 1)]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "quit"])
def test_children_never_outlive_the_party(party, how):
    """A daemon started from a request thread (which ends at once) lives on
    while the party does, and dies with it — also when the party is SIGKILLed."""
    pid = party.ask({"id": 1, "cmd": "daemon"})["result"]["pid"]
    time.sleep(0.3)
    assert _alive(pid) and os.getpgid(pid) == pid        # its own process group
    if how == "quit":
        assert party.ask({"id": 2, "cmd": "quit"})["ok"]
    else:
        party.proc.send_signal(getattr(signal, how))
    rc = party.proc.wait(timeout=10)
    assert rc == (-9 if how == "SIGKILL" else 0)
    deadline = time.monotonic() + 5
    while _alive(pid):
        assert time.monotonic() < deadline, f"daemon {pid} outlived the party ({how})"
        time.sleep(0.02)


def test_check_args_and_urls():
    assert check_args("x", {"a": str, "b": opt(float)}, {"a": "s", "b": 1}) == {"a": "s", "b": 1}
    with pytest.raises(PartyError, match="'b' must be a number"):
        check_args("x", {"b": opt(float)}, {"b": "1"})
    assert parse_hub_url("adcs://127.0.0.1:5/?kp=SHA256/AB")["keyprint"] == "SHA256/AB"
    assert parse_hub_url("dchub://h:411")["protocol"] == "nmdc"
    for bad in ("http://h:1", "adc://h", "adc://h:1/?kp=SHA256/X"):
        with pytest.raises(PartyError) as e:
            parse_hub_url(bad)
        assert e.value.code == "bad-url"
    with pytest.raises(ValueError):
        PartyError("made-up", "x")


def test_user_table_sync_emits_leaves():
    seen = []

    class P:
        def emit(self, event, **f):
            seen.append((event, f["nick"]))
    t = UserTable(P())
    t.sync({"a": {}, "b": {}})
    t.sync({"b": {"op": True}})
    t.clear()
    t.sync({"b": {"op": True}})
    assert seen == [("user.join", "a"), ("user.join", "b"), ("user.leave", "a"),
                    ("user.update", "b"), ("user.join", "b")]


def test_the_stop_signal_handler_takes_no_lock(tmp_path):
    """A SIGTERM can land while the main thread holds the inbox's lock (in
    queue.get, between two bytecodes): a handler that took that lock would
    hang the party for good. The handler must return at once, and the stop
    must still reach the main loop."""
    from dctest.partykit import Party as KitParty
    kit = KitParty("toy", argv=["--dir", str(tmp_path)])
    returned = threading.Event()
    with kit._inbox.mutex:
        threading.Thread(target=lambda: (kit._signalled(signal.SIGTERM, None), returned.set()),
                         daemon=True).start()
        assert returned.wait(5), "the signal handler blocked on the inbox's lock"
    assert kit._inbox.get(timeout=5) == ("stop", "SIGTERM")
