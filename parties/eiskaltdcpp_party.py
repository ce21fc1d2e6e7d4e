#!/usr/bin/python3
"""eiskaltdcpp-daemon as a dcharness party (docs/parties.md, profile
harness/profiles/eiskaltdcpp.client).

Built on dctest.partykit (framing, settings, stop path, user events) and
dctest.eiskaltdcpp (the daemon's config, start, JSON-RPC). The daemon is
started on the first request that needs it (share, connect), so that the
settings sent before (nick, description, active, ...) go into the config it
starts with; later changes go through settings.getset. Its private ID comes
from --seed, so two parties started in the same second never share a CID.

The daemon has no push interface: a poll thread (every 50 ms while it runs)
turns hub.getusers/hub.getuserinfo into user.join/update/leave, hub.getchat
into chat and hub.status, its PM logs into pm events, and its -v stdout
("Connection failed [ URL ]", kicks) into hub.disconnected. Lists come from
list.download (done when the queue is empty, real-peers.md quirk 4) and are
parsed here into the contract's tree; downloads use list.downloadfile into a
private staging directory and are moved to target_dir when complete; the
daemon never gives up on a queued file, so a download fails when the file's
queue item names the peer as a dropped source (TTH tree, file not
available), the peer left, or nothing moved for transfer_timeout.
"""
from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
# dctest: in-tree pytest/ next to parties/; installed <prefix>/share/dcharness/parties
# finds <prefix>/lib/python3/dist-packages (already on the path with the prefix /usr).
sys.path[:0] = [str(HERE.parent / "pytest"), str(HERE.parents[2] / "lib" / "python3" / "dist-packages")]
from dctest.partykit import (Party, PartyError, Result, Settings, opt,  # noqa: E402
                             parse_hub_url, scaled, wait_until)
from dctest.eiskaltdcpp import EiskaltDaemon, PeerError, _PM_LINE  # noqa: E402

# harness setting -> DCPlusPlus.xml setting
NATIVE = {"nick": "Nick", "description": "Description", "email": "EMail", "slots": "Slots"}
_CHAT = re.compile(r"^\[[0-9:]+\] <([^>]*)> (.*)$", re.S)
# setting cc_tls (dcclient's) -> the daemon's UseTLS (None: the hub URL's TLS)
CC_TLS = {"auto": None, "always": True, "never": False}
# a line of the daemon's -v output that starts a record (anything else continues one)
_REC_START = re.compile(r"^(\S+://\S+ |Connecting to |Connected to |Connection failed \[|Received signal|JSONRPC:)")


# What the daemon writes into a queue item's `Errors` for a source it removed
# (dcpp's QueueItem source flags; the first two seen here with dcclient's
# up_bad_tthl and up_error), as a contract code and, where dcclient names the
# same fault, dcclient's words first (scenarios match those). Other reasons
# are transfer-failed with the daemon's text.
_DROPPED = {
    "Full tree does not match TTH root": ("transfer-failed", "{nick}'s TTH leaves do not match TTH {tth}"),
    "File not available": ("refused", "{nick} refused the file: File Not Available"),
    "Passive user": ("refused", None),
    "Remote client does not fully support TTH - cannot download": ("refused", None),
}


def _dropped(item: dict, nick: str):
    """The daemon's reason for removing `nick` as a source of a queue item
    (`Errors`: "alice (reason), bob (reason)"), or None while it still is one."""
    for m in re.finditer(r"(?:^|, )(.+?) \((.*?)\)(?=, |$)", item.get("Errors") or ""):
        if m.group(1) == nick:
            return m.group(2)
    return None


def _tree(elem) -> dict:
    """A <Directory>/<File> element as a contract tree node."""
    if elem.tag == "File":
        return {"name": elem.get("Name"), "type": "file", "size": int(elem.get("Size")),
                "tth": elem.get("TTH")}
    return {"name": elem.get("Name", ""), "type": "dir",
            "children": [_tree(e) for e in elem if e.tag in ("Directory", "File")]}


def _find(tree: dict, path: str):
    node = tree
    for part in [p for p in path.split("/") if p]:
        if node["type"] != "dir" or part in (".", ".."):
            return None
        node = next((c for c in node["children"] if c["name"] == part), None)
        if node is None:
            return None
    return node


