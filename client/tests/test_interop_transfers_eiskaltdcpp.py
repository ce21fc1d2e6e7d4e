"""Transfers between dcclient and a real eiskaltdcpp-daemon (the DC++ core):
through fakehub (NMDC and ADC) and uhub (ADC). dcclient fetches the
daemon's file list and a file (checked byte for byte and against the TTH
the daemon itself lists), then the daemon fetches dcclient's list and a
file from it (list.download / list.downloadfile, completion via queue.list,
real-peers.md). The daemon runs with RequireTLS=0 (plain C-C); transfers
are ZLIB-compressed in both directions; each file is text and random data
in turn, so our uploader switches its deflate level inside one stream (level
1 for text, stored blocks for random data) and the daemon's inflate must
take it, and our inflate takes the daemon's mix. Over TLS (fakehub's adcs:// and
nmdcs://, uhub with tls_require) the daemon runs with UseTLS=1 and
RequireTLS=1, so every client connection must be TLS (ADCS/0.10 + ADC0 on
ADC, port suffix S on NMDC) and each side checks the other's certificate."""
import base64
import ctypes
import os

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)
from dctest import Uhub, require_binary

# sanitize: our ZL1 and TLS transfer code under ASan+UBSan against a real peer (issue 18)
pytestmark = [pytest.mark.interop, pytest.mark.sanitize]

_rh = ctypes.CDLL("librhash.so.0")
_rh.rhash_library_init()


def tth(data: bytes) -> str:
    out = ctypes.create_string_buffer(64)
    _rh.rhash_msg(0x20, data, len(data), out)   # RHASH_TTH
    return base64.b32encode(out.raw[:24]).decode().rstrip("=")


@pytest.fixture(params=["fakehub-nmdc", "fakehub-adc", "uhub-adc"])
def hub_url(request, tmp_path, fakehub_factory):
    if request.param.startswith("uhub"):
        require_binary("uhub")
        with Uhub(tmp_path / "uhub") as h:
            yield h.url
        return
    yield fakehub_factory().url(request.param.split("-")[1])


def text(size: int) -> bytes:
    """Text-like bytes that deflate to well under half their size."""
    lines = (f"{i:06d} line of text number {i % 977} with words {i * 31 % 1009}\n".encode() for i in range(size))
    out = bytearray()
    for line in lines:
        out += line
        if len(out) >= size:
            return bytes(out[:size])


@pytest.fixture(params=["fakehub-nmdcs", "fakehub-adcs", "uhub-adcs"])
def tls_hub_url(request, tmp_path, fakehub_factory):
    if request.param.startswith("uhub"):
        require_binary("uhub")
        with Uhub(tmp_path / "uhub", tls=True) as h:
            yield h.url
        return
    h = fakehub_factory("--nmdcs", "127.0.0.1:0", "--adcs", "127.0.0.1:0")
    proto = request.param.split("-")[1]
    yield f"{proto}://{h.ready[proto]}/?kp={h.ready['keyprint']}"


def test_transfers_both_ways(tmp_path, hub_url, dcclient, dc_client):
    transfers_both_ways(tmp_path, hub_url, dcclient, dc_client, tls=False)


def test_transfers_both_ways_over_tls(tmp_path, tls_hub_url, dcclient, dc_client):
    transfers_both_ways(tmp_path, tls_hub_url, dcclient, dc_client, tls=True)


def transfers_both_ways(tmp_path, hub_url, dcclient, dc_client, tls):
    require_binary("eiskaltdcpp-daemon")
    theirs = tmp_path / "eve-share"
    (theirs / "dir").mkdir(parents=True)
    their_file = theirs / "dir" / "from eve.bin"
    their_file.write_bytes(os.urandom(3 << 20) + b"tail")
    ours = tmp_path / "carol-share"
    (ours / "sub").mkdir(parents=True)
    our_file = ours / "sub" / "from carol.bin"
    # text, random, text: stored blocks between deflated stretches, one stream
    our_file.write_bytes(text(1 << 20) + os.urandom((2 << 20) + 7) + text(3 << 19))

    eve = dc_client("eve", profile="eiskaltdcpp")
    eve.share(theirs)
    eve.wait_for("share.done", timeout=60)
    # ZLIB both ways: we ask for ZL1, and the daemon does by default.
    carol = dcclient("--nick", "carol", "--share", str(ours), "--data-dir", str(tmp_path / "carol"),
                     "--set", "compress=true", name="carol")
    ch = carol.channel
    ch.wait_for("share.done", timeout=30)
    eve.connect(hub_url, timeout=30)
    ch.request("connect", url=hub_url)
    wait_nicks(ch, {"carol", "eve"})
    eve.wait_for("user.join", nick="carol")

    # dcclient <- daemon: list, then a file on the same connection.
    listing = ch.request("list", nick="eve", timeout=30)["tree"]
    share = {k["name"]: k for k in listing["children"]}["eve-share"]
    d = {k["name"]: k for k in share["children"]}["dir"]
    entry = {k["name"]: k for k in d["children"]}["from eve.bin"]
    data = their_file.read_bytes()
    assert entry["size"] == len(data) and entry["tth"] == tth(data)
    got = tmp_path / "got"
    got.mkdir()
    res = ch.request("download", nick="eve", path="/eve-share/dir/from eve.bin", target_dir=str(got),
                     timeout=60)
    assert (got / "from eve.bin").read_bytes() == data
    assert res["tth"] == entry["tth"] and res["compressed"] is True and res["tls"] is tls
    print(f"dcclient <- eiskaltdcpp: {res['size']} B at {res['bytes_per_second'] / 1e6:.1f} MB/s"
          f" (compressed={res['compressed']}, tls={res['tls']})")

    # daemon <- dcclient: our list, then a file from it.
    mine = our_file.read_bytes()
    tree = eve.list("carol", timeout=60)["tree"]
    [root] = tree["children"]
    sub = {k["name"]: k for k in root["children"]}["sub"]
    assert sub["children"] == [{"name": "from carol.bin", "type": "file", "size": len(mine),
                                "tth": tth(mine)}]
    eve_dl = tmp_path / "eve-got"
    eve_dl.mkdir()
    done = eve.download("carol", eve_dl, path=f"/{root['name']}/sub/from carol.bin", timeout=120)
    assert (eve_dl / "from carol.bin").read_bytes() == mine
    assert done["tth"] == tth(mine) and done["size"] == len(mine)
    assert eve.wait_for("transfer.done", path=f"/{root['name']}/sub/from carol.bin")["file"] == \
        str(eve_dl / "from carol.bin")
