"""A raw-socket peer against dcclient as uploader (NMDC and ADC through
fakehub): requests for paths outside the share ('..', an absolute path, a
symlink escaping the root), unknown TTHs, bad ranges and malformed requests
get the protocol's error and the connection keeps working (a valid request
afterwards is answered byte-exactly); an over-long message closes it."""
import base64
import ctypes
import os
import re
import socket

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sanitize

_rh = ctypes.CDLL("librhash.so.0")
_rh.rhash_library_init()


def _hash(kind: int, data: bytes) -> bytes:
    out = ctypes.create_string_buffer(64)
    _rh.rhash_msg(kind, data, len(data), out)
    return out.raw[:24]


def b32(b: bytes) -> str:
    return base64.b32encode(b).decode().rstrip("=")


class Wire:
    """A socket with a read buffer, split on one delimiter."""

    def __init__(self, sock: socket.socket, delim: bytes):
        self.s, self.delim, self.buf = sock, delim, b""
        self.s.settimeout(10)

    def send(self, data: bytes):
        self.s.sendall(data)

    def msg(self) -> bytes:
        while self.delim not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        m, _, self.buf = self.buf.partition(self.delim)
        return m

    def until(self, prefix: bytes) -> bytes:
        while True:
            m = self.msg()
            if m.startswith(prefix):
                return m

    def raw(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def closed(self) -> bool:
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False


def lock_to_key(lock: bytes) -> bytes:
    k = [0] * len(lock)
    k[0] = lock[0] ^ lock[-1] ^ lock[-2] ^ 5
    for i in range(1, len(lock)):
        k[i] = lock[i] ^ lock[i - 1]
    out = b""
    for v in k:
        v = ((v << 4) | (v >> 4)) & 0xFF
        out += b"/%%DCN%03d%%/" % v if v in (0, 5, 36, 96, 124, 126) else bytes([v])
    return out


def nmdc_peer(hub_addr: str) -> Wire:
    """Log 'mallory' in over NMDC, ask alice to connect, accept her, handshake."""
    host, port = hub_addr.rsplit(":", 1)
    hub = Wire(socket.create_connection((host, int(port))), b"|")
    lock = hub.until(b"$Lock ").split(b" ")[1]
    hub.send(b"$Supports NoHello NoGetINFO |$Key " + lock_to_key(lock) + b"|$ValidateNick mallory|")
    hub.until(b"$Hello mallory")
    hub.send(b"$Version 1,0091|$MyINFO $ALL mallory <x V:1,M:P,H:1/0/0,S:1>$ $100\x01$$0$|")
    hub.until(b"$MyINFO $ALL alice")
    hub.send(b"$RevConnectToMe mallory alice|")
    ctm = hub.until(b"$ConnectToMe mallory ").decode()
    ip, cport = ctm.split(" ")[2].split(":")
    cc = Wire(socket.create_connection((ip, int(cport))), b"|")
    cc.send(b"$MyNick mallory|$Lock EXTENDEDPROTOCOLmal Pk=raw|")
    peer_lock = cc.until(b"$Lock ").split(b" ")[1]
    sup = cc.until(b"$Supports ")
    assert b"ADCGet" in sup and b"TTHL" in sup and b"ZLIG" in sup
    assert cc.until(b"$Direction ").startswith(b"$Direction Upload ")
    cc.until(b"$Key ")
    cc.send(b"$Supports ADCGet TTHL TTHF|$Direction Download 30000|$Key " + lock_to_key(peer_lock) + b"|")
    cc.hub = hub
    return cc


def adc_peer(hub_addr: str) -> Wire:
    host, port = hub_addr.rsplit(":", 1)
    hub = Wire(socket.create_connection((host, int(port))), b"\n")
    hub.send(b"HSUP ADBASE ADTIGR\n")
    sid = hub.until(b"ISID ").split(b" ")[1]
    pid = os.urandom(24)
    cid = b32(_hash(0x10, pid))   # RHASH_TIGER
    hub.send(b"BINF %s ID%s PD%s NImallory SL1 SS0 SF0 HN1 HR0 HO0 VEraw\n" % (sid, cid.encode(), b32(pid).encode()))
    alice = None
    while alice is None:
        m = hub.until(b"BINF ")
        if b" NIalice" in m:
            alice = m.split(b" ")[1]
    hub.send(b"DRCM %s %s ADC/1.0 tok42\n" % (sid, alice))
    ctm = hub.until(b"DCTM ").decode().split(" ")   # DCTM <alice> <us> ADC/1.0 <port> <token>
    assert ctm[3] == "ADC/1.0" and ctm[5] == "tok42"
    cc = Wire(socket.create_connection(("127.0.0.1", int(ctm[4]))), b"\n")
    cc.send(b"CSUP ADBASE ADTIGR ADZLIG\n")
    assert cc.until(b"CSUP ").startswith(b"CSUP ")
    cc.send(b"CINF ID%s TOtok42\n" % cid.encode())
    cc.until(b"CINF ID")
    cc.hub = hub
    return cc


@pytest.fixture
def uploader(tmp_path, fakehub, dcclient):
    root = tmp_path / "share"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello world\n")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"top secret\n")
    (root / "escape.txt").symlink_to(secret)
    (root / "inside.txt").symlink_to(root / "hello.txt")
    alice = dcclient("--nick", "alice", "--share", str(root), "--set", "slots=1", name="alice")
    done = alice.channel.wait_for("share.done", timeout=30)
    assert done["files_hashed"] == 2   # hello.txt and the symlink that stays inside
    return alice, secret


def _tth(data: bytes) -> str:
    return b32(_hash(0x20, data))   # RHASH_TTH


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_refusals_keep_the_connection(uploader, fakehub, proto, tmp_path):
    alice, secret = uploader
    alice.channel.request("connect", url=fakehub.url(proto))
    nmdc = proto == "nmdc"
    addr = fakehub.ready[proto]
    cc = nmdc_peer(addr) if nmdc else adc_peer(addr)
    try:
        def get(typ, ident, start=0, n=-1):
            if nmdc:
                ident = ident.replace(" ", "\\ ")
                cc.send(f"$ADCGET {typ} {ident} {start} {n}|".encode())
            else:
                ident = ident.replace(" ", "\\s")
                cc.send(f"CGET {typ} {ident} {start} {n}\n".encode())
            return cc.msg()

        unavailable = b"$Error File Not Available" if nmdc else b"CSTA 151 File\\sNot\\sAvailable"
        hello_tth = _tth(b"hello world\n")
        for typ, ident, start, n in [
            ("file", "/share/../secret.txt", 0, -1),
            ("file", "/share/./hello.txt", 0, -1),
            ("file", "/share//hello.txt", 0, -1),
            ("file", "../secret.txt", 0, -1),
            ("file", str(secret), 0, -1),
            ("file", "/share/escape.txt", 0, -1),
            ("file", "TTH/" + _tth(b"top secret\n"), 0, -1),
            ("file", "TTH/" + "A" * 39, 0, -1),
            ("file", "TTH/" + hello_tth, 13, -1),
            ("file", "TTH/" + hello_tth, 5, 10),
            ("tthl", "TTH/" + "B" * 39, 0, -1),
            ("list", "/share/../", 0, -1),
            ("frobnicate", "files.xml.bz2", 0, -1),
        ]:
            assert get(typ, ident, start, n) == unavailable, (typ, ident, start, n)
        # Malformed requests: the protocol's error, connection kept.
        if nmdc:
            cc.send(b"$ADCGET file|")
            assert cc.msg().startswith(b"$Error ")
            cc.send(b"$ADCGET file TTH/x notanumber -1|")
            assert cc.msg().startswith(b"$Error ")
        else:
            cc.send(b"CGET file\n")
            assert re.match(rb"CSTA 1\d\d ", cc.msg())
            cc.send(b"CGET file TTH/x 0 -5\n")
            assert re.match(rb"CSTA 1\d\d ", cc.msg())
            cc.send(b"CGET file bad\\escape 0 -1\n")
            assert re.match(rb"CSTA 1\d\d ", cc.msg())
        # Still serving: a range by TTH, by path (space escaped), tthl, a list.
        snd = get("file", "TTH/" + hello_tth, 6, 5)
        assert snd.split(b" ")[-2:] == [b"6", b"5"]
        assert cc.raw(5) == b"world"
        snd = get("file", "/share/inside.txt")
        assert cc.raw(int(snd.split(b" ")[-1])) == b"hello world\n"
        snd = get("tthl", "TTH/" + hello_tth)
        assert base64.b32encode(cc.raw(int(snd.split(b" ")[-1]))).decode().rstrip("=") == hello_tth
        snd = get("list", "/share/")
        xml = cc.raw(int(snd.split(b" ")[-1])).decode()
        assert 'Base="/share/"' in xml and "hello.txt" in xml and "escape.txt" not in xml
        # An over-long message is fatal.
        cc.send(b"X" * 40000)
        assert cc.closed()
        assert (b"$Error" if nmdc else b"CSTA 2") in cc.buf
    finally:
        cc.s.close()
        cc.hub.s.close()


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_no_free_slot_but_mini_slots(tmp_path, fakehub, dcclient, proto):
    root = tmp_path / "share"
    root.mkdir()
    big, small = os.urandom(100 * 1024), b"small file\n"
    (root / "big.bin").write_bytes(big)
    (root / "small.txt").write_bytes(small)
    alice = dcclient("--nick", "alice", "--share", str(root), "--set", "slots=0", name="alice")
    alice.channel.wait_for("share.done", timeout=30)
    alice.channel.request("connect", url=fakehub.url(proto))
    nmdc = proto == "nmdc"
    cc = nmdc_peer(fakehub.ready[proto]) if nmdc else adc_peer(fakehub.ready[proto])
    try:
        def get(typ, ident):
            cc.send(f"$ADCGET {typ} {ident} 0 -1|".encode() if nmdc else f"CGET {typ} {ident} 0 -1\n".encode())
            return cc.msg()

        assert get("file", "/share/big.bin") == (b"$MaxedOut" if nmdc else b"CSTA 153 Slots\\sfull")
        # Mini slots: small files, TTH leaves and the list need no slot.
        snd = get("file", "/share/small.txt")
        assert cc.raw(int(snd.split(b" ")[-1])) == small
        snd = get("tthl", "TTH/" + _tth(big))
        assert len(cc.raw(int(snd.split(b" ")[-1]))) == 24 * 2   # two 64 KiB leaves
        snd = get("file", "files.xml.bz2")
        assert cc.raw(int(snd.split(b" ")[-1]))[:3] == b"BZh"
    finally:
        cc.s.close()
        cc.hub.s.close()
