"""The HTML report (docs/scenarios.md, "HTML report") in a real browser:
Debian's headless Chromium loads the page of a deliberately failing
scenario; the DOM it builds is checked (one lifeline per process, as many
arrows as trace lines shown, the failing step marked, nothing fetched from
elsewhere) and a screenshot is kept under the build dir
(html-report/failing-nmdc.png, beside the page) as a CI artifact.
"""
import html.parser
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD_DIR, ROOT, dc_bin
from dctest import require_binary

DATA = ROOT / "harness" / "tests" / "data"
ARTIFACTS = BUILD_DIR / "html-report"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attributes, text inside it), in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self._open = [], []

    def handle_starttag(self, tag, attrs):
        el = [tag, dict(attrs), ""]
        self.elements.append(el)
        if tag not in ("meta", "br", "img", "input", "link", "hr"):
            self._open.append(el)

    def handle_startendtag(self, tag, attrs):
        self.elements.append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for el in self._open:
            el[2] += data

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for t, a, text in self.elements:
            if tag and t != tag:
                continue
            if cls and cls not in a.get("class", "").split():
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append((t, a, text))
        return out


def chromium(*args, timeout=120):
    profile = tempfile.mkdtemp(prefix="dcharness-chromium-")   # a fresh profile every time
    try:
        return subprocess.run([require_binary("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def protocol_lines(trace):
    """The trace lines the diagram draws: protocol lines, and lines that are not JSON."""
    n = 0
    for raw in trace.read_bytes().splitlines():
        try:
            n += "line" in json.loads(raw)
        except ValueError:
            n += bool(raw.strip())
    return n


def test_failing_scenario_page_in_chromium(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "failing-nmdc.html"
    r = subprocess.run([str(dc_bin("dcharness")), "run", "--keep", "--proto", "nmdc", "--html", str(page),
                        str(DATA / "failing.scn")], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.returncode == 1, r.stdout + r.stderr
    kept = pathlib.Path(re.search(r"kept: (\S+)", r.stdout).group(1))

    # The page as Chromium parsed it.
    got = chromium("--dump-dom", page.as_uri())
    assert got.returncode == 0 and "</html>" in got.stdout, got.stderr[-2000:]
    dom = Dom()
    dom.feed(got.stdout)

    # One lifeline per process: dcharness (the runner), the hub, alice, bob;
    # and the hang verdict's liveness probe after the failed step, a
    # connection with no party's nick.
    lifelines = [a["data-proc"] for _, a, _ in dom.find("g", cls="lifeline")]
    assert sorted(lifelines) == ["alice", "bob", "dcharness", "hub", "other connections"], lifelines
    # Every protocol line of the hub trace is an arrow, or counted by a fold row.
    trace_arrows = dom.find("g", cls="arrow", data_src="trace")
    folded = sum(int(a["data-trace-hidden"]) for _, a, _ in dom.find("g", cls="collapsed"))
    assert len(trace_arrows) + folded == protocol_lines(kept / "hub.trace"), (len(trace_arrows), folded)
    assert any("$To: bob From: alice $<alice> the real text" in text for _, _, text in trace_arrows)
    # Control lines: alice's pm request and its reply, bob's pm event.
    control = [text for _, _, text in dom.find("g", cls="arrow", data_src="control")]
    assert any(t.startswith("pm nick=bob text=the real text") for t in control), control
    # The failing step: its row, its rule in the diagram, the last lines before it.
    [row] = dom.find("tr", data_failing="1")
    assert 'bob expect pm from=alice text="a text nobody sends" within 1s' in row[2]
    [mark] = dom.find("g", cls="fail-mark")
    assert 'failed at line 14: bob expect pm from=alice text="a text nobody sends"' in mark[2], mark
    assert dom.find("g", cls="recent")
    # Logs in collapsible sections: the hub, alice, bob and the trace.
    assert len(dom.find("details", cls="log")) == 4
    # Self-contained: nothing that would fetch anything.
    for tag, attrs, _ in dom.elements:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed"), (tag, attrs)
        for name in ("src", "href", "xlink:href", "srcset", "data", "poster", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert not re.search(r"url\(|@import", page.read_text()), "CSS that could fetch"

    # A screenshot to look at, kept beside the page.
    shot = ARTIFACTS / "failing-nmdc.png"
    shot.unlink(missing_ok=True)
    got = chromium("--window-size=1200,1800", f"--screenshot={shot}", page.as_uri())
    assert got.returncode == 0, got.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10000
