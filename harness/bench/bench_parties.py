#!/usr/bin/python3
"""bench_parties.py BUILD_DIR [--pms N] [--size MiB] [--scenarios PATH...]:
what a party kind costs.

First, with --scenarios: `dcharness run --client dcclient` and `--client
eiskaltdcpp` over the same scenario files (fakehub, NMDC and ADC), time per
scenario run side by side from the JUnit files (a skip shows its reason's
capability), and the sums over the runs both passed.

Then the session: The same Alice/Bob session (start both, share, log in until each sees
the other, N PMs Alice->Bob one at a time, Bob fetches Alice's list, Bob
downloads one file, stop both) through fakehub, NMDC and ADC, with dcclient
parties and with eiskaltdcpp parties (parties/eiskaltdcpp_party.py), phase
by phase, side by side.

Then the eiskaltdcpp adapter's own share of that: the same PM and the same
download driven on the bare daemons through the driver the adapter uses
(dctest.eiskaltdcpp: hub.pm, then polling the receiver's PM log every 2 ms;
list.downloadfile, then polling file size and queue every 5 ms), next to the
party's figures (request -> `pm` event; `download` request -> reply). The
difference is what the adapter adds (its 50 ms poll, JSON lines, the staging
move). Medians over N, min and max beside them.

Prints figures; not a test. Needs eiskaltdcpp-daemon.
"""
import argparse
import os
import subprocess
import xml.etree.ElementTree as ET
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pytest"))
from dctest import Process  # noqa: E402
from dctest.client import Client  # noqa: E402
from dctest.eiskaltdcpp import EiskaltDaemon  # noqa: E402
from dctest.parties import load  # noqa: E402
from dctest.peers import stop_all  # noqa: E402


def ms(x):
    return f"{x * 1000:8.1f}"


def spread(xs):
    return f"{ms(statistics.median(xs))} ms  [{ms(min(xs)).strip()}..{ms(max(xs)).strip()}]"


def start_hub(build, d):
    hub = Process([build / "bin" / "fakehub", "--nmdc", "127.0.0.1:0", "--adc", "127.0.0.1:0"],
                  name="fakehub", log=d / "fakehub.log")
    ready = hub.wait_ready()
    return hub, {"nmdc": f"dchub://{ready['nmdc']}", "adc": f"adc://{ready['adc']}"}


def session(build, d, kind, url, n_pms, size):
    """One Alice/Bob session; returns {phase: seconds, "pm": [latencies], ...}."""
    prof = None if kind == "dcclient" else load(kind)
    share = d / f"{kind}-share"
    share.mkdir()
    (share / "file.bin").write_bytes(os.urandom(size))
    got = d / f"{kind}-got"
    got.mkdir()
    t, out = time.monotonic(), {}
    alice = Client(str(build / "bin" / "dcclient"), d / f"{kind}-alice", "alice", profile=prof)
    bob = Client(str(build / "bin" / "dcclient"), d / f"{kind}-bob", "bob", profile=prof)
    try:
        out["start"] = time.monotonic() - t
        t = time.monotonic()
        alice.share(share)
        alice.wait_for("share.done", timeout=60)
        out["share"] = time.monotonic() - t
        t = time.monotonic()
        alice.connect(url, timeout=60)
        bob.connect(url, timeout=60)
        alice.wait_for("user.join", nick="bob", timeout=30)
        bob.wait_for("user.join", nick="alice", timeout=30)
        out["login"] = time.monotonic() - t
        out["pm"] = []
        for i in range(n_pms):
            t = time.monotonic()
            alice.pm("bob", f"pm {i}")
            bob.wait_for("pm", text=f"pm {i}", timeout=10)
            out["pm"].append(time.monotonic() - t)
        t = time.monotonic()
        bob.list("alice", timeout=60)
        out["list"] = time.monotonic() - t
        t = time.monotonic()
        bob.download("alice", got, path=f"/{share.name}/file.bin", timeout=300)
        out["download"] = time.monotonic() - t
    finally:
        t = time.monotonic()
        for c in (alice, bob):
            c.stop()
        out["stop"] = time.monotonic() - t
    return out


def bounded(t0, seconds, what):
    if time.monotonic() - t0 > seconds:
        raise SystemExit(f"bench_parties: {what} took over {seconds} s")


