"""bench_load.py (client/load/) at tiny N, so the benchmark cannot rot
unnoticed: it must run dcload against fresh hubs, print a table row per hub
with positive figures and, with uhub, the fakehub/uhub ratios against the
targets. No timing assertions: the figures are the benchmark's to report."""
import pathlib
import subprocess
import sys

import pytest

from dctest.procs import require_binary

BENCH = pathlib.Path(__file__).resolve().parents[1] / "load" / "bench_load.py"


def run_bench(bin_path, *args):
    build = bin_path("dcload").parent.parent
    bin_path("fakehub")
    r = subprocess.run([sys.executable, str(BENCH), "--build-dir", str(build), "--clients", "5", "--repeat", "2", *args],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout, r.stderr)
    rows = {tuple(line.split()[:3]): line.split()[3:] for line in r.stdout.splitlines()
            if line.split()[:1] in (["fakehub"], ["uhub"], ["fhfaults"])}
    return r.stdout, rows


def check_row(cols):
    assert cols[0] == "2/2", cols   # runs completed
    online, logins, deliveries, p50, p90, p99, kib, anon, hub_cpu, load_cpu, wall = map(float, cols[1:12])
    assert online == 5 and logins > 0 and deliveries > 0 and wall > 0
    assert 0 < p50 <= p90 <= p99
    assert kib >= 0 and anon >= 0 and hub_cpu >= 0 and load_cpu >= 0   # RSS moves in 4 KiB pages: 5 users may add none


def test_bench_load_fakehub_table(bin_path):
    out, rows = run_bench(bin_path, "--hubs", "fakehub")
    assert set(rows) == {("fakehub", "adc", "5"), ("fakehub", "nmdc", "5")}, out
    for cols in rows.values():
        check_row(cols)
    assert "fakehub/uhub" not in out


@pytest.mark.interop
def test_bench_load_uhub_ratios(bin_path):
    require_binary("uhub")
    out, rows = run_bench(bin_path, "--no-nmdc")
    assert set(rows) == {("fakehub", "adc", "5"), ("uhub", "adc", "5")}, out
    for cols in rows.values():
        check_row(cols)
    ratios = [line for line in out.splitlines() if line.startswith("N=5 fakehub/uhub")]
    assert len(ratios) == 1 and "of 2 paired runs" in ratios[0] and ratios[0].count("target") == 3, out


def test_bench_load_idle_fault_table_row(bin_path):
    out, rows = run_bench(bin_path, "--hubs", "fakehub", "--no-nmdc", "--fault-rules", "8")
    assert set(rows) == {("fakehub", "adc", "5"), ("fhfaults", "adc", "5")}, out
    for cols in rows.values():
        check_row(cols)
    assert "N=5 idle fault table (8 rules) / none" in out, out
