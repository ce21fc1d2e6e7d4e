"""Tests of the dctest pytest plugin itself (dctest.plugin).

Most run an inner pytest session (pytester) whose tests use the fixtures and
write what they saw (PIDs, URLs, workers) to a record file; the outer test
then checks the inner outcome, the report, and that every PID is gone. The
in-process runs matter for the "no process left" checks: PR_SET_PDEATHSIG
cannot clean up for an inner session that shares our process, so only the
fixtures' teardown can.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILD_DIR, ROOT
from dctest.client import Client
from dctest.procs import ProcessError, scaled

PYTEST_DIR = ROOT / "pytest"

RECORD = """
import json, os, pathlib, time

def record(**fields):
    with open(os.environ["DCTEST_RECORD"], "a") as f:
        f.write(json.dumps(fields) + "\\n")

def comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
"""


@pytest.fixture
def inner(pytester, monkeypatch, tmp_path):
    """An inner session's helpers: the record file, its entries, the plugin args."""
    rec = tmp_path / "record.jsonl"
    monkeypatch.setenv("DCTEST_RECORD", str(rec))
    monkeypatch.setenv("PYTHONPATH", str(PYTEST_DIR))
    pytester.makepyfile(dcrecord=RECORD)

    class Inner:
        record = rec
        args = ["-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}", "-p", "no:cacheprovider"]

        @staticmethod
        def entries():
            return [json.loads(line) for line in rec.read_text().splitlines()] if rec.exists() else []
    return Inner


def gone(pid: int) -> bool:
    """Not running and reaped (a zombie would still have /proc/<pid>)."""
    return not pathlib.Path(f"/proc/{pid}").exists()


def all_pids(entries):
    return [pid for e in entries for pid in [e["hub"], *e["clients"]]]


def test_fixtures_start_processes_and_teardown_stops_them(pytester, inner):
    pytester.makepyfile(test_inner="""
        from dcrecord import record, comm

        def test_one(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            record(proto=dc_hub.proto, url=dc_hub.url, hub=dc_hub.pid, clients=[alice.pid],
                   comms=[comm(dc_hub.pid), comm(alice.pid)],
                   users=[u["nick"] for u in dc_hub.users()])
    """)
    result = pytester.runpytest_inprocess(*inner.args)
    result.assert_outcomes(passed=2)
    entries = inner.entries()
    assert sorted(e["proto"] for e in entries) == ["adc", "nmdc"]
    for e in entries:
        assert e["comms"] == ["fakehub", "dcclient"]
        assert e["url"].startswith("adc://127.0.0.1:" if e["proto"] == "adc" else "dchub://127.0.0.1:")
        assert e["users"] == ["alice"]
    assert len({e["hub"] for e in entries}) == 2
    assert all(gone(pid) for pid in all_pids(entries)), entries


