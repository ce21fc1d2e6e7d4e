#!/usr/bin/python3
"""A tiny NMDC client worker with its own JSON-lines vocabulary — the kind
of worker a binding's test suite has (docs/parties.md, worked example).
It is NOT a party: toyworker.py wraps it with the party kit.

Requests {"seq": N, "op": OP, ...} -> {"seq": N, "status": "ok"|"error", "data"|"reason"}:
  login {address, name}, privmsg {target, body}, shout {body}, who, bye.
Notifications {"note": KIND, ...}: arrived {name}, departed {name},
  shout {sender, body}, privmsg {sender, body}, closed {why}.
NMDC only, no shares, no transfers. Standard library only.
"""
import json
import socket
import sys
import threading

out_lock = threading.Lock()
state = {"sock": None, "name": None, "users": set(), "logged_in": threading.Event(),
         "refused": None}


def say(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def lock2key(lock: bytes) -> bytes:
    key = bytearray(len(lock))
    for i in range(1, len(lock)):
        key[i] = lock[i] ^ lock[i - 1]
    key[0] = lock[0] ^ lock[-1] ^ lock[-2] ^ 5
    out = b""
    for b in key:
        b = ((b << 4) | (b >> 4)) & 0xFF
        out += b"/%%DCN%03d%%/" % b if b in (0, 5, 36, 96, 124, 126) else bytes([b])
    return out


def esc(text):
    return text.replace("&", "&amp;").replace("$", "&#36;").replace("|", "&#124;")


def unesc(text):
    return text.replace("&#36;", "$").replace("&#124;", "|").replace("&amp;", "&")


def send(line):
    state["sock"].sendall((line if isinstance(line, bytes) else line.encode("utf-8")) + b"|")


def reader(sock):
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            say({"note": "closed", "why": "hub closed the connection"})
            return
        buf += chunk
        *cmds, buf = buf.split(b"|")
        for raw in cmds:
            handle(raw.decode("utf-8", "surrogateescape"))


def handle(cmd):
    me = state["name"]
    if cmd.startswith("$Lock "):
        send("$Supports NoGetINFO NoHello ")
        send(b"$Key " + lock2key(cmd.split(" ")[1].encode("latin-1")))
        send(f"$ValidateNick {me}")
    elif cmd == f"$Hello {me}" and not state["logged_in"].is_set():
        send("$Version 1,0091")
        send("$GetNickList")
        send(f"$MyINFO $ALL {me} toy worker<toy V:1,M:P,H:1/0/0,S:1>$ $0\x01$$0$")
    elif cmd.startswith("$MyINFO $ALL "):
        name = cmd.split(" ")[2]
        if name not in state["users"]:
            state["users"].add(name)
            say({"note": "arrived", "name": name})
        if name == me:
            state["logged_in"].set()
    elif cmd.startswith("$Quit "):
        name = cmd[6:]
        if name in state["users"]:
            state["users"].discard(name)
            say({"note": "departed", "name": name})
    elif cmd.startswith("$To: "):
        head, _, body = cmd[5:].partition(" $")
        sender = head.split(" From: ")[1].strip()
        say({"note": "privmsg", "sender": sender, "body": unesc(body.split("> ", 1)[1])})
    elif cmd.startswith("<"):
        sender, _, body = cmd[1:].partition("> ")
        say({"note": "shout", "sender": sender, "body": unesc(body)})
    elif cmd.startswith(("$ValidateDenide", "$BadPass", "$GetPass")):
        state["refused"] = "nick taken" if cmd.startswith("$ValidateDenide") else "password wanted"
        state["logged_in"].set()        # wakes op_login


def op_login(address, name):
    host, port = address.rsplit(":", 1)
    state["name"] = name
    state["sock"] = socket.create_connection((host, int(port)), timeout=10)
    state["sock"].settimeout(None)
    threading.Thread(target=reader, args=(state["sock"],), daemon=True).start()
    if not state["logged_in"].wait(10):
        raise RuntimeError("login timed out")
    if state["refused"]:
        op_bye()
        raise RuntimeError(state["refused"])
    return {"name": name}


def op_privmsg(target, body):
    if target not in state["users"]:
        raise RuntimeError(f"no such user {target}")
    me = state["name"]
    send(f"$To: {target} From: {me} $<{me}> {esc(body)}")


def op_shout(body):
    send(f"<{state['name']}> {esc(body)}")


def op_who():
    return sorted(state["users"])


def op_bye():
    if state["sock"]:
        state["sock"].shutdown(socket.SHUT_RDWR)     # wakes the reader; close() alone would not
        state["sock"].close()
        state["sock"] = None


OPS = {"login": op_login, "privmsg": op_privmsg, "shout": op_shout, "who": op_who, "bye": op_bye}

for line in sys.stdin:
    req = json.loads(line)
    seq, op = req.pop("seq"), OPS[req.pop("op")]
    try:
        say({"seq": seq, "status": "ok", "data": op(**req)})
    except Exception as e:
        say({"seq": seq, "status": "error", "reason": str(e)})
