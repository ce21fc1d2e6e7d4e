"""`dcharness hub`: one hub from a profile, started as a scenario run starts
it (docs/scenarios.md, "dcharness hub"), against fakehub and uhub.

Each test reads the JSON ready line, logs a raw client in through every URL
it names (fakehub's raw NMDC/ADC clients, fhraw.py), and checks that the
hub (by the pid in the ready line) is gone after SIGTERM or SIGINT to
dcharness, after SIGKILL of dcharness (with what the hub's command left
running), and that a hub
dying on its own makes dcharness exit 1 with the reason.
"""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, dc_bin
from dctest import Process, require_binary
from dctest.procs import scaled

sys.path.insert(0, str(ROOT / "fakehub" / "tests"))
from fhraw import Adc, Nmdc, keyprint  # noqa: E402  raw clients: no dcclient between the test and the hub

pytestmark = pytest.mark.sanitize

PROFILES = [pytest.param("fakehub", id="fakehub"),
            pytest.param("uhub", id="uhub", marks=pytest.mark.interop)]
CLIENTS = {"adc": Adc, "nmdc": Nmdc, "adcs": Adc, "nmdcs": Nmdc}
SCHEMES = {"adc": "adc", "nmdc": "dchub", "adcs": "adcs", "nmdcs": "nmdcs"}


def start(tmp_path, profile, *args):
    """`dcharness hub --hub PROFILE` in tmp_path/hub; returns (process, ready line)."""
    if profile == "uhub":
        require_binary("uhub")
    proc = Process([dc_bin("dcharness"), "hub", "--hub", profile, *args],
                   name=f"dcharness hub {profile}", log=tmp_path / "dcharness.log")
    try:
        return proc, proc.wait_ready(scaled(20))
    except BaseException:
        proc.stop()
        raise