def test_dc_proto_option_and_marker_options(pytester, inner):
    pytester.makepyfile(test_inner="""
        import pytest
        from dcrecord import record

        @pytest.mark.dc_hub(motd="welcome to the test hub")
        def test_motd(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            alice.wait_for("hub.status", text="welcome to the test hub")  # ADC: IMSG
            record(proto=dc_hub.proto, hub=dc_hub.pid, clients=[alice.pid])
    """)
    result = pytester.runpytest_inprocess(*inner.args, "--dc-proto", "adc", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_motd[[]adc[]] PASSED*"])
    assert [e["proto"] for e in inner.entries()] == ["adc"]
    bad = pytester.runpytest_inprocess(*inner.args, "--dc-proto", "nmdc,irc")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_tls_protocols_log_in_over_tls_with_the_hub_keyprint(pytester, inner):
    pytester.makepyfile(test_inner="""
        from dcrecord import record

        def test_tls(dc_hub, dc_client):
            alice = dc_client("alice")
            res = alice.connect(dc_hub.url)
            assert res["tls"] is True and dc_hub.url.endswith("/?kp=" + res["keyprint"])
            assert res["protocol"] == dc_hub.proto[:-1]
            record(proto=dc_hub.proto, hub=dc_hub.pid, clients=[alice.pid])
    """)
    result = pytester.runpytest_inprocess(*inner.args, "--dc-proto", "adcs,nmdcs", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_tls[[]adcs[]] PASSED*", "*test_tls[[]nmdcs[]] PASSED*"])
    assert sorted(e["proto"] for e in inner.entries()) == ["adcs", "nmdcs"]
    assert all(gone(pid) for pid in all_pids(inner.entries()))


def test_failed_test_leaves_no_process_and_gets_logs_attached(pytester, inner):
    pytester.makepyfile(test_inner="""
        from dcrecord import record

        def test_fails(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            alice.say("chat-marker-1234")
            alice.wait_for("chat", text="chat-marker-1234")
            record(hub=dc_hub.pid, clients=[alice.pid])
            assert False, "deliberate failure"

        def test_passes(dc_hub, dc_client):
            bob = dc_client("bob")
            bob.connect(dc_hub.url)
            record(hub=dc_hub.pid, clients=[bob.pid])
    """)
    result = pytester.runpytest_inprocess(*inner.args, "--dc-proto", "nmdc", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    entries = inner.entries()
    assert len(entries) == 2 and all(gone(pid) for pid in all_pids(entries)), entries
    # The failed test's report carries the hub log, the full trace (the hub
    # was stopped first, so it is flushed) and alice's log and events.
    result.stdout.fnmatch_lines([
        "*dctest fakehub log: *hub.log*",
        "*fakehub*listening*",
        "*dctest fakehub trace: *hub.trace*",
        '*"dir":"in","line":"<alice> chat-marker-1234"*',
        '*"event":"shutdown"*',
        "*dctest dcclient alice log: *dcclient.log*",
        "*dctest dcclient alice events*",
        '*"event": "chat"*chat-marker-1234*',
    ])
    # ... and only the failed one.
    assert result.stdout.str().count("dctest fakehub log:") == 1
    assert "dctest dcclient bob" not in result.stdout.str()


def test_unexpected_exit_fails_teardown_but_a_requested_one_does_not(pytester, inner):
    pytester.makepyfile(test_inner="""
        import os, signal

        def test_killed_behind_our_back(dc_hub, dc_client):
            alice = dc_client("alice")
            os.kill(alice.pid, signal.SIGKILL)
            alice.wait()

        def test_killed_on_purpose(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.signal(signal.SIGKILL)
            alice.wait()

        def test_hub_shut_down_on_request(dc_hub):
            dc_hub.shutdown()
            dc_hub.wait_for("shutdown")
            assert dc_hub.wait() == 0
    """)
    result = pytester.runpytest_inprocess(*inner.args, "--dc-proto", "adc")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_killed_behind_our_back*",
                                 "*dcclient alice (pid *) exited by itself with status -9*"])


def sigint_default() -> None:
    """A child started from a non-interactive shell's background job inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt: give the
    inner pytest the default disposition, as a terminal's Ctrl-C finds it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_keyboard_interrupt_tears_everything_down(pytester, inner):
    """A real SIGINT to an inner pytest blocked in a test: the fixtures'
    teardown must stop the hub with SIGTERM (its trace ends with the
    shutdown event, which a PDEATHSIG SIGKILL would never write)."""
    test = pytester.makepyfile(test_inner="""
        import time
        from dcrecord import record

        def test_sleeps(dc_hub, dc_client):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            record(hub=dc_hub.pid, clients=[alice.pid], trace=str(dc_hub.trace_path))
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *inner.args, "--dc-proto", "nmdc", str(test)],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + scaled(30)
        while not inner.entries() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert inner.entries(), proc.communicate(timeout=5)[0] if proc.poll() is not None else "no record"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    entry = inner.entries()[0]
    assert all(gone(pid) for pid in all_pids([entry])), entry
    trace = [json.loads(line) for line in pathlib.Path(entry["trace"]).read_text().splitlines()]
    events = [(e.get("event"), e.get("nick")) for e in trace if "event" in e]
    assert ("logout", "alice") in events and ("shutdown", None) in events, events


def test_xdist_workers_get_their_own_hubs(pytester, inner):
    """-n 2: two tests that wait for each other (so they must run at once, on
    different workers) each get their own hub, port and directory."""
    pytester.makepyfile(test_inner="""
        import os, time
        from dcrecord import record

        def rendezvous():
            deadline = time.monotonic() + 30
            while len(open(os.environ["DCTEST_RECORD"]).readlines()) < 2:
                assert time.monotonic() < deadline, "the other test never ran alongside"
                time.sleep(0.02)

        def test_a(dc_hub, dc_client, tmp_path):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            record(worker=os.environ["PYTEST_XDIST_WORKER"], url=dc_hub.url, hub=dc_hub.pid,
                   clients=[alice.pid], tmp=str(tmp_path))
            rendezvous()

        def test_b(dc_hub, dc_client, tmp_path):
            alice = dc_client("alice")
            alice.connect(dc_hub.url)
            record(worker=os.environ["PYTEST_XDIST_WORKER"], url=dc_hub.url, hub=dc_hub.pid,
                   clients=[alice.pid], tmp=str(tmp_path))
            rendezvous()
    """)
    result = pytester.runpytest_subprocess(*inner.args, "--dc-proto", "adc", "-n", "2",
                                           timeout=scaled(120))
    result.assert_outcomes(passed=2)
    entries = inner.entries()
    assert len(entries) == 2
    for key in ("worker", "url", "hub", "tmp"):
        assert entries[0][key] != entries[1][key], (key, entries)
    assert all(gone(pid) for pid in all_pids(entries)), entries


