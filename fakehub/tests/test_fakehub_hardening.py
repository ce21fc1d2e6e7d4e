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
