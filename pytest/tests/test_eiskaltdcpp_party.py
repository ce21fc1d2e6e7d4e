"""The eiskaltdcpp party (parties/eiskaltdcpp_party.py): the Alice/Bob
example runs through it alone and mixed with dcclient, and its daemon never
outlives it, also when the adapter is SIGKILLed."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from dctest import ProcessError, require_binary

pytestmark = pytest.mark.interop
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("choice", [["eiskaltdcpp"], ["alice=eiskaltdcpp"], ["bob=eiskaltdcpp"]],
                         ids=["both", "alice", "bob"])
def test_example_runs_with_eiskaltdcpp_parties(choice, request, tmp_path):
    require_binary("eiskaltdcpp-daemon")
    bin_dir = pathlib.Path(os.environ.get("DC_BUILD_DIR", ROOT / "build")).resolve() / "bin"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", tmp_path / "t",
            "--dc-bin-dir", bin_dir, str(ROOT / "pytest" / "tests" / "test_example.py") + "::test_alice_and_bob"]
    for c in choice:
        argv += ["--dc-client", c]
    run = subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]


def _daemons_of(pid):
    """PIDs of eiskaltdcpp-daemon processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            comm, rest = stat.split("(", 1)[1].split(")", 1)
            if comm.startswith("eiskaltdcpp") and int(rest.split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_daemon_dies_with_its_party(dc_client, tmp_path, sig):
    require_binary("eiskaltdcpp-daemon")
    alice = dc_client("alice", profile="eiskaltdcpp")
    (tmp_path / "s").mkdir()
    alice.share(tmp_path / "s")                 # starts the daemon
    [daemon] = _daemons_of(alice.pid)
    assert os.getpgid(daemon) == daemon         # its own process group
    alice.signal(sig)
    assert alice.wait(15) == (0 if sig == signal.SIGTERM else -9)
    deadline = time.monotonic() + 10
    while _alive(daemon):
        assert time.monotonic() < deadline, f"daemon {daemon} outlived its party"
        time.sleep(0.05)


@pytest.mark.parametrize("dc_proto", ["nmdc", "adc"])
def test_lists_twice_then_downloads_and_refuses_with_codes(dc_hub, dc_client, tmp_path):
    """A second list of the same peer comes from the list already fetched
    (a new client connection would wait 60 s: real-peers.md quirk 5), and
    refusals carry the contract's codes."""
    require_binary("eiskaltdcpp-daemon")
    share = tmp_path / "files"
    (share / "sub").mkdir(parents=True)
    (share / "sub" / "k.bin").write_bytes(b"k" * 1025)
    alice = dc_client("alice")
    bob = dc_client("bob", profile="eiskaltdcpp")
    alice.share(share)
    alice.wait_for("share.done")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url, timeout=30)
    bob.wait_for("user.join", nick="alice", share=1025)
    assert bob.list("alice")["tree"]["children"][0]["name"] == "files"
    t0 = time.monotonic()
    assert bob.list("alice", path="/files/sub")["tree"]["children"][0]["size"] == 1025
    assert time.monotonic() - t0 < 5
    got = tmp_path / "got"
    got.mkdir()
    for kwargs, code in (({"path": "/files/nope"}, "no-such-path"), ({"path": "/files/sub"}, "not-a-file"),
                         ({"path": "/files/../k.bin"}, "no-such-path"), ({"tth": "A" * 39}, "no-such-path")):
        with pytest.raises(ProcessError) as e:
            bob.download("alice", got, **kwargs)
        assert e.value.code == code, (kwargs, e.value)
    with pytest.raises(ProcessError) as e:
        bob.download("alice", tmp_path / "missing", path="/files/sub/k.bin")
    assert e.value.code == "no-such-dir"
    done = bob.download("alice", got, path="/files/sub/k.bin", name="renamed.bin")
    assert (got / "renamed.bin").read_bytes() == b"k" * 1025 and done["file"] == str(got / "renamed.bin")
    with pytest.raises(ProcessError) as e:
        bob.list("nobody")
    assert e.value.code == "not-online"


@pytest.mark.parametrize("fault, code, words", [
    ({"up_bad_tthl": True}, "transfer-failed",
     ("alice's TTH leaves do not match TTH", "dropped alice as a source", "Full tree does not match TTH root")),
    ({"up_error": "151 File Not Available"}, "refused", ("dropped alice as a source", "File not available")),
    ({"up_no_slots": True}, "transfer-failed", ("no data from alice within transfer_timeout",)),
    # closed mid-file: the daemon keeps the source and reconnects only a minute later
    ({"up_close_after": 30000}, "transfer-failed", ("within transfer_timeout", "still lists alice as a source")),
], ids=["lying-tth", "file-not-available", "no-slots", "closed"])
def test_faulty_uploader_fails_the_download_with_a_code(dc_hub, dc_client, tmp_path, fault, code, words):
    """The daemon never gives up on a queued file by itself (it keeps the
    item, drops the source, goes silent): the download still fails promptly
    with the contract's code, names the daemon's reason, leaves nothing under
    the final name, and a second try meets the fault again."""
    require_binary("eiskaltdcpp-daemon")
    share = tmp_path / "files"
    share.mkdir()
    (share / "f.bin").write_bytes(os.urandom(1 << 20))
    alice = dc_client("alice", **fault)
    bob = dc_client("bob", profile="eiskaltdcpp", transfer_timeout=3)
    alice.share(share)
    alice.wait_for("share.done")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url, timeout=30)
    bob.wait_for("user.join", nick="alice", share=1 << 20)
    got = tmp_path / "got"
    got.mkdir()
    t0 = time.monotonic()
    with pytest.raises(ProcessError) as e:
        bob.download("alice", got, path="/files/f.bin", timeout=25)
    took = time.monotonic() - t0
    assert e.value.code == code, e.value
    assert all(w in str(e.value) for w in words), e.value
    assert took < 15, took                       # the list, then the fault: seconds, not the reply bound
    failed = bob.wait_for("transfer.failed", path="/files/f.bin")
    assert failed["nick"] == "alice" and failed["error"] in str(e.value)
    assert list(got.iterdir()) == []
    with pytest.raises(ProcessError) as again:         # the daemon's queue item is gone: a fresh try
        bob.download("alice", got, path="/files/f.bin", timeout=25)
    assert again.value.code == code, again.value