def test_timeouts_scale_with_the_multiplier(dc_client, monkeypatch):
    alice = dc_client("alice")
    monkeypatch.setenv("DCTEST_TIMEOUT_MULTIPLIER", "4")
    start = time.monotonic()
    with pytest.raises(ProcessError, match=r"within 1\.0s"):
        alice.wait_for("chat", timeout=0.25)
    assert 1.0 <= time.monotonic() - start < 3.0


def test_client_has_a_method_per_documented_request():
    """docs/control-protocol.md's Requests table and dctest.client.Client
    must not drift apart: every documented cmd is a documented method."""
    doc = (ROOT / "docs" / "control-protocol.md").read_text()
    section = doc.split("## Requests", 1)[1].split("\n## ", 1)[0]
    cmds = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert {"connect", "pm", "users", "ping"} <= set(cmds)
    missing = [c for c in cmds if not callable(getattr(Client, c, None)) or not getattr(Client, c).__doc__]
    assert not missing, f"documented requests without a Client method: {missing}"


@pytest.mark.sanitize   # teardown fails on a sanitizer report in either process
def test_client_requests_over_a_real_process(dc_hub, dc_client):
    alice = dc_client("alice", description="first", slots=3)
    assert alice.ping() == {"pong": True}
    assert alice.get("description") == "first" and alice.get("slots") == 3
    alice.set("slots", 5)
    assert alice.get("slots") == 5
    assert {"nick", "slots", "description"} <= {s["name"] for s in alice.settings()}
    with pytest.raises(ProcessError, match="slots"):
        alice.set("slots", "five")
    with pytest.raises(ProcessError):
        alice.say("not connected yet")
    assert alice.connect(dc_hub.url)["protocol"] == dc_hub.proto
    alice.say("hello all")
    dc_hub.wait_for("chat", nick="alice", text="hello all")
    alice.disconnect()
    dc_hub.wait_for("logout", nick="alice")
    alice.quit()
    assert alice.wait() == 0


@pytest.mark.sanitize   # teardown fails on a sanitizer report in either process
def test_hub_control_requests(dc_hub, dc_client, dc_proto):
    alice, bob = dc_client("alice"), dc_client("bob")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    dc_hub.wait_for("login", nick="bob", proto=dc_proto)
    assert dc_hub.ping() == {"pong": True}
    dc_hub.chat("notice from the hub")   # NMDC: <Hub> chat, ADC: IMSG (a status line)
    alice.wait_for("chat" if dc_proto == "nmdc" else "hub.status", text="notice from the hub")
    line = "<Hub> raw to bob" if dc_proto == "nmdc" else "IMSG raw\\sto\\sbob"
    assert dc_hub.raw(line, nick="bob") == 1
    assert dc_hub.raw(line, all=True, proto=dc_proto) == 2
    dc_hub.kick("bob", reason="testing kicks")
    bob.wait_for("hub.disconnected")
    dc_hub.wait_for("logout", nick="bob")
    assert [u["nick"] for u in dc_hub.users()] == ["alice"]
    with pytest.raises(ProcessError, match="no such user"):
        dc_hub.kick("bob")


def test_docs_example_is_the_example_test():
    """docs/pytest.md shows pytest/tests/test_example.py's test verbatim."""
    doc = (ROOT / "docs" / "pytest.md").read_text()
    shown = doc.split("## An example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert shown.strip() and shown in (ROOT / "pytest" / "tests" / "test_example.py").read_text()


def test_hub_factory_options_protocols_and_trace(dc_hub_factory, dc_client):
    hub = dc_hub_factory(protocols=("adc",), name="solo")
    assert list(hub.urls) == ["adc"] and hub.url.startswith("adc://127.0.0.1:")
    alice = dc_client("alice")
    alice.connect(hub.url)
    hub.shutdown()
    alice.wait_for("hub.disconnected")
    assert hub.wait() == 0
    trace = hub.trace()   # flushed at shutdown
    assert {"event": "login", "nick": "alice"}.items() <= next(e for e in trace if e.get("event") == "login").items()
    assert any(e.get("line", "").startswith("IINF CT32 NIsolo") for e in trace)


def test_control_socket_path_over_the_unix_limit(tmp_path):
    """fakehub binds its socket relative to its dir and Hub connects through
    the dir's fd, started directly or by `dcharness hub`, however deep the dir."""
    from dctest.hub import start_fakehub, start_profile_hub
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    hubs = [start_fakehub(str(BUILD_DIR / "bin" / "fakehub"), deep / "direct")]
    try:
        hubs.append(start_profile_hub(str(BUILD_DIR / "bin" / "dcharness"), "fakehub", deep / "profile"))
        for hub in hubs:
            assert len(str(hub.control_path)) > 108
            assert hub.users() == []
    finally:
        assert [hub.stop() for hub in hubs] == [0] * len(hubs)
