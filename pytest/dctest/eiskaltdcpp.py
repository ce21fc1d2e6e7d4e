"""eiskaltdcpp-daemon driver: config, start, JSON-RPC, waits.

The eiskaltdcpp party (parties/eiskaltdcpp_party.py, docs/parties.md) is
built on this class; tests that poke the daemon below the party contract
(its settings file, raw TLS) use it directly. It writes a private config
into a temp dir, starts the daemon on 127.0.0.1 in its own process group
(dies with its starter: PR_SET_PDEATHSIG), waits until it really answers
(JSON-RPC reporting our own private ID, and its transfer port listening), so
a foreign listener is never mistaken for ours; stop() sends SIGTERM,
SIGKILLs after a grace period, and reaps. The daemon cannot bind port 0 and
report it, so ports come from free_port() and a start that hits a taken port
is retried on new ones.

Observed here (eiskaltdcpp-daemon 2.4.2) and handled below:
- The daemon never writes DCPlusPlus.xml itself: on SIGTERM, SIGINT or
  daemon.stop its JSON-RPC thread crashes (SIGSEGV in ns_mgr_poll) about 1 s
  later, before settings are saved. So the file written here (the format of
  dcpp SettingsManager::save) is the only config, and exit status -11 after
  a stop is normal for it.
- Its "CID" setting is the private ID (ADC PID); others see Tiger(PID).
- Right after start hash.status may say "pause" with files queued, or idle
  before the share was scanned; wait_hashed() also waits for a share size.
- There is no RPC to read received PMs. They are read from its PM log,
  which it writes at once; every line is `[date time] <sender> text`, and a
  conversation can be split over files named after either party, so the
  sender is taken from the line, never from the file name. (The -v stdout
  has the same lines, but a multi-line PM there has no end marker.)

Only the standard library is used (urllib for JSON-RPC).
"""
from __future__ import annotations

import base64
import bz2
import glob
import json
import os
import pathlib
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

from .procs import ProcessError, _die_with_parent, free_port, stop_group

LOCALHOST = "127.0.0.1"


class PeerError(ProcessError):
    pass


class _PortClash(Exception):
    """A port we picked was taken by someone else between pick and bind."""


def _spawn(argv: Sequence[object], log: pathlib.Path, cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen:
    """Start argv in its own session with stdout and stderr appended to log."""
    with open(log, "ab") as out:
        return subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True, preexec_fn=_die_with_parent)


def _stop(proc: subprocess.Popen | None, grace: float) -> int | None:
    """SIGTERM the process group, SIGKILL it after `grace` s, reap."""
    return None if proc is None else stop_group(proc, grace)


def random_cid() -> str:
    """39 base32 characters (192 random bits): a CID or PID."""
    return base64.b32encode(secrets.token_bytes(24)).decode().rstrip("=")


