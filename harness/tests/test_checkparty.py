"""dcharness check-party PROFILE (docs/parties.md, "Checking your party"):
the contract's checks against real parties on a real fakehub. dcclient
passes every capability; the kit-based toyworker passes the core (and is
skipped on ADC, which it does not speak); toyworker with defects switched
on (TOYWORKER_BREAK) gets each defect named on its check's line; bad
parties are errors naming them, bounded in time, leaving no process."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ROOT, dc_bin

sys.path.insert(0, os.path.dirname(__file__))
from test_dcharness import assert_none_left, wait_for_tagged  # noqa: E402

pytestmark = pytest.mark.sanitize

DATA = ROOT / "harness" / "tests" / "data"
TOY = DATA / "parties" / "toyworker.client"
ODD = DATA / "oddparty.py"


def check(*args, env=None, timeout=180):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([str(dc_bin("dcharness")), "check-party", *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT)


def lines(out):
    """{(check, proto): (status, rest)} from check-party's text output."""
    got = {}
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+(\S+)\s+(nmdcs?|adcs?|-)\s+(ok|FAIL|skip)\s*(.*)$", line)
        if m:
            got[(m.group(2), m.group(3))] = (m.group(4), m.group(5))
    return got


def broken_profile(tmp_path, defects):
    text = TOY.read_text().replace("name toyworker", "name broken")
    p = tmp_path / "broken.client"
    p.write_text(text + f"env TOYWORKER_BREAK {','.join(defects)}\n")
    return p


