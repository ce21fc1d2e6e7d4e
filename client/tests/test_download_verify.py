"""dcclient as downloader from a raw-socket uploader that lies (NMDC and ADC
through fakehub): the uploader serves a genuine list and TTH leaves but
flips one byte in block 3 of the file. The download must fail at that
block, keep only the verified blocks in the .part file, never create the
final name, and a second download (honest data) must resume from the kept
blocks and end with the right TTH."""
import base64
import bz2
import os
import socket

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)
from test_upload_errors import Wire, _hash, b32, lock_to_key

pytestmark = pytest.mark.sanitize

BLOCK = 64 * 1024


def tth_raw(data: bytes) -> bytes:
    return _hash(0x20, data)


class Liar:
    """A hub user serving one file, corrupting it while `corrupt` is set."""

    def __init__(self, proto, hub_addr, data):
        self.proto, self.data, self.corrupt = proto, data, True
        self.root = tth_raw(data)
        self.leaves = b"".join(tth_raw(data[i:i + BLOCK]) for i in range(0, len(data), BLOCK))
        self.pid = os.urandom(24)
        self.cid = b32(_hash(0x10, self.pid))
        xml = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
               f'<FileListing Version="1" CID="{self.cid}" Base="/" Generator="liar">\r\n'
               f'<Directory Name="files">\r\n\t<File Name="f.bin" Size="{len(data)}" TTH="{b32(self.root)}"/>\r\n'
               '</Directory>\r\n</FileListing>\r\n')
        self.listing = bz2.compress(xml.encode())
        host, port = hub_addr.rsplit(":", 1)
        nmdc = proto == "nmdc"
        self.hub = Wire(socket.create_connection((host, int(port))), b"|" if nmdc else b"\n")
        if nmdc:
            lock = self.hub.until(b"$Lock ").split(b" ")[1]
            self.hub.send(b"$Supports NoHello NoGetINFO |$Key " + lock_to_key(lock) + b"|$ValidateNick liar|")
            self.hub.until(b"$Hello liar")
            self.hub.send(b"$Version 1,0091|$MyINFO $ALL liar <x V:1,M:P,H:1/0/0,S:1>$ $100\x01$$%d$|" % len(data))
            self.hub.until(b"$MyINFO $ALL liar")
        else:
            self.hub.send(b"HSUP ADBASE ADTIGR\n")
            self.sid = self.hub.until(b"ISID ").split(b" ")[1]
            self.hub.send(b"BINF %s ID%s PD%s NIliar SL1 SS%d SF1 HN1 HR0 HO0 VEraw\n"
                          % (self.sid, self.cid.encode(), b32(self.pid).encode(), len(data)))
            self.hub.until(b"BINF %s" % self.sid)

    def connect_peer(self) -> Wire:
        """Wait for the downloader's connection request, connect to it and
        do the client-client handshake as the uploader; the connection is
        also kept as self.cc."""
        if self.proto == "nmdc":
            ip, port = self.hub.until(b"$ConnectToMe liar ").decode().split(" ")[2].split(":")
            cc = Wire(socket.create_connection((ip, int(port))), b"|")
            cc.send(b"$MyNick liar|$Lock EXTENDEDPROTOCOLliar Pk=raw|")
            lock = cc.until(b"$Lock ").split(b" ")[1]
            assert cc.until(b"$Direction ").startswith(b"$Direction Download")
            cc.until(b"$Key ")
            cc.send(b"$Supports ADCGet TTHL TTHF|$Direction Upload 1|$Key " + lock_to_key(lock) + b"|")
        else:
            ctm = self.hub.until(b"DCTM ").decode().split(" ")
            cc = Wire(socket.create_connection(("127.0.0.1", int(ctm[4]))), b"\n")
            cc.send(b"CSUP ADBASE ADTIGR\n")
            cc.until(b"CSUP ")
            cc.send(b"CINF ID%s TO%s\n" % (self.cid.encode(), ctm[5].encode()))
            cc.until(b"CINF ")
        self.cc = cc
        return cc

    def serve_one_connection(self):
        """Answer GETs on one client-client connection until it closes."""
        nmdc = self.proto == "nmdc"
        cc = self.connect_peer()
        try:
            while True:
                try:
                    req = cc.msg().decode()
                except (EOFError, OSError):
                    return   # the downloader closed, or the test did
                typ, ident, start, n = req.split(" ")[1:5]
                start = int(start)
                if ident == "files.xml.bz2":
                    body = self.listing
                elif typ == "tthl":
                    body = self.leaves
                else:
                    body = bytearray(self.data[start:])
                    if self.corrupt:
                        body[3 * BLOCK + 100 - start] ^= 0xFF
                    body = bytes(body)
                head = f"{'$ADCSND' if nmdc else 'CSND'} {typ} {ident} {start} {len(body)}"
                try:
                    cc.send(head.encode() + (b"|" if nmdc else b"\n") + body)
                except OSError:
                    return   # the downloader hung up on the bad block
        finally:
            cc.s.close()


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_corrupt_block_is_caught_and_cut(tmp_path, fakehub, dcclient, proto):
    import threading
    data = os.urandom(10 * BLOCK + 123)
    bob = dcclient("--nick", "bob", name="bob")
    bob.channel.request("connect", url=fakehub.url(proto))
    liar = Liar(proto, fakehub.ready[proto], data)
    wait_nicks(bob.channel, {"bob", "liar"})
    got = tmp_path / "got"
    got.mkdir()

    t = threading.Thread(target=liar.serve_one_connection, daemon=True)
    t.start()
    r = bob.channel.request("download", nick="liar", path="/files/f.bin", target_dir=str(got),
                            check=False, timeout=30)
    assert r["ok"] is False and "block 3" in r["error"] and r["code"] == "transfer-failed", r
    t.join(10)
    assert not t.is_alive()
    assert not (got / "f.bin").exists()
    assert (got / "f.bin.part").stat().st_size == 3 * BLOCK
    assert (got / "f.bin.part").read_bytes() == data[:3 * BLOCK]

    liar.corrupt = False
    t = threading.Thread(target=liar.serve_one_connection, daemon=True)
    t.start()
    res = bob.channel.request("download", nick="liar", path="/files/f.bin", target_dir=str(got), timeout=30)
    liar.cc.s.shutdown(socket.SHUT_RDWR)   # bob keeps the idle connection for reuse
    t.join(10)
    assert not t.is_alive()
    assert res["resumed_from"] == 3 * BLOCK and res["received"] == len(data) - 3 * BLOCK
    assert res["tth"] == base64.b32encode(liar.root).decode().rstrip("=")
    assert (got / "f.bin").read_bytes() == data and not (got / "f.bin.part").exists()
    liar.hub.s.close()
