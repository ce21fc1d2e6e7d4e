"""Client parties from profiles: the profile a client runs with (scenario
profile=, --client, --client NAME=), capability skips, and how a run fails
on a party that breaks the contract (no ready line, death, non-JSON,
flooding, unknown reply ids, a deaf stdin): always naming the party and its
profile, within the step's bound, leaving no process behind."""
import os
import re
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, dc_bin

sys.path.insert(0, os.path.dirname(__file__))
from test_dcharness import assert_none_left  # noqa: E402

pytestmark = pytest.mark.sanitize

DATA = ROOT / "harness" / "tests" / "data"
ODD = DATA / "oddparty.py"


def run(*args, env=None, timeout=120, cwd=ROOT):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([str(dc_bin("dcharness")), *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd)


def odd_profile(tmp_path, mode, caps="core", extra=""):
    p = tmp_path / f"odd-{mode}.client"
    p.write_text(f"name odd-{mode}\n"
                 f"command {{python}} {ODD} --mode {mode} --nick {{nick}}\n"
                 f"ready line 2s\ncaps {caps}\nstop TERM 2s\n{extra}")
    return p


def scenario(tmp_path, body, name="s.scn"):
    p = tmp_path / name
    p.write_text(body)
    return p


PING = "scenario ping\nprotocols nmdc\nclient alice\nalice request ping\n"


def test_a_well_behaved_party_runs_and_reports_name_its_profile(tmp_path):
    prof = odd_profile(tmp_path, "ok")
    scn = scenario(tmp_path, PING + "alice connect fails\nalice request ping\n")
    r = run("run", "--keep", "--client", prof, scn)
    assert r.returncode == 0, r.stdout + r.stderr
    kept = re.search(r"kept under (\S+)", r.stdout).group(1)
    log = next(pathlib_glob(kept, "alice.log"))
    text = open(log).read()
    assert f"alice: profile odd-ok ({prof})" in text
    assert '"cmd":"connect"' in text


def pathlib_glob(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            yield os.path.join(d, name)


@pytest.mark.parametrize("mode, why", [
    ("noready", r"alice printed no ready line within 2\.0s"),
    ("die", r"alice exited with status 3 at \+[\d.]+s before its ready line \(last words: \"oddparty: giving up"),
    ("nonjson", r"alice \(profile odd-nonjson\) wrote a stdout line that is not a JSON object .*: INFO: this log line"),
    ("flood", r"alice \(profile odd-flood\) flooded the harness: 100000 events nobody expected are pending"),
    ("badid", r"alice \(profile odd-badid\) replied to an id no request of ours is waiting for: .*424242"),
])
def test_a_party_breaking_the_contract_fails_the_run_naming_it(tmp_path, mode, why):
    tag = uuid.uuid4().hex
    prof = odd_profile(tmp_path, mode)
    # The flood needs a step that waits; the others fail before or at the ping.
    scn = scenario(tmp_path, PING + "alice expect pm within 20s\n")
    t0 = time.monotonic()
    r = run("run", "--client", f"alice={prof}", scn, env={"DCHARNESS_TEST_TAG": tag, "TMPDIR": str(tmp_path)})
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"why: " + why, r.stdout), r.stdout
    # its log is in the report, under its name and profile
    assert re.search(rf"--- alice \(profile odd-{mode}\): \S+/alice\.log ---", r.stdout), r.stdout
    assert took < 15, f"took {took:.1f}s"
    assert_none_left(tag)


def test_a_party_that_stops_reading_stdin_does_not_block_the_runner(tmp_path):
    """A request bigger than a pipe holds, to a party that never reads: the
    step ends by its own bound, not by a blocked write."""
    prof = odd_profile(tmp_path, "deaf")
    big = "x" * (300 * 1024)
    scn = scenario(tmp_path, f'scenario deaf\nprotocols nmdc\nclient alice\nalice say "{big}" within 2s\n')
    t0 = time.monotonic()
    r = run("run", "--client", prof, scn)
    assert r.returncode == 1
    assert "why: alice sent no reply within 2.0s" in r.stdout, r.stdout[:2000]
    assert time.monotonic() - t0 < 20


def test_capabilities_a_party_lacks_skip_with_the_party_and_capability(tmp_path):
    prof = odd_profile(tmp_path, "ok", caps="core share")
    junit = tmp_path / "j.xml"
    scn = scenario(tmp_path, "scenario live\nprotocols nmdc\nclient alice\nclient bob profile=dcclient\n"
                   "bob connect\nbob set description away\nalice request ping\n")
    r = run("run", "--junit", junit, "--client", f"bob={prof}", scn)
    assert r.returncode == 0, r.stdout
    assert "SKIP" in r.stdout and "bob (odd-ok) lacks capability live-settings" in r.stdout, r.stdout
    tc = next(ET.parse(junit).getroot().iter("testcase"))
    assert "bob (odd-ok) lacks capability live-settings" in tc.find("skipped").get("message")
    # needs cap:NAME asks it of every client; an unsupported setting skips too
    scn2 = scenario(tmp_path, "scenario n\nprotocols nmdc\nneeds cap:resume\nclient alice\nalice request ping\n", "n.scn")
    r = run("run", "--client", prof, scn2)
    assert "alice (odd-ok) lacks capability resume" in r.stdout, r.stdout
    prof2 = odd_profile(tmp_path, "ok", extra="setting slots unsupported\n")
    scn3 = scenario(tmp_path, "scenario s\nprotocols nmdc\nclient alice slots=3\nalice request ping\n", "s3.scn")
    r = run("run", "--client", prof2, scn3)
    assert "alice (odd-ok) does not support setting slots" in r.stdout, r.stdout
    # TLS runs need tls
    r = run("run", "--proto", "nmdcs", "--client", prof, scenario(tmp_path, PING, "p.scn"))
    assert "alice (odd-ok) lacks capability tls" in r.stdout, r.stdout


def test_settings_are_mapped_to_the_partys_own_names(tmp_path):
    prof = odd_profile(tmp_path, "ok", extra="setting description desc\n")
    scn = scenario(tmp_path, 'scenario m\nprotocols nmdc\nclient alice description="at home"\nalice request ping\n')
    r = run("run", "--keep", "--client", prof, scn)
    assert r.returncode == 0, r.stdout
    kept = re.search(r"kept under (\S+)", r.stdout).group(1)
    text = open(next(pathlib_glob(kept, "alice.log"))).read()
    assert '"cmd":"set","args":{"name":"desc","value":"at home"}' in text, text


def test_mixed_parties_and_per_client_overrides(tmp_path):
    """alice from the scenario's profile=, bob by --client bob=: each runs its own."""
    prof = odd_profile(tmp_path, "ok")
    scn = scenario(tmp_path, f"scenario mixed\nprotocols nmdc\nclient alice profile={prof}\nclient bob\n"
                   "alice request ping\nbob connect\nbob expect hub.connected\n")
    r = run("run", "--keep", scn)
    assert r.returncode == 0, r.stdout
    kept = re.search(r"kept under (\S+)", r.stdout).group(1)
    assert "profile odd-ok" in open(next(pathlib_glob(kept, "alice.log"))).read()
    assert "profile dcclient" in open(next(pathlib_glob(kept, "bob.log"))).read()
    r = run("run", "--client", f"bob={prof}", scn)
    assert r.returncode == 1 and "bob's connect failed: not connected to a hub" in r.stdout, r.stdout


def test_bad_profiles_are_errors_at_file_and_line(tmp_path):
    bad = tmp_path / "bad.client"
    bad.write_text("name bad\ncommand {bin}/dcclient {colour}\n")
    r = run("run", "--client", bad, scenario(tmp_path, PING))
    assert r.returncode == 2
    assert f"{bad}:2: unknown placeholder {{colour}}" in r.stderr, r.stderr
    r = run("run", "--client", "no-such-party", scenario(tmp_path, PING))
    assert r.returncode == 2 and "no client profile named no-such-party" in r.stderr
    scn = scenario(tmp_path, "scenario x\nprotocols nmdc\n\nclient alice profile=nothere\nalice request ping\n", "x.scn")
    r = run("run", scn)
    assert r.returncode == 1 and f"{scn}:4: client alice: " in r.stdout, r.stdout


def test_fails_code_matches_the_reply_code(tmp_path):
    prof = odd_profile(tmp_path, "ok")
    ok = scenario(tmp_path, PING + "alice say hi fails code=not-connected\n", "ok.scn")
    assert run("run", "--client", prof, ok).returncode == 0
    bad = scenario(tmp_path, PING + "alice say hi fails code=nick-taken code=bad-password\n", "bad.scn")
    r = run("run", "--client", prof, bad)
    assert r.returncode == 1
    assert ("why: alice's say failed as expected, but with code not-connected (\"not connected to a hub\"), "
            "not nick-taken or bad-password") in r.stdout, r.stdout


def test_fixture_steps_write_the_files_for_any_party(tmp_path):
    """A party without control-ext runs a scenario with fixture files: the
    harness writes them, with mkfile's bytes."""
    prof = odd_profile(tmp_path, "ok")
    scn = scenario(tmp_path, 'scenario fx\nprotocols nmdc\nclient alice\n'
                   'fixture file "{dir}/share/a b/one.bin" size=1 seed=3\nfixture dir "{dir}/got"\n'
                   'fixture file "{dir}/t.txt" size=40 text=true\nalice request ping\n')
    r = run("run", "--keep", "--client", prof, scn)
    assert r.returncode == 0, r.stdout
    kept = re.search(r"kept under (\S+)", r.stdout).group(1)
    sdir = next(os.path.dirname(p) for p in pathlib_glob(kept, "alice.log"))
    assert open(os.path.join(sdir, "share", "a b", "one.bin"), "rb").read() == bytes([0x57])   # xorshift64* of seed 3, first byte
    assert os.path.isdir(os.path.join(sdir, "got"))
    assert open(os.path.join(sdir, "t.txt")).read() == "dcharness fixture line 0000000000\ndcharn"
    bad = scenario(tmp_path, "scenario bad\nprotocols nmdc\nclient alice\nfixture file /proc/nope/x size=1\n", "bad.scn")
    r = run("run", "--client", prof, bad)
    assert r.returncode == 1 and "why: fixture file: cannot create /proc/nope/x" in r.stdout, r.stdout
