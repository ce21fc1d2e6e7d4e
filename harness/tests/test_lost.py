"""Where a message was lost: when an expected pm, chat or user.join never
comes, the report reads the hub's trace and says whether the sender's line
reached the hub, whether the hub sent it on, or whether the receiver got it
and did not report it. Each case is made real with a fault: the hub stops
reading the sender, a fault rule drops the line on its way out, or the
receiver stops reading the hub."""
import re
import subprocess

import pytest

from conftest import ROOT, dc_bin

pytestmark = pytest.mark.sanitize

DATA = ROOT / "harness" / "tests" / "data" / "lost"


def whys(name):
    r = subprocess.run([str(dc_bin("dcharness")), "run", str(DATA / name)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 1, r.stdout + r.stderr
    found = re.findall(r"^\s*why: (.*)$", r.stdout, re.M)
    assert len(found) == 2, r.stdout            # nmdc and adc
    return found


@pytest.mark.parametrize("name, verdict", [
    ("notsent.scn", "not sent by alice: the hub's trace has no PM from alice to bob with that text"),
    ("altered.scn", "not sent by alice: the hub's trace has no PM from alice to bob with that text; "
                    "alice's last PM had the text \"hello bob\""),
    ("notrelayed.scn", "not relayed: the hub got the PM from alice, but did not send it to bob "
                       "(fault rule 1 acted on it: drop)"),
    ("unreported.scn", "relayed to bob: the hub sent bob the PM "),
    ("chat.scn", "relayed to bob: the hub sent bob the chat message "),
    ("join.scn", "not sent by carol: carol never logged in to the hub"),
    ("join-dropped.scn", "not relayed: carol logged in, but the hub sent alice no info for carol "
                         "(fault rule 1 acted on it: drop)"),
    ("join-unreported.scn", "relayed to alice: the hub sent it carol's info, but alice reported no user.join"),
])
def test_the_report_says_where_the_message_was_lost(name, verdict):
    for why in whys(name):
        assert re.match(r"\w+ saw no matching (pm|chat|user\.join) event within 1\.\d+s", why), why
        assert verdict in why, why
        if name in ("unreported.scn", "chat.scn"):
            assert why.endswith("but bob did not report it"), why


def test_no_verdict_without_a_trace(tmp_path):
    """A hub without a trace (any third-party hub) gets the plain report."""
    text = (DATA / "unreported.scn").read_text().replace("bob set hub_read false\n", "")
    scn = tmp_path / "other.scn"
    scn.write_text(text.replace('text="where did it go?"', 'text="never sent"'))
    r = subprocess.run([str(dc_bin("dcharness")), "run", "--hub", "uhub", "--proto", "adc", str(scn)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1, r.stdout + r.stderr
    why = re.search(r"^\s*why: (.*)$", r.stdout, re.M).group(1)
    assert why.startswith("bob saw no matching pm event within 1.0s"), why
    assert "not sent by" not in why and "relayed" not in why, why
