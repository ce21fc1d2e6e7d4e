"""--dc-html FILE: the HTML report of a pytest session, drawn by dcharness.

Each test becomes one case of `dcharness html`'s input (docs/scenarios.md,
"HTML report"): its phases (setup, call, teardown) as steps with result and
times, and, for the hubs and clients its dc_* fixtures started, what the
diagram needs: the first fakehub's trace, and each process's control
channel as a log in dcharness's format (JsonLines.journal: every request
sent and every reply or event received, stamped with CLOCK_MONOTONIC, the
trace's clock). Scenario items contribute the runs dcharness reports for
them (`dcharness run --json`). At the end of the session the cases go to
`dcharness html --out FILE`, so a page means the same from pytest as from
`dcharness run --html`.

Works in the process that runs the tests: not with pytest-xdist's -n.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import Client
    from .hub import Hub

CASES: pytest.StashKey[list[dict[str, Any]]] = pytest.StashKey()   # on the config
_CLOCK: pytest.StashKey[tuple[float, float]] = pytest.StashKey()   # on an item: (monotonic, wall) at setup
_PHASES: pytest.StashKey[list[dict[str, Any]]] = pytest.StashKey()
_FAIL: pytest.StashKey[tuple[float, int, str, str]] = pytest.StashKey()   # fail_at, step, reason, details
DETAILS_MAX = 20000


def configure(config: pytest.Config) -> None:
    """A --dc-html FILE that cannot be written is a usage error now."""
    path = config.getoption("dc_html")
    if not path:
        return
    if config.getoption("numprocesses", None):
        raise pytest.UsageError("--dc-html collects the report in the process that runs the tests: "
                                "it does not work with -n (pytest-xdist)")
    try:
        open(path, "w").close()
    except OSError as e:
        raise pytest.UsageError(f"--dc-html {path}: cannot write it: {e.strerror}")
    cases: list[dict[str, Any]] = []
    config.stash[CASES] = cases


def enabled(config: pytest.Config) -> bool:
    return CASES in config.stash


def on_setup(item: pytest.Item) -> None:
    if enabled(item.config):
        item.stash[_CLOCK] = (time.monotonic(), time.time())
        phases: list[dict[str, Any]] = []
        item.stash[_PHASES] = phases


def on_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport,
              objs: list[Hub | Client]) -> None:
    """One phase of a test: a step; after teardown, the whole case."""
    if not enabled(item.config) or _CLOCK not in item.stash or getattr(item, "dc_reports_itself", False):
        return
    mono0, wall0 = item.stash[_CLOCK]
    phases = item.stash[_PHASES]
    status = "fail" if report.failed else "skip" if report.skipped else "pass"
    if report.failed and _FAIL not in item.stash:
        text = report.longreprtext
        crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
        reason = crash or (text.strip().splitlines()[-1] if text.strip() else "failed")
        item.stash[_FAIL] = (time.monotonic() - mono0, len(phases), reason.splitlines()[0][:500], text[-DETAILS_MAX:])
    line = (item.location[1] or 0) + 1
    phases.append({"line": line, "text": f"{call.when}: {item.name}" if call.when == "call" else call.when,
                   "status": status, "start": max(call.start - wall0, 0.0), "seconds": call.duration})
    if call.when == "teardown":
        item.config.stash[CASES].append(_case(item, phases, objs, mono0))


def _case(item: pytest.Item, phases: list[dict[str, Any]], objs: list[Hub | Client], t0: float) -> dict[str, Any]:
    from .hub import Hub
    statuses = [p["status"] for p in phases]
    status = "fail" if "fail" in statuses else "skip" if "skip" in statuses else "pass"
    case: dict[str, Any] = {"name": item.nodeid, "file": str(item.path), "status": status,
                            "seconds": sum(p["seconds"] for p in phases), "steps": phases, "t0": t0, "driver": "pytest",
                            "parties": [], "files": []}
    if _FAIL in item.stash:
        case["fail_at"], case["fail_step"], case["reason"], case["details"] = item.stash[_FAIL]
    elif status == "skip":
        case["reason"] = "skipped"
    hubs = [o for o in objs if isinstance(o, Hub)]
    # beside the test's own tmp dirs: pytest removes old ones
    workdir = keep_dir(item.config, "dctest-html")
    for i, obj in enumerate(hubs + [o for o in objs if not isinstance(o, Hub)]):
        is_hub = isinstance(obj, Hub)
        name = ("hub" if i == 0 else f"hub{i + 1}") if is_hub else obj.nick   # type: ignore[union-attr]
        channel = obj._control if is_hub else obj.process.channel             # type: ignore[union-attr]
        party: dict[str, Any] = {"name": name, "nick": None if is_hub else obj.nick}  # type: ignore[union-attr]
        if channel is not None:
            log = workdir / f"{name}.control.log"
            channel.journal_log(log, t0, received="ctl" if is_hub else "out")
            party["log"] = str(log)
        case["parties"].append(party)
        case["files"].append({"title": f"{name} (stderr)", "path": str(obj.log_path)})
        if is_hub and i == 0 and obj.trace_path is not None:   # type: ignore[union-attr]
            case["trace"] = str(obj.trace_path)                  # type: ignore[union-attr]
    if not hubs and case["parties"]:
        case["parties"].insert(0, {"name": "hub", "nick": None})   # the diagram's hub lifeline
    return case


def keep_dir(config: pytest.Config, name: str) -> pathlib.Path:
    """A new directory under the session's tmp dirs (pytest removes old ones)."""
    return config._tmp_path_factory.mktemp(name)  # type: ignore[attr-defined, no-any-return]


def add_cases(config: pytest.Config, cases: list[dict[str, Any]]) -> None:
    """Cases reported by dcharness itself (scenario items)."""
    if enabled(config):
        config.stash[CASES].extend(cases)


def finish(config: pytest.Config, dcharness: str | None) -> str | None:
    """Draw the page; returns a problem to report, or None."""
    if not enabled(config):
        return None
    path = config.getoption("dc_html")
    if dcharness is None or not os.access(dcharness, os.X_OK):
        return f"--dc-html {path}: dcharness not found (--dc-bin-dir), no report written"
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="dctest-html-", delete=False) as f:
        json.dump({"title": "pytest (dctest)", "cases": config.stash[CASES]}, f)
    try:
        argv = [dcharness, "html", "--out", path, f.name]
        if config.getoption("dc_html_all"):
            argv.insert(2, "--all")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(f.name)
    return None if r.returncode == 0 else f"--dc-html {path}: {r.stderr.strip()}"
