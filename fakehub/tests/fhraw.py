"""Raw NMDC and ADC clients for fakehub's process-level tests, plus the `hub`
fixture that starts fakehub through dctest.Process.

The clients speak the wire protocol directly over sockets (no dcclient), so
the tests see exactly what the hub sends: NMDC lock->key as in notes §2.2,
ADC PID/CID through Tiger from librhash (ctypes), base32 from the stdlib.
Every read has a deadline; nothing here sleeps to wait for the hub.
With tls=True a client speaks through Python's ssl module (no certificate
checks: DC certificates are self-signed and checked by keyprint).
"""
from __future__ import annotations

import base64
import ctypes
import json
import os
import hashlib
import pathlib
import socket
import ssl
import time

import pytest

from dctest import Process

TIMEOUT = 5.0 * float(os.environ.get("DCTEST_TIMEOUT_MULTIPLIER", "1"))

# ---- protocol helpers -------------------------------------------------------

_rhash = None


def tiger(data: bytes) -> bytes:
    """Tiger digest (24 bytes, DC byte order) via librhash (RHASH_TIGER=0x10)."""
    global _rhash
    if _rhash is None:
        lib = ctypes.CDLL("librhash.so.0")
        lib.rhash_library_init()
        lib.rhash_msg.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        _rhash = lib
    out = ctypes.create_string_buffer(64)
    if _rhash.rhash_msg(0x10, data, len(data), out) < 0:
        raise RuntimeError("rhash_msg failed")
    return out.raw[:24]


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def b32dec(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def new_identity() -> tuple[str, str]:
    """(PID, CID) in base32 for a fresh random PID."""
    pid = os.urandom(24)
    return b32(pid), b32(tiger(pid))


def lock_to_key(lock: bytes) -> bytes:
    n = len(lock)
    k = [0] * n
    k[0] = lock[0] ^ lock[-1] ^ lock[-2] ^ 5
    for i in range(1, n):
        k[i] = lock[i] ^ lock[i - 1]
    out = b""
    for v in k:
        v = ((v << 4) | (v >> 4)) & 0xFF
        out += b"/%%DCN%03d%%/" % v if v in (0, 5, 36, 96, 124, 126) else bytes([v])
    return out


def keyprint(der: bytes) -> str:
    """KEYP of a DER certificate (notes §1.7)."""
    return "SHA256/" + b32(hashlib.sha256(der).digest())


def tls_context(cert=None, key=None) -> ssl.SSLContext:
    """A client context that accepts any certificate; cert/key: ours to present."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def adc_esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace(" ", "\\s").replace("\n", "\\n")


class HubGone(Exception):
    pass


# ---- connections --------------------------------------------------------------

class Conn:
    """One TCP connection with a line framer for `delim`. Lines are bytes
    without the delimiter. `seen` keeps every line read, in order."""

    delim = b"\n"

    def __init__(self, addr: str, tls: ssl.SSLContext | bool = False):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        if tls:
            try:
                self.sock = (tls_context() if tls is True else tls).wrap_socket(self.sock)
            except BaseException:
                self.sock.close()
                raise
        self.buf = b""
        self.seen: list[bytes] = []
        self.eof = False

    def close(self):
        self.sock.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + self.delim)

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def recv(self, timeout: float = TIMEOUT) -> bytes | None:
        """The next line, or None on timeout or EOF (check .eof)."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(self.delim)
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                self.seen.append(line)
                return line
            if self.eof or not self._fill(deadline):
                return None

    def expect(self, match, timeout: float = TIMEOUT) -> bytes:
        """Read until a line matches (a bytes/str prefix, or a predicate);
        return it. Raises with what was seen on timeout or EOF."""
        if isinstance(match, str):
            match = match.encode()
        pred = match if callable(match) else (lambda l: l.startswith(match))
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while True:
            line = self.recv(max(deadline - time.monotonic(), 0))
            if line is None:
                raise AssertionError(f"no line matching {match!r} (eof={self.eof}); "
                                     f"got {self.seen[start:][-15:]!r}")
            if pred(line):
                return line

    def lines_until_quiet(self, quiet: float = 0.3) -> list[bytes]:
        """Every line that arrives until nothing came for `quiet` seconds."""
        out = []
        while (line := self.recv(quiet)) is not None:
            out.append(line)
        return out

    def wait_closed(self, timeout: float = TIMEOUT) -> list[bytes]:
        """Lines received until the hub closes the connection; fails if it
        does not within the timeout."""
        deadline = time.monotonic() + timeout
        out = []
        while not self.eof:
            line = self.recv(max(deadline - time.monotonic(), 0))
            if line is not None:
                out.append(line)
            elif not self.eof:
                raise AssertionError(f"hub did not close the connection; got {out[-10:]!r}")
        if self.buf:
            out.append(self.buf)
        return out


class Nmdc(Conn):
    delim = b"|"

    def __init__(self, addr: str, tls: ssl.SSLContext | bool = False):
        super().__init__(addr, tls)
        self.nick = None

    def handshake(self, nick: str, supports: str = "NoHello NoGetINFO UserIP2"):
        """$Lock -> $Supports, $Key, $ValidateNick. Returns the hub's next line."""
        lock_line = self.expect(b"$Lock ")
        lock = lock_line[6:].split(b" Pk=")[0]
        if supports is not None:
            self.send(f"$Supports {supports} ")
        self.send(b"$Key " + lock_to_key(lock))
        self.send(f"$ValidateNick {nick}")
        self.nick = nick

    def myinfo(self, desc="test", share=0, mode="A") -> bytes:
        return (f"$MyINFO $ALL {self.nick} {desc}<fhraw V:1,M:{mode},H:1/0/0,S:1>$ $100"
                .encode() + b"\x01" + f"${self.nick}@example.org${share}$".encode())

    def login(self, nick: str, password: str | None = None, supports="NoHello NoGetINFO UserIP2",
              **myinfo):
        self.handshake(nick, supports)
        line = self.expect(lambda l: l in (b"$GetPass", f"$Hello {nick}".encode())
                           or l.startswith(b"$ValidateDenide"))
        if line.startswith(b"$ValidateDenide"):
            raise AssertionError(f"nick {nick} refused: {line!r}")
        if line == b"$GetPass":
            assert password is not None, "hub asked for a password"
            self.send(f"$MyPass {password}")
            self.expect(f"$Hello {nick}")
        self.send("$Version 1,0091")
        self.send("$GetNickList")
        self.send(self.myinfo(**myinfo))
        self.expect(f"$MyINFO $ALL {nick} ")   # own MyINFO: in the list
        return self


class Adc(Conn):
    delim = b"\n"

    def __init__(self, addr: str, tls: ssl.SSLContext | bool = False):
        super().__init__(addr, tls)
        self.sid = None
        self.nick = None
        self.pid, self.cid = new_identity()

    def hello(self):
        self.send("HSUP ADBASE ADTIGR")
        self.expect("ISUP ")
        self.sid = self.expect("ISID ").split()[1].decode()
        self.expect("IINF ")

    def binf(self, nick: str, extra: str = "") -> str:
        return (f"BINF {self.sid} ID{self.cid} PD{self.pid} NI{adc_esc(nick)} SL1 SS0 SF0 "
                f"VEfhraw\\s1 HN1 HR0 HO0 I40.0.0.0 SUTCP4{extra}")

    def login(self, nick: str, password: str | None = None, extra: str = ""):
        self.hello()
        self.nick = nick
        self.send(self.binf(nick, extra))
        if password is not None:
            salt = b32dec(self.expect("IGPA ").split()[1].decode())
            self.send("HPAS " + b32(tiger(password.encode() + salt)))
        self.expect(f"BINF {self.sid} ")   # own BINF last = logged in
        return self


# ---- the hub fixture ---------------------------------------------------------------

class Hub:
    """A running fakehub. Ownership: the `hub` fixture stops it."""

    def __init__(self, proc: Process, ready: dict, tmp: pathlib.Path, trace: pathlib.Path | None):
        self.proc, self.ready, self.tmp, self.trace_path = proc, ready, tmp, trace
        self.nmdc = ready.get("nmdc")
        self.adc = ready.get("adc")
        self.nmdcs = ready.get("nmdcs")
        self.adcs = ready.get("adcs")
        self.keyprint = ready.get("keyprint")
        self.control_path = ready.get("control")
        self.conns: list[Conn] = []
        self.expect_rc = 0    # teardown checks the exit status of SIGTERM (ASan leaks fail it)

    def nmdc_conn(self, tls=False) -> Nmdc:
        """tls: True or an ssl.SSLContext, to the nmdcs port."""
        c = Nmdc(self.nmdcs if tls else self.nmdc, tls)
        self.conns.append(c)
        return c

    def adc_conn(self, tls=False) -> Adc:
        """tls: True or an ssl.SSLContext, to the adcs port."""
        c = Adc(self.adcs if tls else self.adc, tls)
        self.conns.append(c)
        return c

    def control(self):
        from dctest import JsonLines
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.control_path)
        self.conns.append(s)
        return JsonLines(s.makefile("r", encoding="utf-8"), s.makefile("w", encoding="utf-8"),
                         name="control")

    def trace(self) -> list[dict]:
        return [json.loads(l) for l in self.trace_path.read_text().split("\n") if l]

    def log(self) -> str:
        return self.proc.log_tail(400)

    def close_conns(self):
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def hub(tmp_path, bin_path):
    """hub(*args, nmdc=True, adc=True, tls=False, control=False) -> Hub, stopped
    at teardown. tls=True adds --nmdcs/--adcs listeners for the enabled protocols."""
    started: list[Hub] = []

    def start(*args, nmdc=True, adc=True, tls=False, control=False, trace=True, exe=None):
        argv = [exe or bin_path("fakehub")]
        if nmdc:
            argv += ["--nmdc", "127.0.0.1:0"] + (["--nmdcs", "127.0.0.1:0"] if tls else [])
        if adc:
            argv += ["--adc", "127.0.0.1:0"] + (["--adcs", "127.0.0.1:0"] if tls else [])
        n = len(started)
        tr = tmp_path / f"trace{n}.jsonl" if trace else None
        if tr:
            argv += ["--trace", tr]
        if control:
            argv += ["--control", tmp_path / f"control{n}.sock"]
        argv += list(args)
        proc = Process(argv, name="fakehub", log=tmp_path / f"fakehub{n}.log")
        try:
            ready = proc.wait_ready(timeout=TIMEOUT * 2)
        except Exception:
            proc.stop()
            raise
        h = Hub(proc, ready, tmp_path, tr)
        started.append(h)
        return h

    yield start
    bad = []
    for h in started:
        h.close_conns()
        rc = h.proc.stop()
        if h.expect_rc is not None and rc != h.expect_rc:
            bad.append(f"fakehub exited {rc}, expected {h.expect_rc}\n{h.log()}")
    assert not bad, "\n".join(bad)
