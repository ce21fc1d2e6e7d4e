"""fakehub's command line, config errors and trace file format."""
import json
import socket
import subprocess

import pytest

from fhraw import TIMEOUT, hub, lock_to_key  # noqa: F401

pytestmark = pytest.mark.sanitize


def run(bin_path, *args):
    return subprocess.run([str(bin_path("fakehub")), *map(str, args)], capture_output=True,
                          text=True, timeout=TIMEOUT)


def test_help_lists_every_option(bin_path):
    r = run(bin_path, "--help")
    assert r.returncode == 0
    for opt in ("--nmdc", "--adc", "--config", "--control", "--trace", "--log", "--name", "--topic",
                "--motd", "--max-users", "--max-line", "--login-timeout", "--idle-timeout",
                "--max-output", "--rate-limit", "--user", "SIGHUP", "SIGUSR1",
                "--nmdcs", "--adcs", "--cert", "--key", "--data-dir", "--tls-timeout"):
        assert opt in r.stdout, opt


@pytest.mark.parametrize("args,rc,msg", [
    (["--bogus", "1"], 2, "unknown option '--bogus'"),
    (["--nmdc"], 2, "needs a value"),
    (["--nmdc", "127.0.0.1:0", "--user", "nopassword"], 2, "NICK:PASSWORD"),
    (["--nmdc", "127.0.0.1:0", "--max-users", "0"], 1, "command line: max-users: 0 is out of range"),
    ([], 1, "nothing to listen on"),
    (["--adc", "localhost"], 1, "expected HOST:PORT"),
    (["--adc", "nohost:0"], 1, "nohost"),
    (["--nmdc", "127.0.0.1:0", "--config", "/nonexistent/hub.conf"], 1, "No such file"),
])
def test_usage_errors(bin_path, args, rc, msg):
    r = run(bin_path, *args)
    assert r.returncode == rc and msg in r.stderr, (r.returncode, r.stderr)
    assert r.stdout == ""                        # no ready line


def test_config_error_names_file_and_line(bin_path, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("name = ok\n# fine\nuser = alice\n")
    r = run(bin_path, "--nmdc", "127.0.0.1:0", "--config", conf)
    assert r.returncode == 1 and f"{conf}:3: user: expected" in r.stderr, r.stderr


def test_port_in_use(bin_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run(bin_path, "--adc", f"127.0.0.1:{s.getsockname()[1]}")
    assert r.returncode == 1 and "listen on" in r.stderr


def test_trace_has_every_line_both_ways(hub):
    h = hub()
    a = h.nmdc_conn().login("alice")
    x = h.adc_conn().login("xa")
    a.send("<alice> traced")
    a.expect(b"<alice> traced")
    h.proc.stop()
    h.expect_rc = None
    tr = h.trace()
    lines = [r for r in tr if "line" in r]
    assert all(isinstance(r["t"], float) and r["proto"] in ("nmdc", "adc") for r in lines)
    ins = [(r["nick"], r["line"]) for r in lines if r["dir"] == "in" and r["proto"] == "nmdc"]
    assert ("alice", "<alice> traced") in ins
    assert (None, "$ValidateNick alice") in ins          # nick unknown until accepted
    outs = [r for r in lines if r["dir"] == "out" and r["line"] == "<alice> traced"]
    assert len(outs) == 1 and outs[0]["conn"] == [r for r in lines if r["nick"] == "alice"][0]["conn"]
    # the $Key is binary: recorded as latin-1 code points, bytes recoverable
    key = [r for r in lines if r["line"].startswith("$Key ")][0]
    lock = [r for r in lines if r["line"].startswith("$Lock ")][0]["line"][6:].split(" Pk=")[0]
    raw = key["line"].encode("latin-1") if key.get("latin1") else key["line"].encode()
    assert raw == b"$Key " + lock_to_key(lock.encode())
    assert any(r["line"].startswith(f"BINF {x.sid}") and r["dir"] == "out" for r in lines)
    ts = [r["t"] for r in tr]
    assert ts == sorted(ts)                               # monotonic
    assert [r["event"] for r in tr if r.get("event") in ("login", "shutdown")] == \
        ["login", "login", "shutdown"]
    json.dumps(tr)
