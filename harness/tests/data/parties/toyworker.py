#!/usr/bin/python3
"""A third kind of party: toy_nmdc_worker.py (a worker with its own command
and event names) wrapped with the party kit. This is the worked example of
docs/parties.md: the kit does framing, settings, the ready line, the stop
path and the user events; this file only maps requests and notifications.
Capabilities: core only (NMDC, no shares, no passwords).

TOYWORKER_BREAK (comma-separated, for check-party's tests; unset in the
shipped profile) makes it get things wrong on purpose: pm-text (a received
PM keeps its first line only), hub-nick (hub.connected without nick),
pm-code (pm to an offline nick is `internal`), say-hang (say never
replies), op-type (users entries carry "op" as a string), ghost-leave (a
user.leave of a nick never joined after each real one)."""
import itertools
import json
import os
import pathlib
import subprocess
import sys
import threading

ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "pytest"))
from dctest.partykit import Party, PartyError, Result, Settings, opt, parse_hub_url  # noqa: E402

BREAK = set(filter(None, os.environ.get("TOYWORKER_BREAK", "").split(",")))
# What its profile marks unsupported, the party refuses so (check-party checks it).
party = Party("toyworker", version="1",
              settings=Settings(unsupported=("description", "email", "share_size", "slots", "active")))
worker = party.children.spawn([sys.executable, str(pathlib.Path(__file__).with_name("toy_nmdc_worker.py"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
pending, seqs, lock = {}, itertools.count(1), threading.Lock()


def call(op, **args):
    """One worker request; its error text becomes a PartyError."""
    seq, box = next(seqs), [threading.Event()]
    pending[seq] = box
    with lock:
        worker.stdin.write(json.dumps({"seq": seq, "op": op, **args}) + "\n")
        worker.stdin.flush()
    if not box[0].wait(15):
        raise PartyError("timeout", f"worker did not answer {op}")
    reply = box[1]
    if reply["status"] != "ok":
        reason = reply["reason"]
        if "no such user" in reason:
            raise PartyError("internal" if "pm-code" in BREAK else "not-online", f"user '{args['target']}' is not online")
        if reason == "nick taken":
            raise PartyError("nick-taken", f"nick '{args['name']}' refused by the hub (taken)")
        raise PartyError("connect-failed" if op == "login" else "internal", reason)
    return reply.get("data")


def notes():
    """Worker output: replies to call(), notifications as contract events."""
    for line in worker.stdout:
        msg = json.loads(line)
        if "seq" in msg:
            box = pending.pop(msg["seq"])
            box.append(msg)
            box[0].set()
        elif msg["note"] == "arrived":
            party.users.put(msg["name"])
        elif msg["note"] == "departed":
            party.users.remove(msg["name"])
            if "ghost-leave" in BREAK:
                party.emit("user.leave", nick="ghost-" + msg["name"])
        elif msg["note"] == "shout":
            party.emit("chat", **{"from": msg["sender"], "text": msg["body"]})
        elif msg["note"] == "privmsg":
            body = msg["body"].split("\n")[0] if "pm-text" in BREAK else msg["body"]
            party.emit("pm", **{"from": msg["sender"], "to": party.settings["nick"], "text": body})
        elif msg["note"] == "closed" and party.hub is not None:
            party.hub_disconnected(msg["why"])


threading.Thread(target=notes, daemon=True).start()


@party.command("connect", url=str, nick=opt(str), password=opt(str))
def connect(url, nick=None, password=None):
    hub = parse_hub_url(url)
    if hub["protocol"] != "nmdc" or hub["tls"] or password:
        raise PartyError("unsupported", "toyworker speaks plain NMDC without passwords only")
    if party.hub is not None:
        raise PartyError("already-connected", "already connected")
    nick = nick or party.settings["nick"]
    party.settings.values["nick"] = nick
    call("login", address=f"{hub['host']}:{hub['port']}", name=nick)
    info = {"url": url, "protocol": "nmdc", "nick": nick}
    party.hub = info
    event = {k: v for k, v in info.items() if k != "nick" or "hub-nick" not in BREAK}
    return Result(info, then=lambda: party.emit("hub.connected", **event))


@party.command("disconnect")
def disconnect():
    party.require_hub()
    call("bye")
    party.hub_disconnected("disconnected on request")


@party.command("say", text=str)
def say(text):
    party.require_hub()
    if "say-hang" in BREAK:
        threading.Event().wait()
    call("shout", body=text)


@party.command("pm", nick=str, text=str)
def pm(nick, text):
    party.require_hub()
    call("privmsg", target=nick, body=text)


@party.command("users")
def users():
    users = party.users.list()
    return {"users": [dict(u, op="no") for u in users] if "op-type" in BREAK else users}


party.on_stop = lambda: party.hub and call("bye")
party.run()
