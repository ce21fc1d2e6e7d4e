"""Sharing and transfers between two dcclient processes through fakehub
(docs/control-protocol.md: share, list, download, share.*/transfer.* events).

Alice shares a generated tree (nested and empty directories, non-ASCII
names, 0 B / 1 B / 1 MiB / 100 MiB files); Bob browses her list and
downloads, NMDC and ADC, with Bob active (he listens, CTM) or passive (RCM),
plain and ZLIB. Every download is checked byte for byte and against a TTH
computed here independently (rhash-compatible Python implementation).
Also: resume after SIGKILLing the uploader mid-file; the final name never
holds a partial file; the hash cache survives a restart.
"""
import base64
import bz2
import os
import re
import pathlib
import signal
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sanitize

# 100 MiB only in the plain build: the ASan build (DC_BUILD_DIR=build-asan) is slow.
BIG = "asan" not in os.environ.get("DC_BUILD_DIR", "")


def tth_of(path: pathlib.Path) -> str:
    """TTH by the book (notes §1.3), via librhash (ctypes) for Tiger."""
    import ctypes
    lib = ctypes.CDLL("librhash.so.0")
    lib.rhash_library_init()
    ctx = lib.rhash_init(0x20)   # RHASH_TTH
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            lib.rhash_update(ctypes.c_void_p(ctx), chunk, len(chunk))
    out = ctypes.create_string_buffer(64)
    lib.rhash_final(ctypes.c_void_p(ctx), out)
    lib.rhash_free(ctypes.c_void_p(ctx))
    return base64.b32encode(out.raw[:24]).decode().rstrip("=")


def make_share(root: pathlib.Path, big: bool) -> dict:
    """The shared tree; returns {virtual path: local file}."""
    share = root / "share"
    (share / "sub" / "deeper").mkdir(parents=True)
    (share / "empty dir").mkdir()
    (share / "caf\u00e9 \u20ac").mkdir()
    files = {
        "zero.bin": b"",
        "one.bin": b"\x00",
        "sub/deeper/1mib.bin": os.urandom(1 << 20),
        "caf\u00e9 \u20ac/\u043f\u0440\u0438\u0432\u0435\u0442 $|.txt": "h\u00e9llo\n".encode(),
    }
    for rel, data in files.items():
        (share / rel).write_bytes(data)
    if big:
        with open(share / "100mib.bin", "wb") as f:
            for _ in range(100):
                f.write(os.urandom(1 << 20))
        files["100mib.bin"] = None
    return {"/share/" + rel: share / rel for rel in files}


def start_pair(fakehub, dcclient, tmp_path, proto, bob_active=True, compress=False, alice_args=()):
    shared = make_share(tmp_path / "alice", BIG)
    alice = dcclient("--nick", "alice", "--share", str(tmp_path / "alice" / "share"),
                     "--data-dir", str(tmp_path / "alice-data"), *alice_args, name="alice")
    bob = dcclient("--nick", "bob", "--data-dir", str(tmp_path / "bob-data"),
                   "--set", f"active={'true' if bob_active else 'false'}",
                   "--set", f"compress={'true' if compress else 'false'}", name="bob")
    done = alice.channel.wait_for("share.done", timeout=120)
    assert done["files_hashed"] == len(shared)
    url = fakehub.url(proto)
    alice.channel.request("connect", url=url)
    bob.channel.request("connect", url=url)
    wait_nicks(bob.channel, {"alice", "bob"})
    wait_nicks(alice.channel, {"alice", "bob"})
    return alice, bob, shared


def names(tree):
    return {k["name"]: k for k in tree["children"]}


def check_list(bob, shared):
    res = bob.channel.request("list", nick="alice", timeout=60)
    root = names(res["tree"])
    share = names(root["share"])
    assert share["empty dir"]["type"] == "dir" and share["empty dir"]["children"] == []
    assert names(names(share["sub"])["deeper"])["1mib.bin"]["size"] == 1 << 20
    odd = names(share["caf\u00e9 \u20ac"])["\u043f\u0440\u0438\u0432\u0435\u0442 $|.txt"]
    assert odd["tth"] == tth_of(shared["/share/caf\u00e9 \u20ac/\u043f\u0440\u0438\u0432\u0435\u0442 $|.txt"])
    one = bob.channel.request("list", nick="alice", path="/share/sub", timeout=60)
    assert one["tree"]["name"] == "sub" and "deeper" in names(one["tree"])


