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

from dctest import require_binary

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
