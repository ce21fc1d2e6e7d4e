"""--dc-hub PROFILE: dc_hub started from a dcharness hub profile by
`dcharness hub` (dctest.hub.start_profile_hub).

The shipped fakehub profile (ready line, control socket, trace), a profile
written here that exercises `port pick`, `ready port`, `file`, `per-user`
and `stop`, uhub's shipped profile (ADC handshake readiness, config files,
NMDC skipped), and a profile that cannot be found.
"""
import json
import pathlib

import pytest

from conftest import BUILD_DIR, ROOT
from dctest import require_binary

ARGS = ["-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}", "-p", "no:cacheprovider"]

RECORD = """
import json, os, pathlib

def record(hub, **fields):
    comm = pathlib.Path(f"/proc/{hub.pid}/comm").read_text().strip()
    with open(os.environ["DCTEST_RECORD"], "a") as f:
        f.write(json.dumps(dict(fields, pid=hub.pid, comm=comm, url=hub.url)) + "\\n")
"""

# fakehub through a profile that uses what uhub needs: the harness picks the
# port, readiness is an open port, options come from a written config file
# and registered users from per-user words.
PORT_PICK_PROFILE = """
name picked
protocols adc
features registered-users
port pick
file hub.conf "motd = motd from a \\"profile\\" file"
file hub.conf "max-users = 10"
command {bin}/fakehub --adc 127.0.0.1:{port} --config {dir}/hub.conf
per-user --user {user}:{password}{op_suffix}
ready port
url adc "adc://127.0.0.1:{port}"
stop INT 2s
"""


@pytest.fixture
def record(pytester, monkeypatch, tmp_path):
    rec = tmp_path / "record.jsonl"
    monkeypatch.setenv("DCTEST_RECORD", str(rec))
    pytester.makepyfile(dcrecord=RECORD)
    return lambda: [json.loads(line) for line in rec.read_text().splitlines()] if rec.exists() else []


def gone(pid):
    return not pathlib.Path(f"/proc/{pid}").exists()


def test_shipped_fakehub_profile(pytester, record):
    pytester.makepyfile(test_inner="""
        from dcrecord import record

        def test_hub(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            dc_hub.wait_for("login", nick="alice")
            assert [u["nick"] for u in dc_hub.users()] == ["alice"]
            record(dc_hub, trace=str(dc_hub.trace_path))
    """)
    result = pytester.runpytest_inprocess(*ARGS, "--dc-hub", "fakehub")
    result.assert_outcomes(passed=2)
    entries = record()
    assert [e["comm"] for e in entries] == ["fakehub", "fakehub"]
    assert all(gone(e["pid"]) for e in entries)
    for e in entries:   # the profile's trace, flushed by a clean stop
        assert '"event":"shutdown"' in pathlib.Path(e["trace"]).read_text()


def test_profile_file_with_port_pick_files_and_users(pytester, record):
    (pytester.path / "picked.hub").write_text(PORT_PICK_PROFILE)
    pytester.makepyfile(test_inner="""
        import pytest
        from dcrecord import record

        @pytest.mark.dc_hub(user=["carol:s3cret:op"])
        def test_hub(dc_hub, dc_client):
            carol = dc_client("carol", password="s3cret")
            carol.connect(dc_hub.url)
            carol.wait_for("hub.status", text='motd from a "profile" file')
            assert [u["op"] for u in carol.users()] == [True]
            record(dc_hub)
    """)
    result = pytester.runpytest_inprocess(*ARGS, "--dc-hub", "picked.hub", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*hub profile picked does not speak nmdc*"])
    [entry] = record()
    assert entry["comm"] == "fakehub" and entry["url"].startswith("adc://127.0.0.1:")
    assert gone(entry["pid"])


@pytest.mark.interop
def test_uhub_profile(pytester, record):
    require_binary("uhub")
    pytester.makepyfile(test_inner="""
        from dcrecord import record

        def test_pm_through_uhub(dc_hub, dc_client):
            alice, bob = dc_client("alice"), dc_client("bob")
            alice.connect(dc_hub.url)
            bob.connect(dc_hub.url)
            alice.wait_for("user.join", nick="bob")   # bob's login is done; alice hears of it a moment later
            alice.pm("bob", "via uhub")
            bob.wait_for("pm", from_="alice", text="via uhub")
            record(dc_hub)
    """)
    result = pytester.runpytest_inprocess(*ARGS, "--dc-hub", "uhub", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*hub profile uhub does not speak nmdc*"])
    [entry] = record()
    assert entry["comm"] == "uhub" and gone(entry["pid"])


def test_unknown_profile_is_a_usage_error(pytester):
    pytester.makepyfile(test_inner="def test_x(dc_hub): pass\n")
    result = pytester.runpytest_inprocess(*ARGS, "--dc-hub", "nosuchhub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines([f"*no hub profile named nosuchhub*{ROOT / 'harness' / 'profiles'}*"])
