"""dcharness against the reference buggy hub (tests/data/buggyhub): each of
its defects is reported by a shipped scenario of scenarios/signals/ with
the words a developer needs — the hang (the word hung, the stack naming
the handler, the signal just before, the teardown SIGKILL), the death by
an unhandled SIGTERM, the shutdown hook that ran twice — while its fixed
variant passes them all. Also: stacks from /proc without gdb, profile
setup/teardown commands (a failing setup is named, teardown still runs),
the source/wait/load/log steps, and that setup commands and the load
generator die with a SIGKILLed dcharness."""
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, dc_bin
from test_dcharness import DATA, assert_none_left, run, wait_for_tagged

pytestmark = pytest.mark.sanitize

SIGNALS = ROOT / "scenarios" / "signals"
BUGGY = DATA / "buggyhub.hub"
FIXED = DATA / "buggyhub-fixed.hub"


def reports(stdout):
    """{scenario file name: (status, report text)} from dcharness's output."""
    out, cur = {}, None
    for line in stdout.splitlines():
        m = re.match(r"\[\s*\d+/\d+\] (PASS|FAIL|SKIP)\s+\S+/([\w.-]+\.scn):", line)
        if m:
            cur = m.group(2)
            out[cur] = [m.group(1), line]
        elif cur and line.startswith("        "):
            out[cur][1] += "\n" + line
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def buggy_run():
    r = run("run", "-j", "2", "--proto", "nmdc", "--hub", BUGGY, SIGNALS, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    return reports(r.stdout)


def test_the_hang_is_reported_with_stack_signal_and_teardown_kill(buggy_run):
    status, text = buggy_run["quit-after-warmup.scn"]
    assert status == "FAIL", text
    why = next(line for line in text.splitlines() if "why:" in line)
    assert "the hub is hung (alive, but a fresh connection sent no greeting: no $Lock within" in why, why
    assert re.search(r"last signal SIGQUIT at \+\d+\.\d+s", why), why
    assert "hub verdict: HUNG" in text and "wchan futex" in text, text
    assert 'gdb -batch -p' in text and "SigQuitHandler" in text and "SyncStop" in text, text
    assert re.search(r"note: at teardown hub did not exit within [\d.]+s of SIGINT and was killed \(SIGKILL\)", text), text
    status, text = buggy_run["segv-after-warmup.scn"]
    assert status == "FAIL" and "hung" in text and "SigSegvHandler" in text, text


def test_death_by_unhandled_term_and_the_hook_that_ran_twice(buggy_run):
    status, text = buggy_run["term-after-warmup.scn"]
    assert status == "FAIL" and "hub was killed by signal 15 (SIGTERM)" in text, text
    assert "default action" in text, text
    status, text = buggy_run["shutdown-hook-once.scn"]
    assert status == "FAIL", text
    assert re.search(r'has 2 lines matching "shutdown hook ran"; expected exactly 1', text), text
    assert buggy_run["hup-usr1-storm.scn"][0] == "SKIP" and "needs signals" in buggy_run["hup-usr1-storm.scn"][1]


def test_the_fixed_variant_passes_every_signal_scenario():
    r = run("run", "-j", "2", "--proto", "nmdc", "--hub", FIXED, SIGNALS, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(list(SIGNALS.glob("*.scn")))
    assert f"{n} scenario runs: {n} passed, 0 failed, 0 skipped" in r.stdout, r.stdout


def test_without_gdb_the_stacks_come_from_proc_and_say_so():
    r = run("run", "--proto", "nmdc", "--hub", BUGGY, SIGNALS / "quit-after-warmup.scn",
            env={"DCHARNESS_GDB": "none"}, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the hub is hung" in r.stdout
    assert re.search(r"stacks of every thread \(from /proc/\d+/task/\*/stack and wchan, kernel side only; gdb disabled", r.stdout), r.stdout
    assert "futex" in r.stdout


def test_source_wait_load_and_log_steps_pass_against_the_fixed_hub(tmp_path):
    r = run("run", "--hub", FIXED, DATA / "source-and-wait.scn", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # `hub log never` is checked again once the hub is gone: a line its
    # teardown stop writes breaks it.
    scn = tmp_path / "never.scn"
    scn.write_text((DATA / "source-and-wait.scn").read_text().replace('never "SIGSEGV"', 'never "SIGTERM: stopping"'))
    r = run("run", "--hub", FIXED, scn, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r'has 1 line matching "SIGTERM: stopping", which must never appear', r.stdout), r.stdout


def profile(tmp_path, *extra):
    """The fixed hub's profile plus extra lines, in tmp_path."""
    p = tmp_path / "db.hub"
    p.write_text(FIXED.read_text().replace("{bin}", str(dc_bin("buggyhub").parent)) + "\n".join(extra) + "\n")
    return p


def test_a_failing_setup_is_named_and_teardown_still_runs(tmp_path):
    marker = tmp_path / "teardown-ran"
    p = profile(tmp_path, 'setup sh -c "echo creating the database"',
                'setup sh -c "echo the database server is down >&2; exit 3"',
                f'teardown sh -c "echo dropped >> {marker}"')
    r = run("run", "--proto", "nmdc", "--hub", p, ROOT / "scenarios" / "chat.scn", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"the profile's setup command `sh -c echo the database server is down >&2; exit 3` "
                     r"\(\S+db.hub:\d+\) exited with status 3 \(last words: \"the database server is down\"\)", r.stdout), r.stdout
    assert marker.read_text() == "dropped\n"


def test_setup_and_teardown_run_around_each_hub_start(tmp_path):
    log = tmp_path / "order"
    p = profile(tmp_path, f'setup sh -c "echo setup {{dir}} >> {log}"', f'teardown sh -c "echo teardown {{dir}} >> {log}"')
    r = run("run", "--proto", "nmdc", "--hub", p, ROOT / "scenarios" / "chat.scn", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = log.read_text().splitlines()
    assert [l.split()[0] for l in lines] == ["setup", "teardown"], lines
    assert lines[0].split()[1] == lines[1].split()[1]   # the same run dir


@pytest.mark.parametrize("what", ["setup", "setup-sh", "load"])
def test_sigkill_of_dcharness_leaves_no_setup_command_or_load_generator(tmp_path, what):
    tag = uuid.uuid4().hex
    if what == "setup":
        p, scn, want = profile(tmp_path, "setup sleep 3600"), ROOT / "scenarios" / "chat.scn", ["sleep 3600"]
    elif what == "setup-sh":   # a grandchild: sh waits for sleep (the "; true" keeps sh from exec'ing it)
        p, scn, want = (profile(tmp_path, 'setup sh -c "sleep 3601; true"'), ROOT / "scenarios" / "chat.scn",
                        ["sleep 3601"])
    else:
        p, scn, want = FIXED, DATA / "load-forever.scn", ["dcload", "buggyhub", "dcclient"]
    proc = subprocess.Popen([str(dc_bin("dcharness")), "run", "--proto", "nmdc", "--hub", str(p), str(scn)],
                            env=dict(os.environ, DCHARNESS_TEST_TAG=tag), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_tagged(tag, want, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert_none_left(tag)
