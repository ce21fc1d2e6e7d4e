"""dcclient's client-client framing as downloader, against a raw-socket
uploader (NMDC and ADC through fakehub): the line that starts a transfer
($ADCSND / CSND) and the data after it come in one write, or in two cut at
every byte of the line and of the data's first bytes, after a keep-alive;
the data is full of the protocol's separators. Every download must end
with the exact bytes: the line is taken and everything after it goes to
the data phase untouched (proto/lines_ev.h). An over-long line from the
uploader ends the download with the protocol's error sent back and the
reason named (not "closed by the peer": we closed it)."""
import os
import socket
import threading
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)
from test_download_verify import Liar

pytestmark = pytest.mark.sanitize


class Cutter(Liar):
    """An honest uploader that sends each answer in two writes, cut where
    told; over_long makes the next file answer an over-long line instead."""

    def __init__(self, proto, hub_addr, data):
        super().__init__(proto, hub_addr, data)
        self.corrupt = False
        self.cut = None          # None: one write; else bytes in the first write
        self.over_long = False

    def serve(self):
        nmdc = self.proto == "nmdc"
        sep = b"|" if nmdc else b"\n"
        cc = self.connect_peer()
        cc.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    req = cc.msg().decode()
                except (EOFError, OSError):
                    return
                typ, ident, start, n = req.split(" ")[1:5]
                start = int(start)
                body = (self.listing if ident == "files.xml.bz2" else self.leaves if typ == "tthl"
                        else self.data[start:])
                if self.over_long and typ == "file" and ident != "files.xml.bz2":
                    cc.send(sep + b"X" * 20000)
                    self.closed = cc.closed()   # what came back, until the close
                    return
                head = f"{'$ADCSND' if nmdc else 'CSND'} {typ} {ident} {start} {len(body)}".encode()
                wire = sep + head + sep + body   # a keep-alive first
                if self.cut is None:
                    cc.send(wire)
                else:
                    cc.send(wire[:self.cut])
                    time.sleep(0.02)   # two reads on the other side, most likely
                    cc.send(wire[self.cut:])
        finally:
            cc.s.close()


def _data() -> bytes:
    # Separators of both protocols, NULs, and what looks like commands.
    chunk = b"|\n$ADCSND file x 0 1|CSND file x 0 1\n\x00\r\n||\n\n"
    return (chunk * 80 + os.urandom(500))[:4000]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_line_then_data_split_at_every_byte(tmp_path, fakehub, dcclient, proto):
    data = _data()
    bob = dcclient("--nick", "bob", name="bob")
    bob.channel.request("connect", url=fakehub.url(proto))
    up = Cutter(proto, fakehub.ready[proto], data)
    wait_nicks(bob.channel, {"bob", "liar"})
    t = threading.Thread(target=up.serve, daemon=True)
    t.start()
    try:
        # One write first (the list comes this way too), then every cut from
        # inside the keep-alive to 8 bytes into the data.
        head = len(f"{'$ADCSND' if proto == 'nmdc' else 'CSND'} file /files/f.bin 0 {len(data)}")
        cuts = [None] + list(range(1, 1 + head + 1 + 8 + 1))
        for i, cut in enumerate(cuts):
            up.cut = cut
            got = tmp_path / f"got{i}"
            got.mkdir()
            r = bob.channel.request("download", nick="liar", path="/files/f.bin", target_dir=str(got),
                                    timeout=30)
            assert r["received"] == len(data), (cut, r)
            assert (got / "f.bin").read_bytes() == data, f"cut at {cut}"
    finally:
        up.cc.s.shutdown(socket.SHUT_RDWR)
        t.join(10)
        up.hub.s.close()
    assert not t.is_alive()


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_overlong_line_from_the_uploader(tmp_path, fakehub, dcclient, proto):
    data = _data()
    bob = dcclient("--nick", "bob", name="bob")
    bob.channel.request("connect", url=fakehub.url(proto))
    up = Cutter(proto, fakehub.ready[proto], data)
    up.over_long = True
    wait_nicks(bob.channel, {"bob", "liar"})
    t = threading.Thread(target=up.serve, daemon=True)
    t.start()
    try:
        r = bob.channel.request("download", nick="liar", path="/files/f.bin", target_dir=str(tmp_path),
                                check=False, timeout=30)
        assert r["ok"] is False, r
        # Why, and with whom: not "closed by the peer" (we closed it).
        assert r["error"] == "connection to liar lost: the peer sent a message longer than 16384 bytes", r
        t.join(10)
        # The protocol's error went back before the close.
        assert up.closed
        want = b"$Error Message too long" if proto == "nmdc" else b"CSTA 240 Message\\stoo\\slong"
        assert want in up.cc.buf, up.cc.buf
    finally:
        t.join(10)
        up.hub.s.close()
    assert not t.is_alive()