def download_all(bob, shared, target: pathlib.Path):
    target.mkdir()
    for vpath, local in shared.items():
        res = bob.channel.request("download", nick="alice", path=vpath, target_dir=str(target), timeout=300)
        got = target / local.name
        assert res["file"] == str(got)
        assert got.read_bytes() == local.read_bytes(), vpath
        assert res["tth"] == tth_of(local) == tth_of(got)
        assert res["size"] == local.stat().st_size
        assert res["bytes_per_second"] >= 0
        assert not (target / (local.name + ".part")).exists()


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
@pytest.mark.parametrize("bob_active", [True, False], ids=["active", "passive"])
def test_browse_and_download_everything(fakehub, dcclient, tmp_path, proto, bob_active):
    alice, bob, shared = start_pair(fakehub, dcclient, tmp_path, proto, bob_active)
    check_list(bob, shared)
    download_all(bob, shared, tmp_path / "got")
    # Alice advertises what she hashed.
    users = {u["nick"]: u for u in bob.channel.request("users")["users"]}
    assert users["alice"]["share"] == sum(p.stat().st_size for p in shared.values())


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_compressed_transfers(fakehub, dcclient, tmp_path, proto):
    alice, bob, shared = start_pair(fakehub, dcclient, tmp_path, proto, compress=True)
    check_list(bob, shared)
    target = tmp_path / "got"
    target.mkdir()
    local = shared["/share/sub/deeper/1mib.bin"]
    res = bob.channel.request("download", nick="alice", path="/share/sub/deeper/1mib.bin",
                              target_dir=str(target), name="renamed.bin", timeout=60)
    assert res["compressed"] is True
    assert (target / "renamed.bin").read_bytes() == local.read_bytes()


def compressible(size: int) -> bytes:
    """Text-like bytes that deflate to well under half their size."""
    words = [f"w{i * 7919 % 1000}" for i in range(1000)]
    out, i = [], 0
    while sum(map(len, out)) < size:
        out.append(f"{i:06d} {' '.join(words[(i * j) % 1000] for j in range(1, 12))}\n".encode())
        i += 1
    return b"".join(out)[:size]


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_compressed_level_follows_the_gain(fakehub, dcclient, tmp_path, proto):
    """ZL1 uploads store what does not shrink and deflate what does, in one
    valid stream: random data goes out as stored blocks (a level-1 probe
    every 16 MiB), text deflated, and a file that turns from random to text
    switches back within a MiB. Each download is checked byte for byte
    and against its TTH; alice's log says how each was sent."""
    share = tmp_path / "alice" / "share"
    share.mkdir(parents=True)
    text = compressible(3 << 20)
    files = {"text.txt": text, "random.bin": os.urandom(20 << 20),
             "mixed.bin": os.urandom(17 << 20) + text}
    for name, data in files.items():
        (share / name).write_bytes(data)
    alice = dcclient("--nick", "alice", "--share", str(share), "--data-dir", str(tmp_path / "alice-data"),
                     name="alice")
    bob = dcclient("--nick", "bob", "--data-dir", str(tmp_path / "bob-data"), "--set", "compress=true",
                   name="bob")
    alice.channel.wait_for("share.done", timeout=120)
    for p in (alice, bob):
        p.channel.request("connect", url=fakehub.url(proto))
    wait_nicks(bob.channel, {"alice", "bob"})
    target = tmp_path / "got"
    target.mkdir()
    sent = {}
    for name, data in files.items():
        res = bob.channel.request("download", nick="alice", path=f"/share/{name}", target_dir=str(target),
                                  timeout=120)
        assert res["compressed"] is True
        assert (target / name).read_bytes() == data
        assert res["tth"] == tth_of(share / name)
        lines = re.findall(r"upload to bob: ZL1 sent (\d+) bytes as (\d+), (\d+) of them stored",
                           alice.log_path.read_text())
        assert len(lines) == len(sent) + 1, lines
        sent[name] = tuple(map(int, lines[-1]))
    n, out, stored = sent["text.txt"]
    assert n == len(text) and stored == 0 and out < n // 2, sent
    n, out, stored = sent["random.bin"]
    assert stored >= n - 2 * (256 << 10) and out < n * 1.001, sent   # at most two probes deflated
    n, out, stored = sent["mixed.bin"]
    # The text is found within a MiB (entropy estimate), then deflated.
    assert (16 << 20) <= stored <= (18 << 20) and out < (18 << 20) + len(text) // 2, sent


