"""dcharness scenario files (*.scn) as pytest items: one per scenario and protocol.

An item runs its file through the harness itself,
`dcharness run --proto P [--hub PROFILE] --bin-dir DIR --junit FILE PATH`, so a
scenario means exactly what it means under dcharness (docs/scenarios.md).
The JUnit file gives the verdict: a harness skip (the hub lacks a protocol or
feature) is a pytest skip with the harness's reason, and a failure shows the
harness's own report (failed step, logs around it, hub trace, rerun line).

Collection asks dcharness for its plan (`dcharness run --list`), so which
protocols a file runs for is decided in one place; a file that does not
parse is one failing item (`FILE.scn::parse`) whose report is the harness's
error at file:line. dcharness runs in
its own session with PR_SET_PDEATHSIG; on KeyboardInterrupt or a timeout it
gets SIGTERM (it tears its scenario down and dies of that signal), then
SIGKILL after a grace period.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from typing import Any, Iterator

import pytest
from _pytest._code.code import TerminalRepr

from . import htmlreport
from .plugin import bin_path, hub_profile, protocols
from .procs import _die_with_parent, scaled


def planned_runs(config: pytest.Config, path: pathlib.Path) -> list[dict[str, str]]:
    """dcharness's own plan for one file under --dc-proto
    (`dcharness run --list`): {"proto", "name"} per run, or one {"error"}
    when the file does not parse."""
    argv = [bin_path(config, "dcharness"), "run", "--list", "--proto", ",".join(protocols(config)), str(path)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=scaled(60), preexec_fn=_die_with_parent)
    runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode not in (0, 1) or (proc.returncode == 1) != any("error" in r for r in runs):
        raise pytest.UsageError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return runs


class ScenarioFailed(Exception):
    """The harness's report of a failed (or unrunnable) scenario."""


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for run in planned_runs(self.config, self.path):
            if "error" in run:   # one failing item, whatever protocols it meant to declare
                yield ScenarioItem.from_parent(self, name="parse", proto=None)
                return
            yield ScenarioItem.from_parent(self, name=run["proto"], proto=run["proto"])


class ScenarioItem(pytest.Item):
    dc_reports_itself = True   # --dc-html: dcharness reports the run, with its steps and parties
    def __init__(self, *, proto: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.proto = proto   # None: the file does not parse; dcharness reports where

    def _argv(self, junit: pathlib.Path, report: pathlib.Path | None) -> list[str]:
        dcharness = bin_path(self.config, "dcharness")
        argv = [dcharness, "run", *(["--proto", self.proto] if self.proto else []),
                "--bin-dir", os.path.dirname(dcharness), "--junit", str(junit)]
        if report is not None:   # the logs must outlive the run for the page
            argv += ["--keep", "--json", str(report)]
        hub = hub_profile(self.config)
        if hub:
            argv += ["--hub", hub]
        return argv + [str(self.path)]

    def runtest(self) -> None:
        with tempfile.TemporaryDirectory(prefix="dctest-scn-") as tmp:
            junit = pathlib.Path(tmp) / "junit.xml"
            kept = htmlreport.keep_dir(self.config, "dctest-scn") if htmlreport.enabled(self.config) else None
            report = kept / "run.json" if kept else None
            argv = self._argv(junit, report)
            env = dict(os.environ, TMPDIR=str(kept)) if kept else None
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                    preexec_fn=_die_with_parent, env=env)
            try:
                out, _ = proc.communicate(timeout=scaled(600))
            except BaseException:   # KeyboardInterrupt, timeout
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=scaled(10))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                raise
            cases = list(ET.parse(junit).getroot().iter("testcase")) if junit.exists() else []
            if report is not None and report.exists():
                htmlreport.add_cases(self.config, json.loads(report.read_text(errors="replace"))["cases"])
        if len(cases) != 1:
            raise ScenarioFailed(f"{' '.join(argv)}\nexited {proc.returncode} with "
                                 f"{len(cases)} results:\n{out}")
        skipped, failed = cases[0].find("skipped"), cases[0].find("failure")
        if skipped is not None:
            # reported at the scenario file, not at this line
            raise pytest.skip.Exception(skipped.get("message") or "skipped by dcharness",
                                        _use_item_location=True)
        if failed is not None or proc.returncode != 0:
            raise ScenarioFailed(out)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[pathlib.Path, int, str]:
        return self.path, 0, f"{self.path.name} [{self.proto or 'does not parse'}]"
