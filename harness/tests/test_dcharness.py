"""Process-level tests of dcharness: the shipped suite against fakehub and
uhub, the failure report, exit codes, -j and --shard determinism, JUnit
output, and that no hub or client outlives dcharness however it ends
(SIGKILL, scenario timeout, Ctrl-C).

Processes left behind are found by a unique tag in dcharness's environment
(DCHARNESS_TEST_TAG), which every process it starts inherits.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, dc_bin
from dctest import Process, require_binary

# Every test here also runs against the ASan+UBSan build in CI: dcharness,
# fakehub and dcclient are then all sanitized, and teardown checks that each
# exits cleanly (a sanitizer report makes a process exit non-zero).
pytestmark = pytest.mark.sanitize

SCENARIOS = ROOT / "scenarios"
DATA = ROOT / "harness" / "tests" / "data"
SHIPPED = sorted(SCENARIOS.glob("*.scn"))
# What `run SCENARIOS` runs: the top level and its subdirectories (faults/, signals/).
ALL_SHIPPED = sorted(SCENARIOS.rglob("*.scn"))


def run(*args, env=None, timeout=240):
    """Run dcharness to completion; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([str(dc_bin("dcharness")), *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT)


def junit_cases(path):
    """{(classname, name): (status, message)} from a JUnit file."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases = {}
    for suite in root.iter("testsuite"):
        for tc in suite.iter("testcase"):
            assert float(tc.get("time")) >= 0
            fail, skip = tc.find("failure"), tc.find("skipped")
            status = "fail" if fail is not None else "skip" if skip is not None else "pass"
            msg = (fail if fail is not None else skip).get("message") if status != "pass" else None
            cases[(tc.get("classname"), tc.get("name"))] = (status, msg)
    return cases


def tagged_processes(tag):
    """(pid, cmdline) of every process whose environment holds the tag."""
    needle = f"DCHARNESS_TEST_TAG={tag}".encode()
    found = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                found.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            pass   # gone, or not ours to read
    return found


def wait_for_tagged(tag, want, timeout=10.0):
    """Wait until processes whose command lines contain each of `want` exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cmds = [c for _, c in tagged_processes(tag)]
        if all(any(w in c for c in cmds) for w in want):
            return cmds
        time.sleep(0.02)
    pytest.fail(f"never saw {want} running; tagged: {tagged_processes(tag)}")


def assert_none_left(tag, timeout=3.0):
    """PDEATHSIG is delivered asynchronously: allow a short bounded wait."""
    deadline = time.monotonic() + timeout
    while tagged_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = tagged_processes(tag)
    for pid, _ in left:   # do not leak them into other tests, then fail
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes outlived dcharness: {left}"


def ok_lines(tap):
    return [line for line in tap.splitlines() if re.match(r"(not )?ok \d+ ", line)]


# ---- the shipped suite ----

def test_shipped_suite_passes_with_fakehub(tmp_path):
    """--strict too: no party of the shipped suite (dcclient, eiskaltdcpp)
    commits a protocol violation fakehub reports (docs/scenarios.md)."""
    junit = tmp_path / "junit.xml"
    r = run("run", "-j", "2", "--strict", "--junit", junit, SCENARIOS)
    assert r.returncode == 0, r.stdout + r.stderr
    cases = junit_cases(junit)
    assert len(cases) == 2 * len(ALL_SHIPPED), cases
    assert all(status == "pass" for status, _ in cases.values()), cases
    assert f"{2 * len(ALL_SHIPPED)} scenario runs: {2 * len(ALL_SHIPPED)} passed, 0 failed, 0 skipped" in r.stdout


@pytest.mark.interop
def test_adc_scenarios_pass_against_uhub(tmp_path):
    require_binary("uhub")
    junit = tmp_path / "junit.xml"
    r = run("run", "-j", "2", "--hub", "uhub", "--proto", "adc", "--junit", junit, SCENARIOS)
    assert r.returncode == 0, r.stdout + r.stderr
    cases = junit_cases(junit)
    skipped = {name for (_, name), (status, _) in cases.items() if status == "skip"}
    passed = {name for (_, name), (status, _) in cases.items() if status == "pass"}
    # Only what needs fakehub's control socket or deferred signal handling is skipped.
    assert skipped == {"hub reports logins, chat, PMs and logouts [adc]",
                       "a kicked user is disconnected and leaves the list [adc]",
                       "hub keeps serving through a signal storm [adc]",
                       "a PM delayed arrives late, a PM dropped never arrives [adc]",
                       "a client reconnects after the hub drops it [adc]",
                       "the hub survives a client that stops reading [adc]",
                       # scenarios/signals/: uhub exits on USR1 and QUIT and logs no shutdown line
                       "SIGUSR1 after a warm-up, under load: still serving [adc]",
                       "HUP and USR1 storms under load [adc]",
                       "SIGQUIT after a warm-up, under load: a clean exit, no hang [adc]",
                       "SIGQUIT storm under load: one clean exit [adc]",
                       "the shutdown hook runs exactly once [adc]"}, cases
    assert len(passed) == len(cases) - len(skipped)
    # uhub reloads on SIGHUP, so the HUP-only storm runs against it.
    assert "hub keeps serving through a SIGHUP storm [adc]" in passed
    assert "needs signals, which hub profile uhub does not offer" in r.stdout
    assert "needs quit, which hub profile uhub does not offer" in r.stdout
    assert "needs shutdown-log, which hub profile uhub does not offer" in r.stdout


def test_shipped_suite_passes_over_tls_with_fakehub(tmp_path):
    """--proto adcs,nmdcs: every scenario declaring adc/nmdc runs over TLS
    (fakehub's TLS URLs carry its keyprint, which dcclient checks); strict,
    as the plain runs."""
    junit = tmp_path / "junit.xml"
    r = run("run", "-j", "2", "--strict", "--proto", "adcs,nmdcs", "--junit", junit, SCENARIOS)
    assert r.returncode == 0, r.stdout + r.stderr
    cases = junit_cases(junit)
    assert len(cases) == 2 * len(ALL_SHIPPED), cases
    assert all(status == "pass" for status, _ in cases.values()), cases
    assert {name.rsplit(" ", 1)[1] for _, name in cases} == {"[adcs]", "[nmdcs]"}


def test_tls_runs_really_use_tls(tmp_path):
    """transfer-small.scn expects transfer.done tls={tls}: a run where the
    placeholder and the client disagree fails."""
    scn = tmp_path / "tls-plain.scn"
    scn.write_text((SCENARIOS / "transfer-small.scn").read_text().replace("tls={tls}", "tls=false"))
    assert run("run", "--proto", "adc", scn).returncode == 0
    r = run("run", "--proto", "adcs", scn)
    assert r.returncode == 1 and "tls=false" in r.stdout, r.stdout


@pytest.mark.interop
def test_adcs_scenarios_pass_against_uhub_tls(tmp_path):
    require_binary("uhub")
    junit = tmp_path / "junit.xml"
    r = run("run", "-j", "2", "--hub", "uhub-tls", "--proto", "adcs", "--junit", junit, SCENARIOS)
    assert r.returncode == 0, r.stdout + r.stderr
    cases = junit_cases(junit)
    # the same eleven as over plain ADC (hub-control, signals, quit, shutdown-log), nothing failed
    assert sum(status == "skip" for status, _ in cases.values()) == 11, cases
    assert sum(status == "pass" for status, _ in cases.values()) == len(cases) - 11, cases


@pytest.mark.interop
def test_a_scenario_can_name_its_hub(tmp_path):
    require_binary("uhub")
    scn = tmp_path / "own-hub.scn"
    scn.write_text("hub profile uhub\nprotocols adc\nclient alice\nalice connect\n"
                   "alice expect hub.connected nick=alice\n")
    r = run("run", "--keep", scn)
    assert r.returncode == 0, r.stdout + r.stderr
    kept = re.search(r"kept: (\S+)", r.stdout).group(1)
    try:
        assert "run| uhub -c" in pathlib.Path(kept, "hub.log").read_text()
    finally:
        subprocess.run(["rm", "-rf", os.path.dirname(kept)])
    # --hub overrides it
    r = run("run", "--hub", "fakehub", scn)
    assert r.returncode == 0 and "hub profile fakehub" in r.stdout, r.stdout


@pytest.mark.interop
def test_signal_storm_fails_on_a_hub_that_dies_of_sigusr1(tmp_path):
    """The storm scenario can fail: uhub claimed to survive signals dies of USR1."""
    require_binary("uhub")
    text = (ROOT / "harness" / "profiles" / "uhub.hub").read_text()
    profile = tmp_path / "uhub-claims-signals.hub"
    profile.write_text(text.replace("features registered-users", "features registered-users signals"))
    r = run("run", "--hub", profile, SCENARIOS / "signal-storm.scn")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "killed by signal 10 (SIGUSR1)" in r.stdout, r.stdout


def test_the_documented_example_runs(tmp_path):
    """docs/scenarios.md's complete example is a working scenario."""
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    example = re.search(r"## A complete example\n\n```\n(.*?)```", doc, re.S).group(1)
    scn = tmp_path / "example.scn"
    scn.write_text(example)
    r = run("run", scn)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 scenario runs: 2 passed" in r.stdout


@pytest.mark.parametrize("ready", ["log", "port", "retry"])
def test_profiles_can_wait_for_a_log_line_or_an_open_port(tmp_path, ready):
    """A hub without a ready line: readiness from its output or its port;
    a hub that exits before it is ready (port taken) is started again on
    another port."""
    if ready == "log":
        lines = ['command sh -c "echo booting; echo now listening >&2; exec sleep 60"',
                 'ready log "now listening"']
    elif ready == "retry":   # the first start fails as if the port were taken
        lines = ["port pick",
                 'command sh -c "if [ -e tried ]; then exec /usr/bin/python3 -m http.server --bind 127.0.0.1 {port};'
                 ' else touch tried; echo address in use >&2; exit 1; fi"',
                 "ready port"]
    else:
        lines = ["port pick",
                 "command /usr/bin/python3 -m http.server --bind 127.0.0.1 {port}",
                 "ready port"]
    profile = tmp_path / "odd.hub"
    profile.write_text("\n".join(["protocols adc", 'url adc "adc://127.0.0.1:1"', *lines]) + "\n")
    scn = tmp_path / "kill.scn"
    scn.write_text("protocols adc\nhub kill\n")
    r = run("run", "--keep", "--hub", profile, scn)
    assert r.returncode == 0, r.stdout + r.stderr
    kept = re.search(r"kept: (\S+)", r.stdout).group(1)
    try:
        log = pathlib.Path(kept, "hub.log").read_text()
        assert ("now listening" in log) if ready == "log" else ("run| " in log)
        if ready == "retry":
            assert "address in use" in log and "retrying on another port" in log, log
    finally:
        subprocess.run(["rm", "-rf", os.path.dirname(kept)])


def test_escaped_grandchild_neither_hangs_teardown_nor_survives(tmp_path):
    """A hub whose child left its process group (setsid) but holds the
    output pipes: it is reparented to the runner (subreaper) and killed."""
    tag = uuid.uuid4().hex
    profile = tmp_path / "escaper.hub"
    # "started" comes from the grandchild once it has its own session.
    profile.write_text("protocols adc\nurl adc \"adc://127.0.0.1:1\"\nready log started\n"
                       "command sh -c \"setsid sh -c 'echo started; exec sleep 60' & exec sleep 60\"\n")
    scn = tmp_path / "escape.scn"
    scn.write_text("protocols adc\nhub kill\n")
    start = time.monotonic()
    r = run("run", "--hub", profile, scn, env={"DCHARNESS_TEST_TAG": tag, "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - start < 5
    assert_none_left(tag, timeout=0.5)


# ---- the failure report ----

def test_failing_scenario_shows_step_reason_logs_trace_and_rerun(tmp_path):
    scn = DATA / "failing.scn"
    r = run("run", "--proto", "nmdc", scn)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert f"FAIL  {scn}: deliberately failing PM [nmdc]" in out
    assert f"step: {scn}:14: bob expect pm from=alice text=\"a text nobody sends\" within 1s" in out
    assert "why: bob saw no matching pm event within 1.0s" in out
    assert 'expected: event pm from="alice" text="a text nobody sends"' in out
    # the events bob did see, including the PM that came with another text
    assert re.search(r'last events seen by bob:\n.*"event":"pm","from":"alice".*"text":"the real text"', out, re.S), out
    for name, profile in (("hub", "fakehub"), ("alice", "dcclient"), ("bob", "dcclient")):
        assert re.search(rf"--- {name} \(profile {profile}\): /\S+/{name}\.log ---", out), out
    assert re.search(r"--- hub trace: /\S+/hub\.trace ---\n.*\$To: bob From: alice.*\(after the failure:\)", out, re.S), out
    m = re.search(r"rerun: (.*)", out)
    assert m, out
    rerun = m.group(1)
    assert " run --keep --proto nmdc " in rerun and rerun.endswith(str(scn))
    # Without --keep nothing is left in the scenario dirs' root.
    root = re.search(r"--- hub \(profile fakehub\): (/\S+)/001-", out).group(1)
    assert not os.path.exists(root)

    # The rerun line reruns exactly that scenario and keeps its directory.
    again = subprocess.run(rerun, shell=True, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 1
    assert "1 scenario run: 0 passed, 1 failed" in again.stdout
    kept = re.search(r"kept: (\S+)", again.stdout).group(1)
    try:
        assert {"hub.log", "alice.log", "bob.log", "hub.trace"} <= set(os.listdir(kept))
        assert "the real text" in pathlib.Path(kept, "bob.log").read_text()
    finally:
        subprocess.run(["rm", "-rf", os.path.dirname(kept)])


def test_scenario_timeout_fails_and_leaves_nothing(tmp_path):
    tag = uuid.uuid4().hex
    start = time.monotonic()
    r = run("run", DATA / "short-timeout.scn", env={"DCHARNESS_TEST_TAG": tag, "TMPDIR": str(tmp_path)})
    took = time.monotonic() - start
    assert r.returncode == 1, r.stdout + r.stderr
    assert "why: alice saw no matching never-happens event within the scenario timeout (1.0s)" in r.stdout
    assert took < 15, f"1 s scenario timeout took {took:.1f}s"
    assert_none_left(tag)
    assert not list(tmp_path.glob("dcharness-*")), "scenario dirs not removed"


def test_timeout_multiplier_scales_timeouts():
    r = run("run", DATA / "short-timeout.scn", env={"DCTEST_TIMEOUT_MULTIPLIER": "2"})
    assert "within the scenario timeout (2.0s)" in r.stdout, r.stdout
    assert "rerun: DCTEST_TIMEOUT_MULTIPLIER=2 " in r.stdout, r.stdout


# ---- exit codes and usage ----

def test_exit_codes_distinguish_usage_errors_from_failures(tmp_path):
    assert run("run", "--bogus", SCENARIOS).returncode == 2
    assert run("run").returncode == 2
    assert run("run", "-j", "0", SCENARIOS).returncode == 2
    assert run("run", "--shard", "3/2", SCENARIOS).returncode == 2
    assert run("run", "--proto", "irc", SCENARIOS).returncode == 2
    r = run("run", "--hub", "no-such-hub", SCENARIOS)
    assert r.returncode == 2 and "no hub profile named no-such-hub" in r.stderr
    r = run("run", tmp_path)   # no *.scn in it
    assert r.returncode == 2 and "no *.scn scenario files found" in r.stderr
    r = run("run", tmp_path / "missing.scn")
    assert r.returncode == 2
    assert run("--help").returncode == 0
    assert run("run", "--filter", "main chat", SCENARIOS).returncode == 0


def test_malformed_file_is_a_failure_at_file_and_line(tmp_path):
    junit = tmp_path / "j.xml"
    r = run("run", "--junit", junit, DATA / "bad-syntax.scn", SCENARIOS / "chat.scn")
    assert r.returncode == 1
    msg = f"{DATA / 'bad-syntax.scn'}:6: unknown verb 'shout'"
    assert msg in r.stdout
    cases = junit_cases(junit)
    assert [s for s, _ in cases.values()].count("fail") == 1
    assert [s for s, _ in cases.values()].count("pass") == 2   # chat, both protocols, still ran


def test_junit_classnames_do_not_depend_on_checkout_or_cwd(tmp_path):
    """Classnames start at the scenario root's name, wherever it lies and
    whether dcharness runs from the root's parent or from elsewhere."""
    copy = tmp_path / "elsewhere" / "scenarios"
    (copy / "sub").mkdir(parents=True)
    text = (SCENARIOS / "chat.scn").read_text()
    (copy / "sub" / "chat.scn").write_text(text)
    names = set()
    for args, cwd in (([SCENARIOS / "chat.scn"], ROOT), ([copy], tmp_path), (["scenarios/"], copy.parent)):
        junit = tmp_path / "j.xml"
        r = subprocess.run([str(dc_bin("dcharness")), "run", "--proto", "adc", "--junit", str(junit), *map(str, args)],
                           capture_output=True, text=True, timeout=120, cwd=cwd)
        assert r.returncode == 0, r.stdout + r.stderr
        names |= {c for c, _ in junit_cases(junit)}
    assert names == {"scenarios.chat", "scenarios.sub.chat"}, names


def test_shipped_scenarios_are_found_by_name_from_anywhere(tmp_path):
    """A relative PATH that is not in the current directory is looked up in
    the shipped scenarios (in a build tree the checkout's scenarios/)."""
    junit = tmp_path / "j.xml"
    r = subprocess.run([str(dc_bin("dcharness")), "run", "--proto", "adc", "--junit", str(junit), "chat.scn"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"PASS  {SCENARIOS / 'chat.scn'}: " in r.stdout
    assert set(junit_cases(junit)) == {("scenarios.chat", "main chat reaches everyone [adc]")}
    (tmp_path / "chat.scn").write_text("protocols adc\nclient alice\nalice shout\n")   # here wins
    r = subprocess.run([str(dc_bin("dcharness")), "run", "chat.scn"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 1 and "chat.scn:3: unknown verb 'shout'" in r.stdout, r.stdout


def test_rerun_line_names_a_profile_file_by_its_absolute_path(tmp_path):
    """A relative --hub FILE in the rerun line works from any directory."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.hub").write_text((ROOT / "harness" / "profiles" / "fakehub.hub").read_text())
    r = subprocess.run([str(dc_bin("dcharness")), "run", "--proto", "nmdc", "--hub", "mine.hub",
                        str(DATA / "failing.scn")], capture_output=True, text=True, timeout=120, cwd=work)
    assert r.returncode == 1, r.stdout + r.stderr
    rerun = re.search(r"rerun: (.*)", r.stdout).group(1)
    assert f" --hub {work / 'mine.hub'} " in rerun, rerun
    again = subprocess.run(rerun.replace(" --keep", ""), shell=True, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    assert again.returncode == 1 and "1 scenario run: 0 passed, 1 failed" in again.stdout, again.stdout


def test_html_to_an_unwritable_path_fails_before_anything_runs(tmp_path):
    tag = uuid.uuid4().hex
    r = run("run", "--html", tmp_path / "no-such-dir" / "r.html", SCENARIOS / "chat.scn",
            env={"DCHARNESS_TEST_TAG": tag})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"--html {tmp_path / 'no-such-dir' / 'r.html'}: cannot write it: No such file or directory" in r.stderr
    assert "PASS" not in r.stdout and "scenario run" not in r.stdout, r.stdout
    r = run("html", "--out", tmp_path / "r.html", tmp_path / "missing.json")
    assert r.returncode == 2 and "missing.json" in r.stderr, r.stderr


# ---- determinism: -j, shards, TAP ----

def test_parallel_runs_give_the_same_results_as_serial(tmp_path):
    # The top level only: signals/ would add minutes of warm-ups to what is
    # a test of the scheduler (the whole tree runs in the suite tests above),
    # and without mixed-*.scn, whose eiskaltdcpp parties take seconds to
    # start and stop (the suite tests above run them at -j 2 too).
    shipped = [p for p in SHIPPED if not p.name.startswith("mixed-")]
    paths = [*shipped, DATA / "failing.scn"]
    one = run("run", "--tap", "-j", "1", "--junit", tmp_path / "1.xml", *paths)
    two = run("run", "--tap", "-j", "2", "--junit", tmp_path / "2.xml", *paths)
    assert one.returncode == two.returncode == 1
    assert ok_lines(one.stdout) == ok_lines(two.stdout)
    assert len(ok_lines(one.stdout)) == 2 * len(shipped) + 2
    assert {k: v[0] for k, v in junit_cases(tmp_path / "1.xml").items()} == \
           {k: v[0] for k, v in junit_cases(tmp_path / "2.xml").items()}


def test_tap_output_is_well_formed():
    r = run("run", "--tap", SCENARIOS / "chat.scn", DATA / "failing.scn")
    lines = r.stdout.splitlines()
    assert lines[0] == "TAP version 13" and lines[1] == "1..4"
    tests = ok_lines(r.stdout)
    assert [int(re.match(r"(?:not )?ok (\d+)", t).group(1)) for t in tests] == [1, 2, 3, 4]
    assert sum(t.startswith("not ok") for t in tests) == 2
    # every other line is a diagnostic
    assert all(line.startswith("#") for line in lines[2:] if line not in tests)


def test_shards_split_the_plan_exactly_once():
    # The top level only (faults/ and signals/ wait on purpose; the plan
    # code does not care which files it splits). The split is checked on
    # the plan (--list selects exactly as a run does: cli.c); one shard is
    # also run, and runs exactly what its plan lists.
    paths = SHIPPED
    plan = lambda *extra: [(j["path"], j["proto"], j["name"])
                           for j in map(json.loads, run("run", "--list", *extra, *paths).stdout.splitlines())]
    full = plan()
    shards = [plan("--shard", f"{k}/3") for k in (1, 2, 3)]
    union = [n for s in shards for n in s]
    assert sorted(union) == sorted(full)
    assert len(union) == len(set(union)) == 2 * len(SHIPPED)
    assert all(shards), shards
    # deterministic: the same shard twice is the same list
    assert shards[1] == plan("--shard", "2/3")
    ran = run("run", "--tap", "--shard", "1/3", *paths)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    names = [re.sub(r"^ok \d+ - ", "", line) for line in ok_lines(ran.stdout)]
    assert sorted(names) == sorted(f"{name} [{proto}]" for _, proto, name in shards[0]), ran.stdout


# ---- nothing outlives dcharness ----

def start_hanging(tmp_path, tag, extra=()):
    # TMPDIR: a SIGKILLed dcharness cannot remove its scenario dirs; keep them in tmp_path.
    env = dict(os.environ, DCHARNESS_TEST_TAG=tag, TMPDIR=str(tmp_path))
    p = Process([dc_bin("dcharness"), "run", "-j", "2", "--junit", tmp_path / "j.xml", *extra,
                 DATA / "hang.scn", SCENARIOS / "chat.scn"],
                name="dcharness", log=tmp_path / "dcharness.log", env=env, cwd=ROOT)
    wait_for_tagged(tag, ["fakehub", "dcclient"])
    return p


def test_sigkill_of_dcharness_leaves_no_process(tmp_path):
    tag = uuid.uuid4().hex
    p = start_hanging(tmp_path, tag)
    os.kill(p.pid, signal.SIGKILL)
    assert p.wait(timeout=10) == -signal.SIGKILL
    assert_none_left(tag)
    p.stop()


def test_ctrl_c_stops_everything_and_reports(tmp_path):
    tag = uuid.uuid4().hex
    p = start_hanging(tmp_path, tag)
    os.killpg(p.pid, signal.SIGINT)   # what a terminal does on Ctrl-C
    assert p.wait(timeout=30) == -signal.SIGINT
    assert_none_left(tag, timeout=0.5)   # torn down by dcharness itself, not by PDEATHSIG
    assert not list(tmp_path.glob("dcharness-*")), "scenario dirs not removed"
    cases = junit_cases(tmp_path / "j.xml")
    hang = cases[("data.hang", "hang with everyone connected [adc]")]   # root: the file argument's dir
    assert hang[0] == "fail" and "interrupted by signal 2" in hang[1], cases
    p.stop()


def test_sigterm_stops_everything(tmp_path):
    tag = uuid.uuid4().hex
    p = start_hanging(tmp_path, tag)
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(timeout=30) == -signal.SIGTERM
    assert_none_left(tag, timeout=0.5)
    assert not list(tmp_path.glob("dcharness-*")), "scenario dirs not removed"
    p.stop()


# ---- protocol violations (strict) ----

def test_misbehaving_client_passes_with_a_warning_unless_strict(tmp_path):
    scn = DATA / "misbehaving.scn"
    r = run("run", scn)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hub reported 2 protocol violations (not strict): mallory 2 (nmdc-ctm-ip nmdc-context)" in r.stdout
    assert "hub reported 1 protocol violation (not strict): mallory 1 (adc-context)" in r.stdout

    r = run("run", "--strict", scn)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "the hub reported 2 protocol violations and the run is strict: mallory 2" in out
    assert "the hub reported 1 protocol violation and the run is strict: mallory 1 (adc-context)" in out
    assert "--- protocol violations the hub reported (2), by party ---\n        mallory:\n" in out
    assert ("  nmdc-ctm-ip (notes §2.8 (hubs should check the IP)): refused [10.0.0.1]; "
            "line: $ConnectToMe bob 10.0.0.1:4000") in out
    assert "  nmdc-context (" in out and "): ignored [$Hello]; line: $Hello mallory" in out
    assert "  adc-context (ADC 1.0.4 BASE messages: Contexts): refused [HQUI]; line: HQUI AAAB MSspoofed" in out
    assert " --strict " in out   # the rerun line keeps it

    # The declaration does the same as the option.
    declared = tmp_path / "declared.scn"
    declared.write_text(scn.read_text().replace("protocols nmdc adc\n", "protocols nmdc adc\nstrict\n"))
    r = run("run", "--proto", "adc", declared)
    assert r.returncode == 1 and "the run is strict" in r.stdout, r.stdout + r.stderr


def test_strict_declaration_takes_no_arguments(tmp_path):
    bad = tmp_path / "bad.scn"
    bad.write_text("strict please\nclient a\na connect\n")
    r = run("run", bad)
    assert r.returncode == 1 and "bad.scn:1: strict takes no arguments" in r.stdout, r.stdout


def test_a_killed_runs_directory_is_removed_by_the_next_run(tmp_path):
    """A SIGKILLed dcharness cannot remove its scenario directory; the next
    run removes it (its owner process is gone), and leaves alone those whose
    owner lives, those whose pid was reused by another process, and those
    without an owner file (a --keep'd run)."""
    tag = uuid.uuid4().hex
    p = start_hanging(tmp_path, tag)
    killed = list(tmp_path.glob("dcharness-*"))
    assert len(killed) == 1 and (killed[0] / "owner").exists()
    os.kill(p.pid, signal.SIGKILL)
    assert p.wait(timeout=10) == -signal.SIGKILL
    assert_none_left(tag)
    p.stop()
    assert killed[0].exists()
    live = tmp_path / "dcharness-live01"       # owned by this very test process
    reused = tmp_path / "dcharness-reuse1"     # our pid, but another start time
    kept = tmp_path / "dcharness-kept01"       # no owner file
    for d in (live, reused, kept):
        d.mkdir()
    start = open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()[19]
    (live / "owner").write_text(f"{os.getpid()} {start}\n")
    (reused / "owner").write_text(f"{os.getpid()} {int(start) + 1}\n")
    env = {"TMPDIR": str(tmp_path)}
    r = run("run", "--filter", "main chat", SCENARIOS / "chat.scn", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    left = sorted(d.name for d in tmp_path.glob("dcharness-*"))
    assert left == ["dcharness-kept01", "dcharness-live01"], left
    # --keep: the kept directory loses its owner file, so it stays for good.
    r = run("run", "--keep", "--filter", "main chat", SCENARIOS / "chat.scn", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    new = set(tmp_path.glob("dcharness-*")) - {live, kept}
    assert len(new) == 1 and not (new.pop() / "owner").exists()