@pytest.mark.parametrize("proto", ["nmdc", "adc"])
def test_resume_after_uploader_killed(fakehub, dcclient, tmp_path, proto):
    size = (200 if BIG else 24) << 20
    src = tmp_path / "alice" / "share"
    src.mkdir(parents=True)
    big = src / "big.bin"
    with open(big, "wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    url = fakehub.url(proto)

    def start_alice():
        a = dcclient("--nick", "alice", "--share", str(src), "--data-dir", str(tmp_path / "alice-data"),
                     name="alice")
        a.channel.wait_for("share.done", timeout=120)
        a.channel.request("connect", url=url)
        return a

    alice = start_alice()
    bob = dcclient("--nick", "bob", "--data-dir", str(tmp_path / "bob-data"), name="bob")
    bob.channel.request("connect", url=url)
    wait_nicks(bob.channel, {"alice", "bob"})
    target = tmp_path / "got"
    target.mkdir()
    bob.channel.request("list", nick="alice", timeout=30)
    b = bob.channel
    b.send_raw('{"id":"dl1","cmd":"download","args":{"nick":"alice","path":"/share/big.bin","target_dir":"%s"}}'
               % target)
    part = target / "big.bin.part"
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > size // 8):
        assert time.monotonic() < deadline, "download did not start"
        assert not (target / "big.bin").exists()
        time.sleep(0.005)
    alice.signal(signal.SIGKILL)
    alice.expect_rc = -signal.SIGKILL
    reply = b.reply("dl1", timeout=60)
    assert reply["ok"] is False and reply["code"] == "transfer-failed", reply
    have = part.stat().st_size
    assert 0 < have < size and not (target / "big.bin").exists()
    wait_gone = time.monotonic() + 10
    while "alice" in {u["nick"] for u in b.request("users")["users"]}:
        assert time.monotonic() < wait_gone
        b.wait_for("user.leave", timeout=10)

    alice = start_alice()   # the hash cache makes this quick
    wait_nicks(b, {"alice", "bob"})
    res = b.request("download", nick="alice", path="/share/big.bin", target_dir=str(target), timeout=120)
    assert res["resumed_from"] > 0 and res["resumed_from"] <= have
    assert res["received"] == size - res["resumed_from"]
    assert res["tth"] == tth_of(big)
    assert (target / "big.bin").read_bytes() == big.read_bytes()
    assert not part.exists()


def test_hash_cache_spares_a_rehash(dcclient, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    f = src / "f.bin"
    f.write_bytes(os.urandom(3 << 20))
    real = tth_of(f)
    data = tmp_path / "data"
    a = dcclient("--share", str(src), "--data-dir", str(data), name="first")
    assert a.channel.wait_for("share.done", timeout=60)["files_hashed"] == 1
    assert real in bz2.decompress((data / "files.xml.bz2").read_bytes()).decode()
    cache = data / "hashes.txt"
    assert real in cache.read_text()
    assert a.stop() == 0
    # Plant another TTH in the cache: if it shows up, the file was not rehashed.
    fake = "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
    cache.write_text(cache.read_text().replace(real, fake))
    b = dcclient("--share", str(src), "--data-dir", str(data), name="second")
    assert b.channel.wait_for("share.done", timeout=60)["files_hashed"] == 1
    assert fake in bz2.decompress((data / "files.xml.bz2").read_bytes()).decode()
    assert b.stop() == 0
    # A changed mtime invalidates the entry.
    os.utime(f, (time.time() - 100, time.time() - 100))
    c = dcclient("--share", str(src), "--data-dir", str(data), name="third")
    assert c.channel.wait_for("share.done", timeout=60)["files_hashed"] == 1
    xml = bz2.decompress((data / "files.xml.bz2").read_bytes()).decode()
    assert real in xml and fake not in xml


def test_hashing_does_not_block_the_loop(dcclient, tmp_path):
    a = dcclient("--data-dir", str(tmp_path / "data"), name="hasher")
    ch = a.channel
    ch.request("mkfile", path=str(tmp_path / "s" / "big.bin"), size=256 << 20, seed=5, timeout=60)
    ch.request("share", path=str(tmp_path / "s"))
    t0 = time.monotonic()
    ch.request("ping")
    ping = time.monotonic() - t0
    done = ch.wait_for("share.done", timeout=300)
    hashing = time.monotonic() - t0
    progress = [e for e in ch.events if e["event"] == "share.progress"]
    assert progress and 0 < progress[0]["bytes_hashed"] < progress[0]["bytes"] == 256 << 20
    assert done["bytes_hashed"] == 256 << 20
    # One hashing step is bounded (20 ms): a request waits at most about that.
    assert ping < 0.25 < hashing, (ping, hashing)
