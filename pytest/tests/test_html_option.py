"""--dc-html FILE (dctest.htmlreport): one page for a pytest session, drawn
by `dcharness html`: each test's phases as steps, and for a failed test a
sequence diagram of its hub and clients (the fakehub trace and every
control line the fixtures exchanged); scenario items bring dcharness's own
runs. A FILE that cannot be written is a usage error at once."""
import html.parser
import shutil

import pytest

from conftest import BUILD_DIR, ROOT

ARGS = ["-p", "dctest.plugin", f"--dc-bin-dir={BUILD_DIR / 'bin'}", "-p", "no:cacheprovider"]

TESTS = """
import pytest

@pytest.mark.parametrize("dc_proto", ["nmdc"])
def test_pm_never_arrives(dc_hub, dc_client):
    alice, bob = dc_client("alice"), dc_client("bob")
    alice.connect(dc_hub.url)
    bob.connect(dc_hub.url)
    alice.wait_for("user.join", nick="bob")
    alice.pm("bob", "<b>the real text</b>")
    bob.wait_for("pm", text="a text nobody sends", timeout=0.5)

def test_plain_passes():
    assert True
"""


class Page(html.parser.HTMLParser):
    """Sections of the page: for each <section>, its elements (tag, attrs, text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections, self.summary_rows, self._open = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append([])
        el = [tag, a, ""]
        if self.sections:
            self.sections[-1].append(el)
        elif tag == "tr" and "class" in a:
            self.summary_rows += 1
        if tag not in ("meta",):
            self._open.append(el)

    def handle_startendtag(self, tag, attrs):
        if self.sections:
            self.sections[-1].append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for el in self._open:
            el[2] += data


def find(section, tag, cls=None, **attrs):
    return [(t, a, x) for t, a, x in section if t == tag and (cls is None or cls in a.get("class", "").split())
            and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def test_page_of_a_session(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "pytest"))
    pytester.makepyfile(test_inner=TESTS)
    shutil.copy(ROOT / "harness" / "tests" / "data" / "failing.scn", pytester.path)
    out = pytester.path / "report.html"
    result = pytester.runpytest_inprocess(*ARGS, "--dc-html", str(out), "--dc-proto", "nmdc", "--dc-scenarios",
                                          "test_inner.py", "failing.scn")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([f"dctest: HTML report: {out}"])
    page = Page()
    page.feed(out.read_text())
    assert page.summary_rows == 3
    by_name = {find(s, "section")[0][1]["id"]: s for s in page.sections}
    [test_case] = [s for s in page.sections if "test_pm_never_arrives" in find(s, "h2")[0][2]]
    [scn_case] = [s for s in page.sections if "deliberately failing PM [nmdc]" in find(s, "h2")[0][2]]
    assert len(by_name) == 3

    # The failed test: its phases, the call failing; a diagram of its processes.
    steps = [(x, a["class"]) for _, a, x in find(test_case, "tr", cls="step")]
    assert [c for _, c in steps] == ["step pass", "step fail", "step pass"], steps
    assert "setup" in steps[0][0] and "call: test_pm_never_arrives[nmdc]" in steps[1][0] \
        and "teardown" in steps[2][0], steps
    lifelines = sorted(a["data-proc"] for _, a, _ in find(test_case, "g", cls="lifeline"))
    assert lifelines == ["alice", "bob", "hub", "pytest"], lifelines
    trace = [x for _, _, x in find(test_case, "g", cls="arrow", data_src="trace")]
    assert any("$To: bob From: alice $<alice> <b>the real text</b>" in x for x in trace), trace
    control = [x for _, _, x in find(test_case, "g", cls="arrow", data_src="control")]
    assert any(x.startswith("pm nick=bob text=<b>the real text</b>") for x in control), control
    assert any(x.startswith("pm from=alice") for x in control), control
    assert find(test_case, "g", cls="fail-mark")
    assert not find(test_case, "b"), "log text became markup"
    # the clients' and the hub's stderr logs, their control channels, the trace
    titles = [x for _, _, x in find(test_case, "summary")]
    assert sum("(stderr)" in t for t in titles) == 3 and any(t.startswith("hub trace") for t in titles), titles

    # The scenario item: dcharness's own run, with the scenario's steps.
    [failing_row] = find(scn_case, "tr", data_failing="1")
    assert 'bob expect pm from=alice text="a text nobody sends" within 1s' in failing_row[2]
    # (other connections: the hang verdict's liveness probe after the failed step)
    assert sorted(a["data-proc"] for _, a, _ in find(scn_case, "g", cls="lifeline")) == \
        ["alice", "bob", "dcharness", "hub", "other connections"]
    # the passed test: no diagram without --dc-html-all
    [passed] = [s for s in page.sections if "test_plain_passes" in find(s, "h2")[0][2]]
    assert not find(passed, "svg")


def test_unwritable_file_is_a_usage_error(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "pytest"))
    pytester.makepyfile(test_inner="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess(*ARGS, "--dc-html", str(pytester.path / "nodir" / "r.html"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dc-html *nodir/r.html: cannot write it: No such file or directory*"])
