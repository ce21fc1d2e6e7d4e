"""dcharness's `hub fault ...` step and `expect ... never` (docs/scenarios.md):
a bad rule fails the file at file:line naming the field, the hub's refusal
can be expected with `fails`, a rule that never matched is the scenario's
warning, and a `never` expectation fails when the event does come."""
import os
import subprocess

import pytest

from conftest import ROOT, dc_bin

pytestmark = pytest.mark.sanitize


def run(tmp_path, text, *args):
    scn = tmp_path / "t.scn"
    scn.write_text(text)
    r = subprocess.run([str(dc_bin("dcharness")), "run", "--proto", "adc", *args, str(scn)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ))
    return scn, r


HEAD = "protocols nmdc adc\nclient alice\nclient bob\nalice connect\nbob connect\nalice expect user.join nick=bob\n"


def test_bad_rule_is_an_error_at_file_and_line(tmp_path):
    scn, r = run(tmp_path, HEAD + "hub fault drop cmd=pm from=alice colour=red\n")
    assert r.returncode == 1
    assert f'{scn}:7: hub fault: field "colour": unknown field' in r.stdout, r.stdout


def test_refusal_expected_and_unmatched_rule_warned(tmp_path):
    scn, r = run(tmp_path, HEAD + "hub fault delay=later cmd=pm fails 'field \"delay\"'\n"
                                  "hub fault drop cmd=pm from=nobody\n"
                                  "hub fault delay=100ms cmd=pm from=alice\n"
                                  "alice pm bob hi\n"
                                  "bob expect pm from=alice text=hi\n")
    assert r.returncode == 0, r.stdout
    assert "PASS" in r.stdout
    assert "warning: hub fault rule 1 never matched: drop cmd=pm from=nobody" in r.stdout, r.stdout
    assert "rule 2 never matched" not in r.stdout


def test_never_fails_when_the_event_comes(tmp_path):
    scn, r = run(tmp_path, HEAD + "hub fault drop cmd=pm text=lost\n"
                                  "alice pm bob lost\n"
                                  "alice pm bob kept\n"
                                  "bob expect pm text=lost never within 500ms\n"
                                  "bob expect pm text=kept never within 500ms\n")
    assert r.returncode == 1
    assert f"step: {scn}:11: bob expect pm text=kept never within 500ms" in r.stdout, r.stdout
    assert "bob saw a pm event that must never come" in r.stdout


def test_fault_scenarios_pass():
    """scenarios/faults/ in this build (CI runs this file against the ASan
    build too, so the fault scenarios pass sanitized as well)."""
    r = subprocess.run([str(dc_bin("dcharness")), "run", "-j", "2", str(ROOT / "scenarios" / "faults")],
                       capture_output=True, text=True, timeout=600, cwd=ROOT, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-5000:]
    assert "16 scenario runs: 16 passed, 0 failed, 0 skipped" in r.stdout, r.stdout[-3000:]