def _tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _listening_ports(pid: int) -> set[int]:
    """TCP ports (IPv4) on which process `pid` has a listening socket."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    with open("/proc/net/tcp") as f:
        for row in f.read().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:      # 0A = LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


_PM_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] <([^>]*)> ?(.*)$")


class EiskaltDaemon:
    """One eiskaltdcpp-daemon with its own config dir under `workdir`.

    nick: its nick. share: a directory to share (as virtual "share").
    tls: UseTLS (RequireTLS stays 0 so plain transfers work). passive:
    IncomingConnections=3 instead of active. settings: more DCPlusPlus.xml
    settings ({name: str or int}), which override the defaults below.
    passwords: {hub url: password} for registered nicks, written as
    favourite hubs (Favorites.xml), which hub.add then logs in with.
    private_id: the "CID" setting (default: random). spawn(argv, log, cwd)
    -> Popen replaces how the daemon is started (the party starts it
    through partykit.Children and reads its stdout)."""

    binary = "eiskaltdcpp-daemon"

    def __init__(self, workdir: str | os.PathLike[str], nick: str, *,
                 share: str | os.PathLike[str] | None = None, tls: bool = False,
                 passive: bool = False, settings: dict | None = None,
                 passwords: dict | None = None, private_id: str | None = None,
                 spawn: Callable[..., subprocess.Popen] | None = None) -> None:
        self.dir = pathlib.Path(workdir).resolve()
        self.cfg = self.dir / "config"
        self.nick, self.share, self.tls, self.passive = nick, share, tls, passive
        # The "CID" setting is DC++'s private ID (ADC PID); the CID that others
        # see is Tiger(PID), which the standard library cannot compute.
        self.private_id = private_id or random_cid()
        self._spawn = spawn or _spawn
        self.settings_override = dict(settings or {})
        self.passwords = dict(passwords or {})
        self.log_path = self.dir / "daemon.log"
        self.download_dir = self.dir / "downloads"
        self.proc: subprocess.Popen | None = None
        self.rpc_port = 0
        self.ports: dict = {}
        self.ready_seconds: float | None = None

    def settings(self) -> dict:
        d = self.dir
        s = {"Nick": self.nick, "CID": self.private_id,
             "BindAddress": LOCALHOST, "ExternalIp": LOCALHOST, "NoIpOverride": 1,
             "IncomingConnections": 3 if self.passive else 0,
             "InPort": self.ports["InPort"], "UDPPort": self.ports["UDPPort"],
             "TLSPort": self.ports["TLSPort"],
             "UseDHT": 0, "UseTLS": int(self.tls), "RequireTLS": 0,
             "HashingStartDelay": 0, "AutoRefreshTime": 0, "GetUserCountry": 0,
             "LogPrivateChat": 1,
             "DownloadDirectory": f"{self.download_dir}/",
             "TempDownloadDirectory": f"{d / 'incomplete'}/",
             "LogDirectory": f"{d / 'logs'}/"}
        s.update(self.settings_override)
        return s

    def _write_config(self) -> None:
        self.cfg.mkdir(parents=True, exist_ok=True)
        rows = []
        for key, value in self.settings().items():
            kind = "int" if isinstance(value, int) else "string"
            rows.append(f'\t\t<{key} type="{kind}">{escape(str(value))}</{key}>')
        share = ""
        if self.share is not None:
            path = str(pathlib.Path(self.share).resolve()) + "/"
            share = (f'\t<Share>\n\t\t<Directory Virtual="share">{escape(path)}'
                     f'</Directory>\n\t</Share>\n')
        (self.cfg / "DCPlusPlus.xml").write_text(
            '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<DCPlusPlus>\n'
            '\t<Settings>\n' + "\n".join(rows) + '\n\t</Settings>\n' + share
            + '</DCPlusPlus>\n', encoding="utf-8")
        hubs = "".join(
            f'\t\t<Hub Name={quoteattr(url)} Connect="0" Description="" '
            f'Nick={quoteattr(self.nick)} Password={quoteattr(pw)} Server={quoteattr(url)} '
            f'UserDescription="" Encoding=""/>\n' for url, pw in self.passwords.items())
        (self.cfg / "Favorites.xml").write_text(
            '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<Favorites>\n'
            f'\t<Hubs>\n{hubs}\t</Hubs>\n</Favorites>\n', encoding="utf-8")

    def start(self, timeout: float = 15.0, attempts: int = 5) -> "EiskaltDaemon":
        self.dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        for _ in range(attempts):
            ports: set[int] = set()
            while len(ports) < 4:       # four distinct ports
                ports.add(free_port())
            self.rpc_port, *rest = ports
            self.ports = dict(zip(("InPort", "UDPPort", "TLSPort"), rest))
            self._write_config()
            self.proc = self._spawn([self.binary, "-v", "-c", f"{self.cfg}/",
                                "-P", self.rpc_port, "-L", LOCALHOST],
                               self.log_path, cwd=self.dir)
            try:
                self._wait_rpc(time.monotonic() + timeout)
                self.ready_seconds = time.monotonic() - t0
                return self
            except _PortClash:
                _stop(self.proc, 2.0)
                self.proc = None
            except BaseException:
                self.stop()
                raise
        raise PeerError(f"{self.nick}: no free ports after {attempts} attempts")

    def _wait_rpc(self, deadline: float) -> None:
        """Ready = JSON-RPC answers with our private ID (not a foreign daemon)."""
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise PeerError(f"{self.nick}: daemon exited with {self.proc.returncode}\n"
                                f"{_tail(self.log_path)}")
            try:
                cid = self.rpc("settings.getset", key="CID", timeout=3.0)["value"]
            except (ConnectionRefusedError, ConnectionResetError):
                if time.monotonic() > deadline:
                    raise PeerError(f"{self.nick}: no JSON-RPC on {self.rpc_port}\n"
                                    f"{_tail(self.log_path)}")
                time.sleep(0.01)
                continue
            except (OSError, ValueError, KeyError, TypeError, PeerError):
                raise _PortClash()       # someone else answers on that port
            if cid != self.private_id:
                raise _PortClash()
            break
        # Active mode: its transfer ports must be ours too. It opens them
        # around the time RPC comes up and only logs a warning on failure.
        want = set()
        if not self.passive:
            want.add(int(self.settings()["InPort"]))
            if self.tls:
                want.add(int(self.settings()["TLSPort"]))
        while not want <= _listening_ports(self.proc.pid):
            if "Unable to open port" in _tail(self.log_path, 200):
                raise _PortClash()
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: not listening on {sorted(want)}\n"
                                f"{_tail(self.log_path)}")
            time.sleep(0.01)

    # -- JSON-RPC -----------------------------------------------------------

    def rpc(self, method: str, timeout: float = 5.0, **params: Any) -> Any:
        """One JSON-RPC 2.0 call; returns `result`, raises PeerError on `error`."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params}).encode()
        req = urllib.request.Request(f"http://{LOCALHOST}:{self.rpc_port}/", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                answer = json.loads(resp.read())
        except urllib.error.URLError as e:
            if isinstance(e.reason, OSError):
                raise e.reason from None
            raise
        if "error" in answer:
            raise PeerError(f"{self.nick}: {method} {params}: {answer['error']}")
        return answer.get("result")

    def hub_add(self, url: str, enc: str = "") -> Any:
        return self.rpc("hub.add", huburl=url, enc=enc)

    def hub_del(self, url: str) -> Any:
        return self.rpc("hub.del", huburl=url)

    def users(self, url: str) -> list[str]:
        """Nicks this daemon sees on the hub (its own included once logged in)."""
        text = self.rpc("hub.getusers", huburl=url, separator="\n") or ""
        return [n for n in text.split("\n") if n]

    def user_info(self, url: str, nick: str) -> dict:
        return self.rpc("hub.getuserinfo", huburl=url, nick=nick)

    def wait_users(self, url: str, nicks: Iterable[str], timeout: float = 10.0) -> list[str]:
        """Poll hub.getusers until every nick in `nicks` is listed (the
        daemon has no push interface for this)."""
        want, deadline = set(nicks), time.monotonic() + timeout
        while True:
            seen = self.users(url)
            if want <= set(seen):
                return seen
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: sees {sorted(seen)} on {url}, not "
                                f"{sorted(want - set(seen))} after {timeout}s\n"
                                f"{_tail(self.log_path)}")
            time.sleep(0.01)

    def wait_gone(self, url: str, nick: str, timeout: float = 10.0) -> None:
        """Poll hub.getusers until `nick` is no longer listed."""
        deadline = time.monotonic() + timeout
        while nick in self.users(url):
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: {nick} still listed on {url} after {timeout}s")
            time.sleep(0.01)

    def login(self, url: str, timeout: float = 10.0, enc: str = "") -> list[str]:
        """hub.add, then wait until the daemon lists itself on that hub."""
        self.hub_add(url, enc)
        return self.wait_users(url, [self.nick], timeout)

    def pm(self, url: str, nick: str, text: str) -> None:
        if self.rpc("hub.pm", huburl=url, nick=nick, message=text) != 0:
            raise PeerError(f"{self.nick}: hub.pm to {nick!r} on {url} refused")

    def say(self, url: str, text: str) -> None:
        if self.rpc("hub.say", huburl=url, message=text) != 0:
            raise PeerError(f"{self.nick}: hub.say on {url} refused (not connected)")

    def chat(self, url: str) -> list[str]:
        text = self.rpc("hub.getchat", huburl=url, separator="\n") or ""
        return [line for line in text.split("\n") if line]

    def wait_chat(self, url: str, text: str, timeout: float = 10.0) -> str:
        """Poll hub.getchat until a line containing `text` (hub messages such
        as "Password is wrong" land there too); returns that line."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.chat(url)
            for line in lines:
                if text in line:
                    return line
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: no chat line with {text!r} on {url} "
                                f"in {timeout}s; chat: {lines[-10:]}")
            time.sleep(0.01)

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Poll its -v output (the process log) for a line containing `text`,
        e.g. "Connection failed [ URL ]" after a hub closed on it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: no {text!r} in its output in {timeout}s\n"
                                f"{_tail(self.log_path)}")
            time.sleep(0.01)

    def wait_hashed(self, timeout: float = 30.0) -> dict:
        """Poll hash.status until hashing is over and the share counts the
        files. Right after start it can report "pause" with files queued
        (hashing waits for its first 1 s timer), or idle before the share
        was scanned: so a share holding bytes must also show a size."""
        need_size = self.share is not None and any(
            p.is_file() and p.stat().st_size for p in pathlib.Path(self.share).rglob("*"))
        deadline = time.monotonic() + timeout
        while True:
            status = self.rpc("hash.status")
            idle = (status.get("status") == "idle" and status.get("filesleft") == 0
                    and status.get("bytesleft") == 0)
            if idle and need_size:
                listing = self.rpc("share.list", separator="\t") or ""
                idle = any(row.split("\t")[2:3] not in (["0 B"], [])
                           for row in listing.split("\n") if row)
            if idle:
                return status
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: still hashing after {timeout}s: {status}")
            time.sleep(0.02)

    def download_filelist(self, url: str, nick: str, timeout: float = 30.0) -> str:
        """list.download from `nick`, wait until the queue is empty (the file
        appears before the download completes) and return the list's XML."""
        lists = self.cfg / "FileLists"
        before = set(lists.glob("*")) if lists.exists() else set()
        if self.rpc("list.download", huburl=url, nick=nick) != 0:
            raise PeerError(f"{self.nick}: list.download from {nick!r} on {url} refused")
        deadline = time.monotonic() + timeout
        while True:
            new = [p for p in lists.glob(f"{nick}.*.xml.bz2") if p not in before] \
                if lists.exists() else []
            if new and not self.rpc("queue.list"):
                return bz2.decompress(new[0].read_bytes()).decode("utf-8")
            if time.monotonic() > deadline:
                raise PeerError(f"{self.nick}: no file list from {nick} in {timeout}s; "
                                f"queue {self.rpc('queue.list')}\n{_tail(self.log_path)}")
            time.sleep(0.02)

    # -- private messages ---------------------------------------------------

    def pm_log(self) -> list[tuple[str, str]]:
        """Every PM line in its PM logs, as (sender nick, text), in time order.
        Lines without the `[time] <nick>` head continue the previous one."""
        entries = []
        for path in glob.glob(str(self.dir / "logs" / "PM" / "**" / "*.log"), recursive=True):
            with open(path, encoding="utf-8", errors="replace") as f:
                # split on \n only: a PM may hold U+2028, U+0085 and the like
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            current = None
            for line in lines:
                m = _PM_LINE.match(line)
                if m:
                    current = [m.group(1), m.group(2), m.group(3)]
                    entries.append(current)
                elif current is not None:
                    current[2] += "\n" + line
        entries.sort(key=lambda e: e[0])
        return [(nick, text) for _, nick, text in entries]

    def received_pms(self, sender: str | None = None) -> list[tuple[str, str]]:
        """PMs others sent to this daemon (its own lines filtered out)."""
        return [(n, t) for n, t in self.pm_log()
                if n != self.nick and (sender is None or n == sender)]

    def wait_pm(self, sender: str, text: str, timeout: float = 10.0) -> float:
        """Wait until `sender`'s PM `text` is in the log; returns seconds waited."""
        t0 = time.monotonic()
        while (sender, text) not in self.received_pms(sender):
            if time.monotonic() - t0 > timeout:
                raise PeerError(f"{self.nick}: no PM {text!r} from {sender} in {timeout}s; "
                                f"got {self.received_pms()}\n{_tail(self.log_path)}")
            time.sleep(0.01)
        return time.monotonic() - t0

    # -- teardown -----------------------------------------------------------

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM (the daemon then takes ~1 s and usually dies of SIGSEGV in
        its RPC thread: -11 is its normal stop), SIGKILL after grace, reap."""
        rc, self.proc = _stop(self.proc, grace), None
        return rc

    def __enter__(self) -> "EiskaltDaemon":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
