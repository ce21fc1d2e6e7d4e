#!/usr/bin/python3
"""oddparty.py: a client party that breaks the party contract in one chosen
way (--mode), for the harness's tests of how a run fails on a bad party.

Modes:
  ok        a well-behaved core party without a hub: answers ping, set and
            users, and replies {"ok": false, "code": "not-connected"} to the rest
  noready   never prints its ready line (sleeps)
  die       prints a last word on stderr and exits 3 before its ready line
  nonjson   prints its ready line, then a log line on stdout
  flood     prints its ready line, then events as fast as it can
  badid     answers every request with an id nobody asked for
  deaf      prints its ready line and never reads stdin nor replies
It stops on EOF of stdin or SIGTERM, as the contract says.
"""
import argparse
import json
import os
import signal
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True)
    ap.add_argument("--nick", default="")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.mode == "noready":
        time.sleep(3600)
    if a.mode == "die":
        print("oddparty: giving up before the ready line", file=sys.stderr, flush=True)
        sys.exit(3)
    out({"event": "ready", "pid": os.getpid(), "version": "0", "party": "oddparty"})
    if a.mode == "nonjson":
        print("INFO: this log line belongs on stderr", flush=True)
    if a.mode == "flood":
        line = json.dumps({"event": "chat", "from": "x", "text": "spam"}) + "\n"
        try:
            while True:
                sys.stdout.write(line * 1000)
        except BrokenPipeError:
            sys.exit(0)
    if a.mode == "deaf":
        time.sleep(3600)
    for raw in sys.stdin:
        req = json.loads(raw)
        rid, cmd = req.get("id"), req.get("cmd")
        if a.mode == "badid":
            out({"id": 424242, "ok": True, "result": {}})
        elif cmd == "ping":
            out({"id": rid, "ok": True, "result": {"pong": True}})
        elif cmd == "set":
            out({"id": rid, "ok": True, "result": {}})
        elif cmd == "users":
            out({"id": rid, "ok": True, "result": {"users": []}})
        elif cmd == "quit":
            out({"id": rid, "ok": True, "result": {}})
            return
        else:
            out({"id": rid, "ok": False, "error": "not connected to a hub", "code": "not-connected"})


if __name__ == "__main__":
    main()
