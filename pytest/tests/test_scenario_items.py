"""Scenario files as pytest items (dctest.scenarios): collected one per
scenario and protocol, run through dcharness, with the harness's verdict,
skip reasons and failure report; off unless asked for; and interrupting a
running scenario item leaves no hub or client behind.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import BUILD_DIR, ROOT
from dctest.procs import scaled

pytestmark = pytest.mark.usefixtures("scenario_dir")

ONE_PROTOCOL = """
scenario "ADC only"
protocols adc
client alice
alice connect
alice expect hub.connected
"""


def sigint_default() -> None:
    """A child started from a non-interactive shell's background job inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt: give the
    inner pytest the default disposition, as a terminal's Ctrl-C finds it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def scenario_dir(pytester, monkeypatch):
    """pytester's dir holding a passing, a failing and an ADC-only scenario."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "pytest"))
    shutil.copy(ROOT / "scenarios" / "pm-both-ways.scn", pytester.path)
    shutil.copy(ROOT / "harness" / "tests" / "data" / "failing.scn", pytester.path)
    (pytester.path / "adc-only.scn").write_text(ONE_PROTOCOL)
    return pytester.path


ARGS = ["-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}", "-p", "no:cacheprovider"]


def test_items_run_through_dcharness(pytester):
    result = pytester.runpytest_inprocess(*ARGS, "--dc-scenarios", "-v")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines_random([
        "*adc-only.scn::adc PASSED*",
        "*failing.scn::adc FAILED*",
        "*failing.scn::nmdc FAILED*",
        "*pm-both-ways.scn::adc PASSED*",
        "*pm-both-ways.scn::nmdc PASSED*",
    ])
    assert "adc-only.scn::nmdc" not in result.stdout.str()
    # A failure shows the harness's own report: step, reason, logs, trace, rerun.
    result.stdout.fnmatch_lines([
        "*step: *failing.scn:14: bob expect pm from=alice*",
        "*why: bob saw no matching pm event within 1.0s*",
        "*--- hub trace: *hub.trace ---*",
        "*rerun: *dcharness run --keep --proto * --bin-dir *failing.scn*",
    ])


def test_off_unless_enabled_by_option_or_ini(pytester):
    assert pytester.runpytest_inprocess(*ARGS).ret == pytest.ExitCode.NO_TESTS_COLLECTED
    pytester.makeini("[pytest]\ndc_scenarios = true\n")
    result = pytester.runpytest_inprocess(*ARGS, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*5 tests collected*"])


def test_a_file_that_does_not_parse_is_one_failing_item(pytester):
    """Not one per protocol it meant to declare: the harness's error at file:line, once."""
    (pytester.path / "broken.scn").write_text("protocols nmdc adc\nclient alice\nalice shout hi\n")
    result = pytester.runpytest_inprocess(*ARGS, "--dc-scenarios", "-v", "--dc-proto", "nmdc,adc,adcs",
                                          "broken.scn")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken.scn::parse FAILED*", "*broken.scn:3: unknown verb 'shout'*"])


def test_protocol_option_and_hub_profile_reach_the_harness(pytester):
    result = pytester.runpytest_inprocess(*ARGS, "--dc-scenarios", "--dc-proto", "nmdc",
                                          "--dc-hub", "uhub", "-rs", "pm-both-ways.scn")
    # uhub speaks no NMDC: dcharness skips before starting anything.
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*pm-both-ways.scn*hub profile uhub does not speak nmdc*"])


TAGGED = """
import os, pathlib

def tagged(tag):
    needle = f"DCTEST_SCN_TAG={tag}".encode()
    pids = []
    for d in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if needle in (d / "environ").read_bytes().split(b"\\0") and int(d.name) != os.getpid():
                pids.append(int(d.name))
        except OSError:
            pass
    return pids
"""


def test_interrupted_item_leaves_nothing_running(pytester):
    """SIGINT to pytest while a scenario hangs: the item stops dcharness, which
    tears down its hub and clients, before pytest finishes (checked from the
    inner session's pytest_unconfigure, so PR_SET_PDEATHSIG, which would
    clean up after pytest exits anyway, cannot make this pass)."""
    shutil.copy(ROOT / "harness" / "tests" / "data" / "hang.scn", pytester.path)
    pytester.makepyfile(dctagged=TAGGED)
    pytester.makeconftest("""
        import os, pathlib
        from dctagged import tagged

        def pytest_unconfigure(config):
            left = tagged(os.environ["DCTEST_SCN_TAG"])
            pathlib.Path(os.environ["DCTEST_SCN_LEFT"]).write_text(repr(left))
    """)
    tag, left_file = uuid.uuid4().hex, pytester.path / "left.txt"
    env = dict(os.environ, DCTEST_SCN_TAG=tag, DCTEST_SCN_LEFT=str(left_file))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *ARGS, "--dc-scenarios", "hang.scn"],
                            cwd=pytester.path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=sigint_default)
    ns = {}
    exec(TAGGED, ns)
    try:
        deadline = time.monotonic() + scaled(30)
        # pytest, dcharness, its runner, fakehub and two dcclients
        while len(ns["tagged"](tag)) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(ns["tagged"](tag)) >= 6, ns["tagged"](tag)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    assert left_file.read_text() == "[]", out