def _by_tth(tree: dict, tth: str, prefix=""):
    for c in tree.get("children", []):
        path = f"{prefix}/{c['name']}"
        if c["type"] == "file" and c["tth"] == tth:
            return path, c
        if c["type"] == "dir":
            hit = _by_tth(c, tth, path)
            if hit:
                return hit
    return None


class EiskaltParty(Party):
    def __init__(self):
        super().__init__("eiskaltdcpp", version="2.4.2",
                         settings=Settings(native=NATIVE, unsupported=("share_size",),
                                           # dcclient's names: how long a download may make
                                           # no progress, whether client connections use TLS
                                           extra={"transfer_timeout": (float, 30.0),
                                                  "cc_tls": (str, "auto")}))
        self.daemon = None
        self.url = None              # the hub URL as given to hub.add
        self.shares = []
        self.lists = {}              # nick -> (file list path, tree, their share size then)
        self.pm_seen = {}            # PM log path -> entries already reported
        self._chat_idx = 0           # out_lines index up to which chat was reported
        self._out_t = 0.0            # when the last stdout line arrived
        self.out_lines = []          # the daemon's stdout, line by line
        self._out_mark = 0           # out_lines index at the last hub.add
        self._pending_url = None     # the URL a favourite (password) is written for
        self._lock = threading.RLock()   # held while the daemon starts or restarts
        self._state = threading.Lock()   # guards daemon/_dirty for on_set
        self._dirty = set()              # settings set while the daemon was not up
        self._poll_stop = threading.Event()
        for name, spec, fn in (
                ("connect", {"url": str, "nick": opt(str), "password": opt(str)}, self.connect),
                ("disconnect", {}, self.disconnect), ("say", {"text": str}, self.say),
                ("pm", {"nick": str, "text": str}, self.pm), ("users", {}, self.list_users),
                ("share", {"path": str}, self.share),
                ("list", {"nick": str, "path": opt(str)}, self.list),
                ("download", {"nick": str, "path": opt(str), "tth": opt(str), "target_dir": str,
                              "name": opt(str)}, self.download)):
            self.command(name, **spec)(fn)

    # -- the daemon
    def _spawn(self, argv, log, cwd=None):
        proc = self.children.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=cwd)
        threading.Thread(target=self._tee, args=(proc, log), daemon=True).start()
        return proc

    def _tee(self, proc, log):
        with open(log, "ab") as out:
            for raw in proc.stdout:
                out.write(raw)
                out.flush()
                self.out_lines.append(raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r"))
                self._out_t = time.monotonic()

    def _ensure_daemon(self, password=None):
        with self._lock:
            if self.daemon is not None:
                return self.daemon
            s = self.settings
            pid = base64.b32encode(hashlib.sha256(b"dcharness-eiskaltdcpp-%d" % self.seed)
                                   .digest()[:24]).decode().rstrip("=")
            native = {NATIVE[k]: s[k] for k in NATIVE}
            native["RequireTLS"] = 0
            d = EiskaltDaemon(pathlib.Path(self.dir) / "daemon", s["nick"], tls=True,
                              passive=not s["active"], settings=native, private_id=pid,
                              spawn=self._spawn,
                              passwords={self._pending_url: password} if password else None)
            try:
                d.start(timeout=scaled(15))
            except PeerError as e:
                raise PartyError("internal", f"eiskaltdcpp-daemon did not start: {e}")
            with self._state:
                self.daemon, dirty = d, self._dirty
                self._dirty = set()
            for name in dirty:            # set while it started (also those in its config)
                self._apply(name, self.settings[name])
            for path in self.shares:
                self._share_add(path)
            threading.Thread(target=self._poll, daemon=True).start()
            return self.daemon

    def rpc(self, method, **params):
        # On the stop path every call gets a short timeout: the profile
        # gives the whole stop 8 s, the daemon's own stop takes up to 3 of
        # them, and a daemon too busy to answer hub.del at once must not
        # push the party past its grace.
        if self.stopping:
            params.setdefault("timeout", scaled(1.5))
        try:
            return self.daemon.rpc(method, **params)
        except (OSError, PeerError) as e:
            raise PartyError("internal", f"eiskaltdcpp-daemon {method}: {e}")

    def on_start(self):
        # Start the daemon now, in the background (about 0.5 s, more on a
        # loaded machine), so that connect is only the login; settings sent
        # meanwhile are answered at once and applied by RPC once it is up.
        def start():
            try:
                self._ensure_daemon()
            except PartyError as e:
                self.log(str(e))          # the first request that needs it retries
        threading.Thread(target=start, daemon=True).start()

    def on_set(self, name, value):
        if name == "cc_tls" and value not in CC_TLS:
            raise PartyError("bad-value", f"setting 'cc_tls' must be one of {', '.join(CC_TLS)}")
        with self._state:
            if self.daemon is None:       # not started yet, or starting: applied after start
                self._dirty.add(name)
                return
        self._apply(name, value)

    def _apply(self, name, value):
        if name in ("password", "share_size", "transfer_timeout", "cc_tls"):
            return                        # used at connect and download / not supported
        if self.hub and name in ("description", "email", "slots", "active"):
            # settings.getset is not re-announced while connected: no
            # live-settings capability.
            raise PartyError("unsupported", f"eiskaltdcpp-daemon cannot re-announce {name} while connected")
        if name == "active":
            self.rpc("settings.getset", key="IncomingConnections", value="0" if value else "3")
        else:
            self.rpc("settings.getset", key=NATIVE[name], value=str(value))

    # -- the poll thread: the daemon's state as events
    def _poll(self):
        while not self._poll_stop.is_set():
            try:
                self._poll_once()
            except Exception as e:       # the daemon is going away; keep polling until stopped
                self.log(f"poll: {e}")
            self._poll_stop.wait(0.05)

    def _poll_once(self):
        self._poll_pms()
        url = self.url
        if url is None:
            return
        if self.hub is not None:
            self._poll_users(url)
            self._poll_chat(url)
            if any(f"Connection failed [ {url} ]" in l for l in self.out_lines[self._out_mark:]):
                why = next((l for l in reversed(self.out_lines) if "kicked" in l), None)
                self._leave(why or "hub closed the connection")

    def _users_now(self, url) -> dict:
        out = {}
        text = self.rpc("hub.getusers", huburl=url, separator="\n") or ""
        for nick in [n for n in text.split("\n") if n]:
            info = self.rpc("hub.getuserinfo", huburl=url, nick=nick) or {}
            out[nick] = {"description": info.get("Description", "").rstrip(" "),
                         "email": info.get("eMail", ""), "tag": info.get("Tag", ""),
                         "share": int(info.get("Shared") or 0), "op": "op" in info.get("Icon", "")}
        return out

    def _poll_users(self, url):
        with self._lock:
            if self.hub is not None:
                self.users.sync(self._users_now(url))

    def _poll_chat(self, url, force=False):
        """Main chat from the -v stdout: `URL Public: [time] <nick> text`,
        a multi-line text going on in the lines that follow (one write, so
        they come together: a record at the end is complete once stdout was
        quiet for 40 ms). hub.getchat is no source: it drops a line that
        arrives in the same second as the previous read."""
        head, lines = f"{url} Public: ", self.out_lines
        n, j = len(lines), self._chat_idx
        while j < n:
            if not lines[j].startswith(head):
                j += 1
                continue
            k = j + 1
            while k < n and not _REC_START.match(lines[k]):
                k += 1
            if k == n and not force and time.monotonic() - self._out_t < 0.04:
                break                     # the record may still grow
            text = "\n".join([lines[j][len(head):]] + lines[j + 1:k])
            m = _CHAT.match(text)
            if m:
                self.emit("chat", **{"from": m.group(1), "text": m.group(2)})
            else:
                self.emit("hub.status", text=text)
            j = k
        self._chat_idx = j

    def _poll_pms(self):
        logs = pathlib.Path(self.daemon.dir) / "logs" / "PM"
        for path in logs.glob("**/*.log") if logs.exists() else []:
            text = path.read_text(encoding="utf-8", errors="replace")
            entries = []
            for line in text.split("\n")[:-1]:        # whole lines only
                m = _PM_LINE.match(line)
                if m:
                    entries.append([m.group(2), m.group(3)])
                elif entries:
                    entries[-1][1] += "\n" + line
            seen = self.pm_seen.get(path, 0)
            # the last entry may still grow by continuation lines: report it
            # once the file has a later entry or stopped growing
            for nick, body in entries[seen:]:
                if nick != self.settings["nick"]:
                    self.emit("pm", **{"from": nick, "to": self.settings["nick"], "text": body})
            self.pm_seen[path] = len(entries)

    # -- requests
    def connect(self, url, nick=None, password=None):
        hub = parse_hub_url(url)
        if self.hub is not None or self.url is not None:
            raise PartyError("already-connected", f"already connected to {self.url}")
        if nick:
            self._set("nick", nick)
        password = password or self.settings["password"] or None
        self._pending_url = url
        if password:
            with self._lock:              # waits for a start in progress
                running = self.daemon is not None
            if running:                   # its favourites are read at start only
                self._restart(url, password)
        d = self._ensure_daemon(password)
        cc_tls = CC_TLS[self.settings["cc_tls"]]
        if cc_tls is False and hub["tls"]:
            raise PartyError("unsupported", "cc_tls=never on a TLS hub: the adapter switches the daemon's "
                                            "one UseTLS setting per hub URL, on for a TLS hub")
        self.rpc("settings.getset", key="UseTLS", value="1" if hub["tls"] or cc_tls else "0")
        self._out_mark = self._chat_idx = len(self.out_lines)
        self.url = url
        me = self.settings["nick"]
        self.log(f"hub.add {url}: {self.rpc('hub.add', huburl=url, enc='')!r}")
        deadline = time.monotonic() + scaled(15)
        while me not in (self.rpc("hub.getusers", huburl=url, separator="\n") or "").split("\n"):
            failed = any(f"Connection failed [ {url} ]" in l for l in self.out_lines[self._out_mark:])
            if failed or time.monotonic() > deadline:
                chat = " / ".join(l for l in (self.rpc("hub.getchat", huburl=url, separator="\x1e")
                                              or "").split("\x1e") if l)
                self.rpc("hub.del", huburl=url)
                self.url = None
                said = "\n".join(self.out_lines[self._out_mark:])
                low = (chat + "\n" + said).lower()
                if "keyprint mismatch" in said.lower():
                    code, chat = "keyprint-mismatch", chat or said
                elif "password" in low:
                    code = "bad-password" if password else "password-required"
                elif "taken" in low or "in use" in low:
                    code = "nick-taken"
                elif failed and password:
                    # NMDC $BadPass leaves no text in the daemon's chat or
                    # output: a close after we sent a password is read as one.
                    code = "bad-password"
                else:
                    code = "connect-failed" if failed else "timeout"
                # the words dcclient uses for the same refusal, then the daemon's
                what = {"keyprint-mismatch": "hub keyprint mismatch",
                        "bad-password": f"bad password for {me!r}",
                        "password-required": f"hub requires a password for {me!r}",
                        "nick-taken": f"nick {me!r} refused by the hub (taken)",
                        "connect-failed": f"cannot connect to {url}",
                        "timeout": "login timed out"}[code]
                raise PartyError(code, f"{what}: login to {url} as {me!r} failed: "
                                       f"{chat or 'no hub message'} (daemon log: {d.log_path})")
            time.sleep(0.02)
        with self._lock:
            self.users.sync(self._users_now(url))
            info = {"url": url, "protocol": hub["protocol"], "nick": me, "tls": hub["tls"]}
            self.hub = info
        return Result(info, then=lambda: self.emit("hub.connected", **info))

    def _restart(self, url, password):
        """Favourite hubs (the only place for a password) are read at start."""
        with self._lock:
            self._poll_stop.set()
            self.daemon.stop()
            self.daemon = None  # (under _lock: no start runs)
            self._poll_stop = threading.Event()

    def _leave(self, reason, logged_in=True):
        if self.url and self.hub is not None:
            self._poll_chat(self.url, force=True)        # the hub's last words
        url, self.url = self.url, None
        self.lists.clear()
        if url:
            try:
                self.rpc("hub.del", huburl=url)
            except PartyError:
                pass
        with self._lock:
            if self.hub is not None:
                self.hub_disconnected(reason, logged_in)

    def disconnect(self):
        if self.url is None:
            raise PartyError("not-connected", "not connected to a hub")
        self._leave("disconnected on request")
        return {}

    def say(self, text):
        self.require_hub()
        if not text or self.rpc("hub.say", huburl=self.url, message=text) != 0:
            raise PartyError("bad-request" if not text else "not-connected", "say: empty text or not connected")
        return {}

    def pm(self, nick, text):
        self.require_hub()
        if not text:
            raise PartyError("bad-request", "pm: empty text")
        if nick not in self.users or self.rpc("hub.pm", huburl=self.url, nick=nick, message=text) != 0:
            raise PartyError("not-online", f"{nick} is not online")
        return {}

    def list_users(self):
        self._poll_users(self.url) if self.hub else None
        return {"users": self.users.list()}

    def share(self, path):
        path = os.path.abspath(path)
        if not os.path.isdir(path):
            raise PartyError("no-such-dir", f"{path} is not a directory")
        self.shares.append(path)
        if self.daemon is None:
            self._ensure_daemon()        # shares self.shares at start
        else:
            self._share_add(path)
        threading.Thread(target=self._hashed, daemon=True).start()
        return {"path": path}

    def _share_add(self, path):
        if self.rpc("share.add", directory=path + "/", virtname=os.path.basename(path)) != 0:
            raise PartyError("internal", f"share.add {path} refused by the daemon")

    def _hashed(self):
        try:
            self.daemon.wait_hashed(timeout=scaled(120))
        except PeerError as e:
            return self.log(str(e))
        files = sum(len(fs) for p in self.shares for _, _, fs in os.walk(p))
        size = sum(os.path.getsize(os.path.join(r, f)) for p in self.shares
                   for r, _, fs in os.walk(p) for f in fs)
        self.emit("share.done", files=files, files_hashed=files, bytes=size, bytes_hashed=size)

    def _online(self, nick):
        self.require_hub()
        if nick not in self.users:
            raise PartyError("not-online", f"{nick} is not online")

    def _fetch_list(self, nick):
        self._online(nick)
        try:
            xml = self.daemon.download_filelist(self.url, nick, timeout=scaled(30))
        except PeerError as e:
            raise PartyError("transfer-failed", str(e))
        name = sorted((self.daemon.cfg / "FileLists").glob(f"{nick}.*.xml.bz2"),
                      key=lambda p: p.stat().st_mtime)[-1]
        tree = _tree(ET.fromstring(xml))
        tree["name"] = ""
        self.lists[nick] = (name, tree, self.users.users[nick].get("share"))
        self.emit("transfer.done", nick=nick, list=True, path="", tth="", file=str(name),
                  size=name.stat().st_size)
        return name, tree

    def list(self, nick, path=None):
        # The daemon opens a new client connection to a peer only 60 s after
        # the last one closed (real-peers.md, quirk 5): a list fetched in this
        # hub session is reused while the peer's share size is unchanged.
        self._online(nick)
        cached = self.lists.get(nick)
        if cached and cached[2] == self.users.users[nick].get("share"):
            tree = cached[1]
        else:
            _, tree = self._fetch_list(nick)
        node = _find(tree, path or "")
        if node is None:
            raise PartyError("no-such-path", f"no such path in {nick}'s list: {path}")
        return {"nick": nick, "path": path or "", "tree": node}

    def download(self, nick, target_dir, path=None, tth=None, name=None):
        if (path is None) == (tth is None):
            raise PartyError("bad-request", "download: give exactly one of 'path' and 'tth'")
        if not os.path.isdir(target_dir):
            raise PartyError("no-such-dir", f"target_dir {target_dir} does not exist")
        self._online(nick)
        flist, tree = (self.lists.get(nick) or self._fetch_list(nick))[:2]
        if tth is not None:
            hit = _by_tth(tree, tth)
            if hit is None:
                raise PartyError("no-such-path", f"no file with TTH {tth} in {nick}'s list")
            path, node = hit
        else:
            node = _find(tree, path)
            if node is None:
                raise PartyError("no-such-path", f"no such path in {nick}'s list: {path}")
            if node["type"] != "file":
                raise PartyError("not-a-file", f"{path} is not a file")
        stage = pathlib.Path(self.dir) / "staging" / f"{time.monotonic_ns()}"
        stage.mkdir(parents=True)
        self.rpc("list.open", filelist=flist.name)
        target = "\\".join(p for p in path.split("/") if p)
        wait_until(lambda: self.rpc("list.downloadfile", filelist=flist.name, target=target,
                                    downloadto=f"{stage}/") == 0, 10, "list.downloadfile refused",
                   code="transfer-failed")
        got = stage / node["name"]
        t0 = time.monotonic()
        try:
            self._wait_file(nick, path, node, got)
        except PartyError as e:
            # no retry behind the caller's back, and a later list waits for an empty queue
            self.rpc("queue.remove", target=str(got))
            if str(got) in (self.rpc("queue.list") or {}):
                self.log(f"queue.remove {got} left it in the queue")
            shutil.rmtree(stage, ignore_errors=True)
            self.emit("transfer.failed", nick=nick, list=False, path=path, tth=node["tth"],
                      size=node["size"], error=str(e))
            raise
        final = pathlib.Path(target_dir) / (name or node["name"])
        shutil.move(str(got), str(final))
        stage.rmdir()
        seconds = time.monotonic() - t0
        done = {"nick": nick, "list": False, "path": path, "tth": node["tth"], "file": str(final),
                "size": node["size"], "received": node["size"], "seconds": seconds,
                "tls": bool(self.hub and self.hub["tls"])}
        self.emit("transfer.done", **done)
        return done

    def _wait_file(self, nick, path, node, got):
        """Until the daemon has the file whole (its full size, its queue item
        gone: the daemon checks the TTH tree itself). It never gives up on a
        queued file by itself, so this fails when its queue item shows that
        it dropped the peer as a source (`Errors`), when the peer left the
        hub, and when nothing moved for transfer_timeout: neither the item's
        `Downloaded` nor the temp file (a source that refused with no slots,
        or one that closed or stalled: the daemon opens a new connection to it
        only a minute or more later, real-peers.md quirk 5)."""
        last, moved, t_moved, data = None, None, time.monotonic(), False
        while True:
            item = (self.rpc("queue.list") or {}).get(str(got))
            if item is None and got.exists() and got.stat().st_size == node["size"]:
                return
            if item != last:
                self.log(f"queue item {got.name}: {item}")
                last = item
            if item is not None:
                why = _dropped(item, nick)
                if why is not None:
                    code, ours = _DROPPED.get(why, ("transfer-failed", None))
                    raise PartyError(code, (f"{ours.format(nick=nick, tth=node['tth'])}: " if ours else "")
                                     + f"eiskaltdcpp dropped {nick} as a source of {path}: {why}")
            elif not got.exists():
                raise PartyError("transfer-failed", f"eiskaltdcpp removed {path} from its queue "
                                                    f"without the file (daemon log: {self.daemon.log_path})")
            if self.hub is None or nick not in self.users:
                raise PartyError("transfer-failed", f"{nick} left the hub before {path} was complete")
            now = (item or {}).get("Downloaded Sort"), self._temp_size(node["tth"])
            if now != moved:
                data, moved, t_moved = moved is not None, now, time.monotonic()
            elif time.monotonic() - t_moved > self.settings["transfer_timeout"]:
                t = self.settings["transfer_timeout"]
                what = (f"transfer stalled (no data within transfer_timeout): nothing more from {nick} "
                        f"for {t:g} s" if data else
                        f"no data from {nick} within transfer_timeout ({t:g} s; a refusal such as "
                        "no slots leaves no trace in the daemon's queue)")
                raise PartyError("transfer-failed", f"{what}: eiskaltdcpp still lists {nick} as a source "
                                                    f"of {path} ({(item or {}).get('Status')}, errors: "
                                                    f"{(item or {}).get('Errors')}) and would retry it only a minute or more later")
            time.sleep(0.05)

    def _temp_size(self, tth):
        """Bytes the daemon holds of the file in its temp dir (blocks
        written: the file may be allocated at full size at once)."""
        total = 0
        for p in (pathlib.Path(self.daemon.dir) / "incomplete").glob(f"*{tth}*"):
            try:
                total += p.stat().st_blocks * 512
            except OSError:
                pass
        return total

    def on_stop(self):
        if self.url:
            self._leave("disconnected on request")
        self._poll_stop.set()
        if self.daemon is not None:
            self.daemon.stop(grace=scaled(3))


if __name__ == "__main__":
    EiskaltParty().run()
