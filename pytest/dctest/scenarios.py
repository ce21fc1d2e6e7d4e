"""dcharness scenario files (*.scn) as pytest items: one per scenario and protocol.

An item runs its file through the harness itself,
`dcharness run --proto P [--hub PROFILE] --bin-dir DIR --junit FILE PATH`, so a
scenario means exactly what it means under dcharness (docs/scenarios.md).
The JUnit file gives the verdict: a harness skip (the hub lacks a protocol or
feature) is a pytest skip with the harness's reason, and a failure shows the
harness's own report (failed step, logs around it, hub trace, rerun line).

Collection reads only the file's `protocols` line (default: both); anything
else, including syntax errors, is the harness's to report. dcharness runs in
its own session with PR_SET_PDEATHSIG; on KeyboardInterrupt or a timeout it
gets SIGTERM (it tears its scenario down and dies of that signal), then
SIGKILL after a grace period.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

from .plugin import ALL_PROTOCOLS, PROTOCOLS, bin_path, hub_profile, protocols
from .procs import _die_with_parent, scaled


def declared_protocols(path: pathlib.Path) -> list[str]:
    """The protocols a scenario file runs for: those its `protocols` line
    declares, and the TLS variant of each plain one (as dcharness does)."""
    declared = list(PROTOCOLS)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split()
        if words and words[0] == "protocols":
            declared = [w for w in words[1:] if w in ALL_PROTOCOLS]
            break
    return [p for p in ALL_PROTOCOLS if p in declared or (p.endswith("s") and p[:-1] in declared)]


class ScenarioFailed(Exception):
    """The harness's report of a failed (or unrunnable) scenario."""


class ScenarioFile(pytest.File):
    def collect(self):
        chosen = protocols(self.config)
        for proto in declared_protocols(self.path):
            if proto in chosen:
                yield ScenarioItem.from_parent(self, name=proto, proto=proto)


class ScenarioItem(pytest.Item):
    def __init__(self, *, proto: str, **kwargs):
        super().__init__(**kwargs)
        self.proto = proto

    def _argv(self, junit: pathlib.Path) -> list[str]:
        dcharness = bin_path(self.config, "dcharness")
        argv = [dcharness, "run", "--proto", self.proto, "--bin-dir", os.path.dirname(dcharness),
                "--junit", str(junit)]
        hub = hub_profile(self.config)
        if hub:
            argv += ["--hub", hub]
        return argv + [str(self.path)]

    def runtest(self):
        with tempfile.TemporaryDirectory(prefix="dctest-scn-") as tmp:
            junit = pathlib.Path(tmp) / "junit.xml"
            argv = self._argv(junit)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                    preexec_fn=_die_with_parent)
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

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.path.name} [{self.proto}]"
