"""dcclient as a bad peer on cue (docs/control-protocol.md, "Faults"): the
up_* settings make Alice an uploader that closes or stalls after N bytes,
corrupts a block, lies about the TTH leaves, throttles, or answers with an
error or "no slots"; Bob, our downloader, must meet each with the right
outcome (resume, refetch, a clear error, a slow but complete file). As a
hub client: hub_read=false stops reading the hub and the `flood` request
sends lines faster than the hub allows; the hub drops the one that does not
read at max-output, and the others are unaffected."""
import os
import pathlib
import time

import pytest

from dccproc import dcclient, fakehub, fakehub_factory, wait_nicks  # noqa: F401 (fixtures)
from dctest import ProcessError

pytestmark = pytest.mark.sanitize

SIZE = 3 << 20          # 3 MiB: the downloader keeps whole 1 MiB receive slots of a .part


@pytest.fixture(params=["nmdc", "adc"])
def proto(request):
    return request.param


def pair(fakehub, dcclient, tmp_path, proto, *alice_settings, bob_settings=(), size=SIZE):
    """Alice shares one random 3 MiB file with the given fault settings; Bob
    is online with her list fetched. Returns (alice, bob, file, target dir)."""
    share = tmp_path / "share"
    share.mkdir(exist_ok=True)
    data = share / "f.bin"
    data.write_bytes(os.urandom(size))
    sets = [a for s in alice_settings for a in ("--set", s)]
    alice = dcclient("--nick", "alice", "--share", str(share), *sets, name="alice")
    alice.channel.wait_for("share.done", timeout=60)
    alice.channel.request("connect", url=fakehub.url(proto))
    bob = dcclient("--nick", "bob", *[a for s in bob_settings for a in ("--set", s)], name="bob")
    bob.channel.request("connect", url=fakehub.url(proto))
    wait_nicks(bob.channel, {"alice", "bob"})
    bob.channel.request("list", nick="alice", timeout=30)
    target = tmp_path / "got"
    target.mkdir(exist_ok=True)
    return alice, bob, data, target


def download(bob, target, check=True, timeout=60):
    return bob.channel.request("download", nick="alice", path="/share/f.bin", target_dir=str(target),
                               timeout=timeout, check=check)


def test_close_after_n_bytes_then_resume(fakehub, dcclient, tmp_path, proto):
    # 8 MiB, closed after 7.5 MB: the .part keeps the whole MiBs verified by
    # then (how many depends on how far hashing had got: at least one)
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto,
                                    "up_close_after=7500000", "up_fault_count=1", size=8 << 20)
    r = download(bob, target, check=False)
    assert r["ok"] is False and "connection to alice lost" in r["error"], r
    part = target / "f.bin.part"
    kept = part.stat().st_size
    assert kept % (1 << 20) == 0 and (1 << 20) <= kept <= (7 << 20), kept
    done = download(bob, target)                                   # the fault is used up
    assert done["resumed_from"] == kept and done["size"] == 8 << 20
    assert (target / "f.bin").read_bytes() == data.read_bytes()
    assert "upload fault: closing" in alice.log_tail(200)


def test_corrupt_block_rejected_then_refetched(fakehub, dcclient, tmp_path, proto):
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto,
                                    "up_corrupt_block=2", "up_fault_count=1")
    r = download(bob, target, check=False)
    assert r["ok"] is False and "block 2 " in r["error"] and "corrupt data from alice" in r["error"], r
    assert (target / "f.bin.part").stat().st_size == 2 * 65536     # cut back to the bad block
    done = download(bob, target)
    assert done["resumed_from"] == 2 * 65536
    assert (target / "f.bin").read_bytes() == data.read_bytes()


def test_lying_tth_leaves_fail_the_download(fakehub, dcclient, tmp_path, proto):
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto, "up_bad_tthl=true")
    r = download(bob, target, check=False)
    assert r["ok"] is False and "alice's TTH leaves do not match TTH" in r["error"], r
    assert not (target / "f.bin").exists()


def test_throttled_upload_completes(fakehub, dcclient, tmp_path, proto):
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto, "up_throttle=1000000")
    t0 = time.monotonic()
    done = download(bob, target)
    took = time.monotonic() - t0
    assert took >= SIZE / 1000000 * 0.8, took                      # ~3.1 s at 1 MB/s
    assert (target / "f.bin").read_bytes() == data.read_bytes()
    assert done["bytes_per_second"] < 1000000 * 1.3


def test_stalled_upload_times_out_with_a_clear_error(fakehub, dcclient, tmp_path, proto):
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto, "up_stall_after=2500000",
                                    bob_settings=("transfer_timeout=1.5",))
    t0 = time.monotonic()
    r = download(bob, target, check=False)
    assert r["ok"] is False and "transfer stalled (no data within transfer_timeout)" in r["error"], r
    assert time.monotonic() - t0 >= 1.4
    assert (target / "f.bin.part").stat().st_size == 2 << 20


@pytest.mark.parametrize("setting,want", [("up_error=250 Gone fishing", "Gone fishing"),
                                          ("up_no_slots=true", "lot")])
def test_error_and_no_slots_answers(fakehub, dcclient, tmp_path, proto, setting, want):
    alice, bob, data, target = pair(fakehub, dcclient, tmp_path, proto, setting, "up_fault_count=1")
    r = download(bob, target, check=False)
    assert r["ok"] is False and want.lower() in r["error"].lower(), r
    download(bob, target)                                          # one request only
    assert (target / "f.bin").read_bytes() == data.read_bytes()


def test_client_that_stops_reading_is_dropped_at_max_output(fakehub_factory, dcclient, proto):
    hub = fakehub_factory("--max-output", "1048576")   # 1 MiB of backlog, then out
    alice, bob, carol = (dcclient("--nick", n, name=n) for n in ("alice", "bob", "carol"))
    for c in (alice, bob, carol):
        c.channel.request("connect", url=hub.url(proto))
    wait_nicks(carol.channel, {"alice", "bob", "carol"})
    alice.channel.request("set", name="hub_read", value=False)
    with pytest.raises(ProcessError, match="count"):
        bob.channel.request("flood", count=0)
    assert bob.channel.request("flood", count=3, size=100) == {"sent": 3}   # all at once
    carol.channel.wait_for("chat", text="flood 2 " + "x" * 92, **{"from": "bob"})
    # 12 MB, one 60 kB line every 5 ms: more than the socket buffers between
    # the hub and alice hold (its send buffer grows to 4 MiB here) plus the
    # hub's max-output, at a pace the readers keep up with
    assert bob.channel.request("flood", count=200, size=60000, interval=5) == {"queued": 200}
    assert bob.channel.wait_for("flood.done", timeout=30) == {"event": "flood.done", "sent": 200}
    carol.channel.wait_for("user.leave", nick="alice", timeout=30)
    for i in (0, 199):                      # everyone else got every line, in full
        ev = carol.channel.wait_for("chat", timeout=30, **{"from": "bob"})
        while not (ev["text"].startswith(f"flood {i} ") and len(ev["text"]) == 60000):
            ev = carol.channel.wait_for("chat", timeout=30, **{"from": "bob"})
        assert len(ev["text"]) == 60000
    assert "output queue over max-output" in hub.proc.log_tail(400)
    alice.channel.request("set", name="hub_read", value=True)
    alice.channel.wait_for("hub.disconnected", timeout=30)