def start_time(pid):
    """The process's start time (field 22 of /proc/PID/stat), or None once it is gone."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def running(pid, started) -> bool:
    """Is this process (not a reused pid) still there and not a zombie?"""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return start_time(pid) == started and state != "Z"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_ready_line_login_and_clean_stop(tmp_path, profile, stop):
    proc, ready = start(tmp_path, profile, "--dir", tmp_path / "hub")
    try:
        pid, started = ready["pid"], start_time(ready["pid"])
        assert pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == profile
        assert ready["profile"] == profile and ready["dir"] == str(tmp_path / "hub")
        assert sorted(ready["urls"]) == (["adc", "adcs", "nmdc", "nmdcs"] if profile == "fakehub" else ["adc"])
        if profile == "fakehub":
            assert ready["control"] == str(tmp_path / "hub" / "hub.sock")
            assert pathlib.Path(ready["control"]).is_socket()
            assert ready["trace"] == str(tmp_path / "hub" / "hub.trace")
            assert ready["features"] == ["hub-control", "registered-users", "signals", "hup", "quit", "shutdown-log"]
        else:
            assert (ready["control"], ready["trace"], ready["features"]) == (None, None, ["registered-users", "hup"])
        for proto, url in ready["urls"].items():
            scheme, addr = url.split("://")
            assert scheme == SCHEMES[proto] and addr.startswith("127.0.0.1:")
            addr, _, kp = addr.partition("/?kp=")
            client = CLIENTS[proto](addr, tls=proto.endswith("s")).login(f"raw_{proto}")
            if kp:                                   # fakehub's TLS URLs carry its keyprint
                assert keyprint(client.sock.getpeercert(binary_form=True)) == kp
            client.close()
        proc.signal(stop)
        assert proc.wait(scaled(15)) == 0, proc.log_tail()
    finally:
        proc.stop()
    assert not running(pid, started)
    log = (tmp_path / "hub" / "hub.log").read_text()   # the hub's output, kept with --dir
    assert "run| " in log and (profile != "fakehub" or "shutdown (SIGTERM)" in log)


@pytest.mark.parametrize("profile", PROFILES)
def test_sigkill_of_dcharness_takes_the_hub_along(tmp_path, profile):
    proc, ready = start(tmp_path, profile, "--dir", tmp_path / "hub")   # a SIGKILLed dcharness removes nothing
    pid, started = ready["pid"], start_time(ready["pid"])
    try:
        assert running(pid, started)
        proc.signal(signal.SIGKILL)
        assert proc.wait(scaled(10)) == -signal.SIGKILL
        deadline = time.monotonic() + scaled(10)
        while running(pid, started) and time.monotonic() < deadline:
            time.sleep(0.01)   # PDEATHSIG is asynchronous; nothing to wait on but /proc
    finally:
        proc.stop()
    assert not running(pid, started)


def test_hub_dying_on_its_own_is_a_failure_and_the_temp_dir_goes(tmp_path):
    proc, ready = start(tmp_path, "fakehub")
    try:
        assert pathlib.Path(ready["dir"]).is_dir()
        os.kill(ready["pid"], signal.SIGKILL)
        assert proc.wait(scaled(10)) == 1
    finally:
        proc.stop()
    assert "hub was killed by signal 9 (SIGKILL)" in proc.log_tail()
    assert not pathlib.Path(ready["dir"]).exists()   # no --dir: a temp dir, removed


@pytest.mark.parametrize("args, status, text", [
    (["--hub", "uhub", "--proto", "nmdc"], 3, "hub profile uhub does not speak nmdc"),
    (["--hub", "nosuchhub"], 2, "no hub profile named nosuchhub"),
    (["--user", "carol"], 2, "--user is NICK:PASSWORD or NICK:PASSWORD:op"),
    (["--proto", "irc"], 2, "--proto takes a list of nmdc, adc, nmdcs, adcs"),
    (["--hub", "uhub-tls", "--proto", "adc"], 3, "hub profile uhub-tls does not speak adc"),
], ids=["proto-not-spoken", "unknown-profile", "bad-user", "bad-proto", "tls-only-profile"])
def test_refusals_start_nothing(tmp_path, args, status, text):
    res = subprocess.run([dc_bin("dcharness"), "hub", "--dir", tmp_path / "hub", *args],
                         capture_output=True, text=True, timeout=scaled(10))
    assert (res.returncode, res.stdout) == (status, "") and text in res.stderr, res.stderr
    assert not (tmp_path / "hub").exists()


def test_help_documents_the_command():
    res = subprocess.run([dc_bin("dcharness"), "--help"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0
    assert "dcharness hub [--hub PROFILE] [--proto LIST]" in res.stdout and "--dir DIR" in res.stdout


@pytest.mark.interop
def test_uhub_tls_profile_serves_adcs_only(tmp_path):
    """harness/profiles/uhub-tls.hub: a certificate made at start, TLS
    required (a plain login is reset), a raw ADC login over TLS works."""
    require_binary("uhub")
    proc, ready = start(tmp_path, "uhub-tls", "--dir", tmp_path / "hub")
    try:
        assert list(ready["urls"]) == ["adcs"]
        addr = ready["urls"]["adcs"].removeprefix("adcs://")
        c = Adc(addr, tls=True).login("raw_tls")
        assert keyprint(c.sock.getpeercert(binary_form=True)).startswith("SHA256/")
        c.close()
        plain = Adc(addr)
        plain.send("HSUP ADBASE ADTIGR")
        plain.wait_closed()
        plain.close()
        proc.signal(signal.SIGTERM)
        assert proc.wait(scaled(15)) == 0, proc.log_tail()
    finally:
        proc.stop()


def test_sigkill_of_dcharness_takes_the_hubs_children_along(tmp_path):
    """A hub command that leaves a child of its own (here `sh -c "sleep &
    exec fakehub"`): after SIGKILL of dcharness, the server process it forked
    stops the hub's process group and kills what it adopted."""
    nap = f"3600.{os.getpid()}{time.monotonic_ns() % 100000}"   # a sleep no one else runs
    text = (ROOT / "harness" / "profiles" / "fakehub.hub").read_text()
    assert "\ncommand {bin}/fakehub " in text
    text = text.replace("\ncommand {bin}/fakehub ",
                        f'\ncommand sh -c "sleep {nap} >/dev/null 2>&1 & exec \\"$0\\" \\"$@\\"" {{bin}}/fakehub ')
    profile = tmp_path / "wrapped.hub"
    profile.write_text(text)
    proc, ready = start(tmp_path, profile)
    naps = lambda: subprocess.run(["pgrep", "-f", f"sleep {nap}"], capture_output=True, text=True).stdout.split()
    try:
        assert len(naps()) == 1
        proc.signal(signal.SIGKILL)
        assert proc.wait(scaled(10)) == -signal.SIGKILL
        deadline = time.monotonic() + scaled(10)
        while naps() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not naps()
        assert not pathlib.Path(ready["dir"]).exists()   # and the server removed the directory
    finally:
        proc.stop()
        for pid in naps():
            os.kill(int(pid), signal.SIGKILL)