def test_dcclient_passes_every_capability_on_both_protocols(tmp_path):
    r = check("dcclient", "--json", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    res = [json.loads(line) for line in r.stdout.splitlines()]
    assert {x["status"] for x in res} == {"ok"}, [x for x in res if x["status"] != "ok"]
    caps = {x["cap"] for x in res}
    assert caps >= {"core", "share", "list", "download", "resume", "compress", "passive", "password",
                    "live-settings", "user-fields", "op", "tls"}
    assert {x["proto"] for x in res} == {"nmdc", "adc", "nmdcs", "adcs"}
    assert {x["proto"] for x in res if x["cap"] == "tls"} == {"nmdcs", "adcs"}
    assert len(res) >= 50
    assert not list(tmp_path.glob("dcharness-check-*")), "a passing check-party leaves no work dir"


def test_the_kit_based_toyworker_passes_the_core(tmp_path):
    r = check(TOY, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    got = lines(r.stdout)
    for name in ("ready", "requests", "connect", "nick-taken", "users", "user-events", "chat", "pm",
                 "not-online", "disconnect", "settings", "quit", "stop-signal", "stdin-eof"):
        assert got[(name, "nmdc")][0] == "ok", (name, r.stdout)
    # It speaks NMDC only: its ADC connect says unsupported, so ADC is skipped with its words.
    assert got[("connect", "adc")] == ("skip", "(alice's connect over adc says unsupported: "
                                               "\"toyworker speaks plain NMDC without passwords only\")")
    assert got[("pm", "adc")] == ("skip", "(alice does not speak adc: see above)")
    # Capabilities it does not claim are skipped, naming them.
    assert got[("download", "-")] == ("skip", "(profile lacks cap download)")
    assert "0 failed" in r.stdout and "(all claimed checks pass)" in r.stdout


def test_a_broken_worker_gets_each_defect_named(tmp_path):
    prof = broken_profile(tmp_path, ["pm-text", "pm-code", "say-hang", "op-type"])
    t0 = time.monotonic()
    r = check("--proto", "nmdc", prof, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    got = lines(r.stdout)
    status, why = got[("pm", "nmdc")]
    assert status == "FAIL" and why.startswith("PM text altered: bob (dcclient) sent"), r.stdout
    assert '\\nsecond line", alice reported "check-party pm:' in why
    status, why = got[("not-online", "nmdc")]
    assert status == "FAIL" and re.match(r"wrong error code: pm to a nick that is not online: alice's pm "
                                         r"failed with code internal .*; the contract says not-online", why), why
    status, why = got[("chat", "nmdc")]
    assert status == "FAIL" and re.match(r'alice sent no reply within [\d.]+s \(no reply to \{"cmd":"say"', why), why
    status, why = got[("users", "nmdc")]
    assert status == "FAIL" and why == ('wrong field type: alice\'s users result has "op": "no", a string; '
                                        'the contract says true/false'), why
    # What it does right still passes.
    for name in ("ready", "requests", "connect", "nick-taken", "disconnect", "quit", "stop-signal"):
        assert got[(name, "nmdc")][0] == "ok", (name, r.stdout)
    kept = re.search(r"check-party: logs kept under (\S+)", r.stderr).group(1)
    # only the failed checks' logs are kept
    assert sorted(d.split("-", 1)[1] for d in os.listdir(kept) if d[0].isdigit()) == \
        ["chat-nmdc", "not-online-nmdc", "pm-nmdc", "user-events-nmdc", "users-nmdc"]
    assert time.monotonic() - t0 < 90


def test_a_missing_required_event_field_is_named(tmp_path):
    prof = broken_profile(tmp_path, ["hub-nick"])
    r = check("--proto", "nmdc", "--only", "connect", prof, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    got = lines(r.stdout)
    assert got[("connect", "nmdc")] == ("FAIL", 'missing field: alice\'s hub.connected event has no "nick" (a string)')
    assert got[("connect-failed", "nmdc")][0] == "ok"
    # --only: the checks whose name contains "connect"
    assert {name for name, _ in got} == {"not-connected", "connect", "connect-failed", "disconnect"}


def test_user_events_out_of_order_are_named(tmp_path):
    prof = broken_profile(tmp_path, ["ghost-leave"])
    r = check("--proto", "nmdc", "--only", "user-events", prof, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 1, r.stdout + r.stderr
    status, why = lines(r.stdout)[("user-events", "nmdc")]
    assert status == "FAIL" and why.startswith("alice reported a user.leave of ghost-bob, who had no user.join: "), why


def odd_profile(tmp_path, mode):
    # A short ready bound only where it is the point: a loaded machine may
    # take seconds to start Python.
    p = tmp_path / f"odd-{mode}.client"
    p.write_text(f"name odd-{mode}\ncommand {{python}} {ODD} --mode {mode} --nick {{nick}}\n"
                 f"ready line {'2s' if mode == 'noready' else '15s'}\ncaps core\nstop TERM 2s\n")
    return p


@pytest.mark.parametrize("mode, why", [
    ("noready", r"alice printed no ready line within 2\.0s"),
    ("die", r"alice exited with status 3 at \+[\d.]+s before its ready line"),
    ("nonjson", r"alice \(profile odd-nonjson\) wrote a stdout line that is not a JSON object"),
])
def test_a_party_that_breaks_the_lifecycle_is_named_and_nothing_hangs(tmp_path, mode, why):
    tag = uuid.uuid4().hex
    t0 = time.monotonic()
    r = check(odd_profile(tmp_path, mode), env={"TMPDIR": str(tmp_path), "DCHARNESS_TEST_TAG": tag})
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"core\s+(ready|requests)\s+nmdc\s+FAIL " + why, r.stdout), r.stdout
    if mode != "nonjson":   # the party never started: nothing else is tried
        assert "check-party: stopped: the hub or alice did not start" in r.stdout
    assert time.monotonic() - t0 < 60
    assert_none_left(tag)


def test_bad_arguments_are_usage_errors():
    r = check("no-such-profile")
    assert r.returncode == 2 and "no-such-profile" in r.stderr, r.stderr
    r = check("--proto", "nmdcs", "dcclient")
    assert r.returncode == 2 and "nmdcs" in r.stderr, r.stderr
    r = check()
    assert r.returncode == 2 and "one client profile" in r.stderr, r.stderr


def signal_a_hanging_check(tmp_path, sig, wait):
    """check-party's chat check with a party whose say hangs; once the hub,
    alice, her worker and bob are up, sig goes to dcharness. Returns (tag,
    returncode, stdout, stderr)."""
    tag = uuid.uuid4().hex
    prof = broken_profile(tmp_path, ["say-hang"])
    env = dict(os.environ, DCHARNESS_TEST_TAG=tag, TMPDIR=str(tmp_path))
    p = subprocess.Popen([str(dc_bin("dcharness")), "check-party", "--only", "chat", "--proto", "nmdc", str(prof)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        wait_for_tagged(tag, ["fakehub", "toyworker.py", "toy_nmdc_worker.py", "dcclient"])
        p.send_signal(sig)
        p.wait(wait)
    finally:
        p.kill()
        out, err = p.communicate()
    return tag, p.returncode, out, err


def test_a_sigkilled_check_party_leaves_no_process(tmp_path):
    tag, _, _, _ = signal_a_hanging_check(tmp_path, signal.SIGKILL, 10)
    assert_none_left(tag, timeout=5)


def test_sigint_tears_the_check_down_and_dies_of_it(tmp_path):
    tag, rc, out, err = signal_a_hanging_check(tmp_path, signal.SIGINT, 20)   # the parties' grace periods at most
    assert rc == -signal.SIGINT, (out, err)
    assert b"logs kept under" in err
    assert_none_left(tag)
