"""A peer's file list is bounded (list_max_entries, list_max_bytes): a raw
NMDC peer ("mallory", logged into fakehub) serves crafted files.xml.bz2 to
dcclient's `list` request. A bzip2 bomb that expands past the byte limit and
a list with more entries than allowed each fail the request with the limit
named, while dcclient's peak RSS (VmHWM) stays bounded and the client keeps
working (still online, a valid list from the same peer is accepted)."""
import bz2
import json
import os
import socket
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory  # noqa: F401 (fixtures)
from dctest.procs import scaled
from test_upload_errors import Wire, lock_to_key

pytestmark = pytest.mark.sanitize

HEAD = (b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
        b'<FileListing Version="1" CID="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" Base="/" Generator="bomb">\r\n')
TAIL = b"</FileListing>\r\n"
TTH = "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"


def byte_bomb(total: int) -> bytes:
    """Multi-stream bzip2 (accepted, as pbzip2 writes it) of `total` bytes of
    empty unknown elements: one 1 MiB stream compressed once and repeated,
    so it costs nothing to build and ~40 bytes per MiB on the wire."""
    unit = bz2.compress(b"<a/>" * (1 << 18))
    return bz2.compress(HEAD) + unit * (total >> 20) + bz2.compress(TAIL)


def entry_list(n: int) -> bytes:
    files = "".join(f'<File Name="f{i:07d}" Size="1" TTH="{TTH}"/>' for i in range(n)).encode()
    return bz2.compress(HEAD + b'<Directory Name="d">' + files + b"</Directory>" + TAIL)


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


class Mallory:
    """A raw NMDC user on the hub that uploads whatever list it is given."""

    def __init__(self, hub_addr: str):
        host, port = hub_addr.rsplit(":", 1)
        self.hub = Wire(socket.create_connection((host, int(port))), b"|")
        self.hub.s.settimeout(scaled(30))   # the ASan build on a loaded machine
        lock = self.hub.until(b"$Lock ").split(b" ")[1]
        self.hub.send(b"$Supports NoHello NoGetINFO |$Key " + lock_to_key(lock) + b"|$ValidateNick mallory|")
        self.hub.until(b"$Hello mallory")
        self.hub.send(b"$Version 1,0091|$MyINFO $ALL mallory <x V:1,M:A,H:1/0/0,S:1>$ $100\x01$$0$|")
        self.hub.until(b"$MyINFO $ALL alice")

    def serve(self, data: bytes):
        """Answer alice's $ConnectToMe and her $ADCGET of the list with data."""
        ctm = self.hub.until(b"$ConnectToMe mallory ").decode()
        ip, port = ctm.split(" ")[2].split(":")
        cc = Wire(socket.create_connection((ip, int(port))), b"|")
        cc.s.settimeout(scaled(30))
        try:
            cc.send(b"$MyNick mallory|$Lock EXTENDEDPROTOCOLmal Pk=raw|")
            lock = cc.until(b"$Lock ").split(b" ")[1]
            assert cc.until(b"$Direction ").startswith(b"$Direction Download ")
            cc.send(b"$Supports ADCGet TTHL|$Direction Upload 1|$Key " + lock_to_key(lock) + b"|")
            get = cc.until(b"$ADCGET ")
            assert get.startswith(b"$ADCGET file files.xml.bz2 0 -1"), get
            cc.send(b"$ADCSND file files.xml.bz2 0 %d|" % len(data))
            cc.s.settimeout(scaled(60))
            cc.send(data)
            # Closing with unread input would reset the connection and could
            # drop data alice has not read yet: wait until she hangs up
            # (refused) or a moment passes (accepted, kept for reuse).
            cc.s.settimeout(2)
            cc.closed()
        finally:
            cc.s.close()

    def close(self):
        self.hub.s.close()


def list_request(alice, rid: str):
    # mallory saw alice in the list, but alice may not have seen mallory yet:
    # a list request then would be refused as not-online.
    deadline = time.monotonic() + scaled(30)
    while not any(u["nick"] == "mallory" for u in alice.channel.request("users")["users"]):
        assert time.monotonic() < deadline, "alice never saw mallory join"
        time.sleep(0.01)
    alice.channel.send_raw(json.dumps({"id": rid, "cmd": "list", "args": {"nick": "mallory"}}))


@pytest.mark.parametrize("kind", ["bytes", "entries"])
def test_list_over_the_limit_fails_named(fakehub, dcclient, kind, monkeypatch):
    # In the ASan build, freed memory waits in a 256 MiB quarantine and
    # would count in VmHWM: keep it small so the peak measures the client.
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "quarantine_size_mb=8")
    alice = dcclient("--nick", "alice", "--set", "list_max_bytes=67108864", "--set", "list_max_entries=100000",
                     name="alice")
    alice.channel.request("connect", url=fakehub.nmdc_url)
    mallory = Mallory(fakehub.ready["nmdc"])
    try:
        before = vm_hwm_kib(alice.pid)
        data = byte_bomb(1 << 30) if kind == "bytes" else entry_list(150000)
        list_request(alice, "bomb")
        mallory.serve(data)
        reply = alice.channel.reply("bomb", timeout=120)
        assert not reply["ok"]
        want = "list_max_bytes (67108864)" if kind == "bytes" else "list_max_entries (100000)"
        assert want in reply["error"], reply["error"]
        grew = vm_hwm_kib(alice.pid) - before
        print(f"{kind}: {len(data)} bytes on the wire, VmHWM {before} -> {before + grew} KiB")
        # Without the limit the bomb is 1 GiB of XML, the entry list 150000
        # nodes; with it, the peak grows by the compressed list and what was
        # parsed up to the limit (64 MiB streamed, or 100000 small nodes).
        assert grew < 96 * 1024, f"VmHWM grew by {grew} KiB"
        # Nothing else is affected: still online, and a valid list from the
        # same peer is accepted.
        assert alice.channel.request("ping")
        list_request(alice, "good")
        mallory.serve(entry_list(3))
        reply = alice.channel.reply("good", timeout=60)
        assert reply["ok"], reply
    finally:
        mallory.close()


def test_list_announced_too_large_is_refused_before_the_data(fakehub, dcclient):
    alice = dcclient("--nick", "alice", "--set", "list_max_bytes=1000", name="alice")
    alice.channel.request("connect", url=fakehub.nmdc_url)
    mallory = Mallory(fakehub.ready["nmdc"])
    try:
        list_request(alice, "big")
        mallory.serve(os.urandom(5000))
        reply = alice.channel.reply("big", timeout=30)
        assert not reply["ok"] and "5000 bytes, over list_max_bytes (1000)" in reply["error"], reply
    finally:
        mallory.close()
