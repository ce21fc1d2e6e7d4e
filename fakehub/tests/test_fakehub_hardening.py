"""Hardening of fakehub's and dcclient's local surfaces: control sockets
are 0600 whatever the umask (here: umask 000, under which the old code made
them world-writable)."""
import os
import stat

import pytest

from dctest import JsonLines, Process

pytestmark = pytest.mark.sanitize


def test_control_sockets_are_0600_under_umask_000(tmp_path, bin_path):
    hub_sock, cli_sock = tmp_path / "hub.sock", tmp_path / "cli.sock"
    old = os.umask(0)
    try:
        hub = Process([bin_path("fakehub"), "--nmdc", "127.0.0.1:0", "--control", str(hub_sock)],
                      name="fakehub", log=tmp_path / "fakehub.log")
        cli = Process([bin_path("dcclient"), "--control-socket", str(cli_sock)], name="dcclient",
                      stdin_pipe=True, log=tmp_path / "dcclient.log")
    finally:
        os.umask(old)
    try:
        hub.wait_ready()
        cli.wait_ready()
        for path in (hub_sock, cli_sock):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode == 0o600, f"{path}: mode {oct(mode)}"
        with JsonLines.unix(hub_sock) as ch:     # the owner still gets in
            assert ch.request("ping") is not None
        with JsonLines.unix(cli_sock) as ch:
            assert ch.request("ping") is not None
    finally:
        assert hub.stop() == 0, hub.log_tail()
        assert cli.stop() == 0, cli.log_tail()


def test_early_sigterms_leave_no_temp_files(tmp_path, bin_path):
    """SIGTERM within the first milliseconds, while fakehub may be writing
    its generated key and certificate into --data-dir: signals wait until
    the hub handles them, so it shuts down cleanly (exit 0), and the files
    are written atomically, so no key.pem.<pid>.tmp is ever left."""
    import random
    import shutil
    import signal
    import subprocess
    import time
    from dctest.procs import _die_with_parent

    data = tmp_path / "data"
    outcomes = {"clean": 0, "before main": 0, "cert written": 0}
    rng = random.Random(15)
    for i in range(100):
        shutil.rmtree(data, ignore_errors=True)
        p = subprocess.Popen([bin_path("fakehub"), "--adcs", "127.0.0.1:0", "--data-dir", str(data),
                              "--log", str(tmp_path / "fakehub.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=_die_with_parent)
        time.sleep(rng.uniform(0, 0.03))
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        # Killed only if the signal beat main() (the dynamic loader): then
        # nothing was written.
        assert rc in (0, -signal.SIGTERM), f"start {i}: exit status {rc}"
        outcomes["clean" if rc == 0 else "before main"] += 1
        names = sorted(os.listdir(data)) if data.exists() else []
        assert not [n for n in names if n.endswith(".tmp")], f"start {i}: left {names}"
        assert names in ([], ["cert.pem", "key.pem"]), f"start {i}: {names}"
        if "cert.pem" in names:
            outcomes["cert written"] += 1
    print(outcomes)
    assert outcomes["clean"] > 0
