"""bench_transfer.py (client/bench/) at a tiny size, so the benchmark cannot
rot unnoticed: one run must print a throughput line for every protocol and
mode (text over ZLIB next to gzip -1, random data over ZLIB next to plain,
the CPU of both processes under each, and the downloader's by thread), the TLS ones (nmdcs, adcs: the client connection is TLS too, which the
benchmark checks on each transfer) next to the same without TLS, with the
version and cipher agreed (TLS 1.3, AES-128-GCM between two dcclients) and
bench_tlsloop's figures for TLS alone. No timing
assertions: the figures are the benchmark's to report."""
import pathlib
import re
import subprocess
import sys

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_transfer.py"


def test_bench_transfer_prints_tls_next_to_plain(bin_path):
    build = bin_path("dcclient").parent.parent
    bin_path("bench_rawloop")
    bin_path("bench_tth_threads")
    bin_path("bench_tlsloop")
    r = subprocess.run([sys.executable, str(BENCH), str(build), "4"], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout, r.stderr)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^dcclient (bob-\S+) .*$", r.stdout, re.M)}
    assert sorted(rows) == sorted([f"bob-{p}-{m}" for p in ("nmdc", "nmdcs", "adc", "adcs")
                                   for m in ("plain", "zlib")] + ["bob-nmdc-zlibtext", "bob-adc-zlibtext"]), r.stdout
    for name, line in rows.items():
        speed = float(re.search(r"data phase +([\d.]+) MiB/s", line).group(1))
        assert speed > 0, line
        proto, mode = name.split("-")[1:]
        assert ("% of the same without TLS" in line) == (proto in ("nmdcs", "adcs") and mode != "zlibtext"), line
        assert ("% of the same without ZLIB" in line) == (mode == "zlib"), line
        assert ("% of gzip -1 on the same file" in line) == (mode == "zlibtext"), line
    assert re.search(r"^gzip -1 of text.txt .* MiB/s", r.stdout, re.M), r.stdout
    # What was agreed under each TLS row (from the downloader's log), and TLS's own cost once.
    assert len(re.findall(r"^    TLS agreed: TLSv1\.3 TLS_AES_128_GCM_SHA256$", r.stdout, re.M)) == 4, r.stdout
    assert re.search(r"^TLS alone \(bench_tlsloop.*AES-128-GCM itself [\d.]+ s/GiB per side; sender .* [\d.]+, "
                     r"receiver [\d.]+ s/GiB as the client does it \(OpenSSL's socket BIOs: [\d.]+ and [\d.]+\)$",
                     r.stdout, re.M), r.stdout
    assert len(re.findall(r"^    cpu s/GiB: uploader [\d.]+ user \+ [\d.]+ sys, downloader [\d.]+ user",
                          r.stdout, re.M)) == len(rows), r.stdout
    assert len(re.findall(r"^    downloader threads, cpu s/GiB: loop [\d.]+ .*, hashing [\d.]+ \(TTH alone needs "
                          r"[\d.]+\), writing [\d.]+, other [\d.]+$", r.stdout, re.M)) == len(rows), r.stdout
