"""The reference buggy hub (tests/data/buggyhub/buggyhub.c) has the defects
it is meant to have, and its --fixed variant does not: a raw NMDC client logs
in and chats; after the warm-up SIGQUIT leaves it alive in a futex wait
(the self-deadlock), SIGTERM kills it, SIGINT runs the shutdown hook twice;
--fixed exits 0 on TERM/QUIT/INT with the hook once. The harness's reports
of these defects are tested in test_signals.py."""
import pathlib
import signal
import sys
import time

import pytest

from conftest import ROOT, dc_bin
from dctest import Process
from dctest.procs import free_port, scaled

sys.path.insert(0, str(ROOT / "fakehub" / "tests"))
from fhraw import Nmdc  # noqa: E402

pytestmark = pytest.mark.sanitize


def start(tmp_path, *args, warmup=300):
    port = free_port()
    p = Process([dc_bin("buggyhub"), "--port", port, "--warmup", warmup, *args], name="buggyhub",
                log=tmp_path / "buggyhub.log", stdout_to_log=True)
    deadline = time.monotonic() + scaled(10)
    while "listening" not in p.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    return p, f"127.0.0.1:{port}"


def hooks(p):
    return p.log_tail(200).count("shutdown hook ran")


@pytest.mark.parametrize("variant", [[], ["--fixed"]], ids=["buggy", "fixed"])
def test_login_and_chat(tmp_path, variant):
    p, addr = start(tmp_path, *variant)
    try:
        a, b = Nmdc(addr), Nmdc(addr)
        a.login("alice")
        b.login("bob")
        a.send("<alice> hello|")
        b.expect(b"<alice> hello")
    finally:
        p.stop()


def test_quit_after_warmup_deadlocks_in_the_handler(tmp_path):
    p, _ = start(tmp_path)
    try:
        time.sleep(scaled(0.8))
        p.signal(signal.SIGQUIT)
        time.sleep(scaled(1))
        assert p.proc.poll() is None, "the buggy hub exited on SIGQUIT after its warm-up"
        wchan = pathlib.Path(f"/proc/{p.pid}/wchan").read_text()
        assert "futex" in wchan, wchan
    finally:
        assert p.stop(grace=0.5) in (-signal.SIGTERM, -signal.SIGKILL)   # TERM: default action


@pytest.mark.parametrize("sig,rc,nhooks", [(signal.SIGTERM, -signal.SIGTERM, 0), (signal.SIGINT, 0, 2)])
def test_term_kills_it_and_int_runs_the_hook_twice(tmp_path, sig, rc, nhooks):
    p, _ = start(tmp_path)
    time.sleep(scaled(0.8))
    p.signal(sig)
    assert p.wait(scaled(5)) == rc
    p.stop()
    assert hooks(p) == nhooks


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT, signal.SIGINT])
def test_fixed_stops_cleanly_with_the_hook_once(tmp_path, sig):
    p, _ = start(tmp_path, "--fixed")
    time.sleep(scaled(0.8))
    p.signal(sig)
    assert p.wait(scaled(5)) == 0
    p.stop()
    assert hooks(p) == 1