def bare_daemons(d, url, n_pms, size):
    """The same PM and download on two bare daemons (no adapter)."""
    share = d / "bare-share"
    share.mkdir()
    (share / "file.bin").write_bytes(os.urandom(size))
    alice = EiskaltDaemon(d / "bare-alice", "alice", share=share)
    bob = EiskaltDaemon(d / "bare-bob", "bob")
    out = {"pm": []}
    try:
        alice.start()
        bob.start()
        alice.wait_hashed()
        alice.login(url)
        bob.login(url)
        bob.wait_users(url, ["alice"])
        alice.wait_users(url, ["bob"])
        for i in range(n_pms):
            t = time.monotonic()
            alice.pm(url, "bob", f"pm {i}")
            while ("alice", f"pm {i}") not in bob.received_pms("alice"):
                bounded(t, 10, "bare PM")
                time.sleep(0.002)
            out["pm"].append(time.monotonic() - t)
        t = time.monotonic()
        bob.download_filelist(url, "alice")
        out["list"] = time.monotonic() - t
        flist = sorted((bob.cfg / "FileLists").glob("alice.*.xml.bz2"))[-1].name
        dest = d / "bare-got"
        dest.mkdir()
        t = time.monotonic()
        bob.rpc("list.open", filelist=flist)
        # the driver shares its directory under the virtual name "share"
        while bob.rpc("list.downloadfile", filelist=flist, target="share\\file.bin",
                      downloadto=f"{dest}/") != 0:
            bounded(t, 10, "list.downloadfile")
            time.sleep(0.005)
        f = dest / "file.bin"
        while not (f.exists() and f.stat().st_size == size and not bob.rpc("queue.list")):
            bounded(t, 120, "bare download")
            time.sleep(0.005)
        out["download"] = time.monotonic() - t
    finally:
        stop_all([alice, bob])
    return out


def scenario_times(build, d, kind, paths):
    """{run name: (status, seconds, reason)} from a dcharness run's JUnit."""
    junit = d / f"{kind}.xml"
    subprocess.run([build / "bin" / "dcharness", "run", "--client", kind, "--junit", junit, *paths],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        skipped, failed = case.find("skipped"), case.find("failure")
        status = "skip" if skipped is not None else "FAIL" if failed is not None else "pass"
        reason = (skipped.get("message", "") if skipped is not None else "")
        out[f"{case.get('classname')}: {case.get('name')}"] = (status, float(case.get("time", 0)), reason)
    return out


def compare_scenarios(build, d, paths):
    res = {kind: scenario_times(build, d, kind, paths) for kind in ("dcclient", "eiskaltdcpp")}
    print(f"\nscenario runs (dcharness run --client K, fakehub){'':24}dcclient    eiskaltdcpp")
    both = [0.0, 0.0]
    for name in sorted(res["dcclient"]):
        a, b = res["dcclient"][name], res["eiskaltdcpp"].get(name, ("-", 0.0, ""))
        cell = lambda r: f"{r[1] * 1000:7.0f} ms" if r[0] == "pass" else f"{r[0]:>10}"
        why = f"  ({b[2].split(': ', 1)[-1]})" if b[0] == "skip" else ""
        title, _, proto = name.rpartition(" [")
        print(f"  {title[:62] + ' [' + proto:<70} {cell(a)}  {cell(b)}{why}")
        if a[0] == b[0] == "pass":
            both[0] += a[1]
            both[1] += b[1]
    print(f"  {'sum over the runs both passed':<70} {both[0] * 1000:7.0f} ms  {both[1] * 1000:7.0f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", type=pathlib.Path)
    ap.add_argument("--pms", type=int, default=10)
    ap.add_argument("--size", type=int, default=4, help="MiB downloaded")
    ap.add_argument("--scenarios", nargs="*", default=[], help="scenario files/dirs to time per party kind")
    a = ap.parse_args()
    build, size = a.build.resolve(), a.size << 20
    print(f"bench_parties: {a.pms} PMs, one {a.size} MiB download, fakehub on 127.0.0.1; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-parties-") as tmp:
        d = pathlib.Path(tmp)
        if a.scenarios:
            compare_scenarios(build, d, [str(pathlib.Path(p).resolve()) for p in a.scenarios])
        hub, urls = start_hub(build, d)
        try:
            for proto in ("nmdc", "adc"):
                res = {}
                for kind in ("dcclient", "eiskaltdcpp"):
                    sub = d / f"{proto}-{kind}"
                    sub.mkdir()
                    res[kind] = session(build, sub, kind, urls[proto], a.pms, size)
                print(f"\n{proto}: phase            dcclient           eiskaltdcpp")
                for phase in ("start", "share", "login", "list", "download", "stop"):
                    print(f"  {phase:<10} {ms(res['dcclient'][phase])} ms      "
                          f"{ms(res['eiskaltdcpp'][phase])} ms")
                total = {k: sum(v for p, v in r.items() if p != "pm") + sum(r["pm"]) for k, r in res.items()}
                print(f"  {'pm (median)':<10} {spread(res['dcclient']['pm'])}   {spread(res['eiskaltdcpp']['pm'])}")
                print(f"  {'total':<10} {ms(total['dcclient'])} ms      {ms(total['eiskaltdcpp'])} ms")
                sub = d / f"{proto}-bare"
                sub.mkdir()
                bare = bare_daemons(sub, urls[proto], a.pms, size)
                party = res["eiskaltdcpp"]
                added = statistics.median(party["pm"]) - statistics.median(bare["pm"])
                print(f"  eiskaltdcpp adapter vs bare daemon ({proto}):")
                print(f"    PM        party {spread(party['pm'])}   bare {spread(bare['pm'])}   "
                      f"added {ms(added).strip()} ms")
                print(f"    list      party {ms(party['list'])} ms   bare {ms(bare['list'])} ms   "
                      f"added {ms(party['list'] - bare['list']).strip()} ms")
                print(f"    download  party {ms(party['download'])} ms   bare {ms(bare['download'])} ms   "
                      f"added {ms(party['download'] - bare['download']).strip()} ms")
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
