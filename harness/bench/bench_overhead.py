#!/usr/bin/python3
"""bench_overhead.py BUILD_DIR [REPEATS=21] [SCENARIO_DIR=scenarios]
                  [--against OLD_BUILD_DIR] [--no-suite]:
what the harness adds to a scenario, next to the floor measured in the same run.

Floor: what any driver must do for a two-client scenario: start fakehub
(the run's protocol's listener only) and two dcclients, all at once (the
clients need the hub only to connect), read the three ready lines, ask alice one local request (`users`),
then SIGTERM the clients, wait for them, SIGTERM the hub, wait for it
(started from this script with posix_spawn, timed with the monotonic clock).
Harness: `dcharness run --proto nmdc floor.scn` for a scenario doing exactly
that (two clients, `alice users`), timed from outside, so dcharness's own
start, planning, run directory (under $TMPDIR, as for any run), report and
cleanup count. Floor and harness runs alternate, REPEATS of each; printed:
the median with the quartiles and the range, the difference of the medians
(what the harness adds per scenario, target: <= 5 ms) and the median of the
paired differences (each harness run minus the floor run just before it).
Wall time moves with the machine's load; CPU time (user + system of every
process of the run, from wait4) hardly does, so it is printed too: the
harness's CPU minus the floor's is what its own processes (dcharness, the
runner) and the extra fakehub work it asks for (control socket, trace, the
other protocol's listener) cost.
--against OLD_BUILD_DIR: the same for a second build, interleaved with the
first run by run (old floor, old harness, new floor, new harness, ...), so
that an A/B comparison sees the same load.
--no-suite: the per-scenario figures only.

Suite: `dcharness run -j 2 --keep --json FILE SCENARIO_DIR` (wall time),
next to the sum of one floor per run plus each run's own work: the time
the scenario itself asks for or that no harness can save, read from the
run's JSON (its steps' start and seconds) and its kept logs, as intervals
on the run's clock, by category:
  files         `fixture file` steps (the harness writes the bytes), each
                mkfile, share (to share.done), list and download request to
                its answer, from the clients' logs
  wait steps    `wait D` steps, as long as they took
  negative      `expect ... never` and `expect ... count=N` steps (they wait
                all of their window)
  storms/load   signal storms (the hub log's `storm from +A to +B` line),
                the load from its `hub load` step to its report line in
                load.log, a client's `flood` request to flood.done
  asked delays  a `hub fault` step's delay=/for= duration, a client's
                reconnect delay (its hub.reconnecting event's `delay`)
  stops         from the last signal to a party's `exit|` line, for the
                hub and for third-party clients (profile other than dcclient;
                dcclient's own stop is in the floor); the fakehub stop the
                floor also holds is ~1 ms
  hang verdicts the hub log's `verdict (probed for Ts)` window
  third-party   a third-party client's ready line after the later of the
  start         hub's and dcclients' ready lines (the run waits for the
                slowest start)
Overlapping intervals count once, for the first category in that order.
A run's overhead is its time minus the floor minus its own work. Printed:
the breakdown (per category, summed over runs), the suite's wall next to
the sum (target: within 1.2x) and next to the -j 2 bound (max of half the
sum and the longest run), and the per-run overhead distribution (median,
max, the 5 worst runs by name) so that harness waste stands out.

The machine may be shared: the load average is printed, and figures are
medians. Prints figures; not a test.
"""
import json
import os
import pathlib
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

FLOOR_SCN = """# bench_overhead.py: the floor scenario (two clients, one local request).
scenario "floor: two clients, one local request"
protocols nmdc adc

client alice
client bob

alice users
"""


def spawn(argv):
    """posix_spawn with stdin/stdout pipes; returns (pid, stdin fd, stdout fd)."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, devnull, 2),
        (os.POSIX_SPAWN_CLOSE, in_w), (os.POSIX_SPAWN_CLOSE, out_r)], setpgroup=0)
    for fd in (in_r, out_w, devnull):
        os.close(fd)
    return pid, in_w, out_r


def read_lines(fds, want, timeout=30.0):
    """Read from each fd until it gave `want[fd]` complete lines."""
    bufs = {fd: b"" for fd in fds}
    deadline = time.monotonic() + timeout
    while any(bufs[fd].count(b"\n") < want[fd] for fd in fds):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit("floor: no ready line in time")
        ready, _, _ = select.select([fd for fd in fds if bufs[fd].count(b"\n") < want[fd]], [], [], left)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SystemExit("floor: a process closed its stdout early")
            bufs[fd] += chunk
    return bufs


def cpu_of(rusage) -> float:
    return rusage.ru_utime + rusage.ru_stime


def stop(pids) -> float:
    """SIGTERM each, wait for each; their CPU seconds."""
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    return sum(cpu_of(os.wait4(pid, 0)[2]) for pid in pids)


def floor_once(bin_dir: pathlib.Path, tmp: pathlib.Path):
    """(wall seconds, CPU seconds of the three processes)."""
    t0 = time.monotonic()
    hub, hub_in, hub_out = spawn([str(bin_dir / "fakehub"), "--nmdc", "127.0.0.1:0"])
    clients = [spawn([str(bin_dir / "dcclient"), "--data-dir", str(tmp / n)]) for n in ("alice", "bob")]
    read_lines([hub_out] + [c[2] for c in clients], {fd: 1 for fd in [hub_out] + [c[2] for c in clients]})
    os.write(clients[0][1], b'{"id":1,"cmd":"users"}\n')
    read_lines([clients[0][2]], {clients[0][2]: 1})
    cpu = stop([c[0] for c in clients])
    cpu += stop([hub])
    elapsed = time.monotonic() - t0
    for pid, i, o in clients + [(hub, hub_in, hub_out)]:
        os.close(i)
        os.close(o)
    return elapsed, cpu


def harness_once(bin_dir: pathlib.Path, scn: pathlib.Path, out: pathlib.Path):
    """(wall seconds, CPU seconds of dcharness and every process it waited
    for: its runner, and the runner's hub and clients)."""
    argv = [str(bin_dir / "dcharness"), "run", "--proto", "nmdc", str(scn)]
    t0 = time.monotonic()
    with open(out, "wb") as f:   # a file, not a pipe: nothing to drain while it runs
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, f.fileno(), 1), (os.POSIX_SPAWN_DUP2, f.fileno(), 2)])
        _, status, rusage = os.wait4(pid, 0)
    elapsed = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the floor scenario failed:\n{out.read_text(errors='replace')}")
    return elapsed, cpu_of(rusage)


CATEGORIES = ("files", "wait steps", "negative", "storms/load", "asked delays", "stops", "hang verdicts",
              "third-party start")
LOG_LINE = re.compile(r"\s*([\d.]+) (\w+ ?)\| (.*)$")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def log_lines(path: pathlib.Path):
    """(time, tag, text) of each line of a run log; the tag without padding."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            out.append((float(m.group(1)), m.group(2).strip(), m.group(3)))
    return out


def seconds_of(word: str):
    m = DURATION.match(word)
    if not m:
        return None
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def as_json(text: str):
    try:
        j = json.loads(text)
    except ValueError:
        return None
    return j if isinstance(j, dict) else None


def client_intervals(lines, add):
    """Files (mkfile, share to share.done, list, download: request to
    answer), floods (request to flood.done) and reconnect delays (a
    hub.reconnecting event's delay) from a client's log."""
    asked, share_t, flood_t = {}, None, None
    for t, tag, text in lines:
        j = as_json(text) if tag in ("in", "out") else None
        if j is None:
            continue
        if tag == "in" and j.get("cmd") in ("mkfile", "share", "download", "list", "flood"):
            asked[j.get("id")] = (t, j["cmd"])
        elif tag == "out" and "id" in j and j["id"] in asked:
            t0, cmd = asked.pop(j["id"])
            if cmd == "share":
                share_t = t0
            elif cmd == "flood":
                flood_t = t0
            else:
                add("files", t0, t)
        elif tag == "out" and j.get("event") == "share.done" and share_t is not None:
            add("files", share_t, t)
            share_t = None
        elif tag == "out" and j.get("event") == "flood.done" and flood_t is not None:
            add("storms/load", flood_t, t)
            flood_t = None
        elif tag == "out" and j.get("event") == "hub.reconnecting" and isinstance(j.get("delay"), (int, float)):
            add("asked delays", t, t + j["delay"])


def stop_interval(lines):
    """From the last signal before a party's exit| line to that line."""
    last_sig = None
    for t, tag, text in lines:
        if tag == "sig" and " x" not in text:     # a storm's summary line is not a signal
            last_sig = t
        elif tag == "exit":
            return (last_sig, t) if last_sig is not None else None
    return None


def ready_time(lines):
    for t, tag, text in lines:
        if tag == "out":
            j = as_json(text)
            if j is not None and j.get("event") == "ready":
                return t
    return None


def run_work(case) -> dict:
    """Seconds of the run's own work per category (overlaps counted once,
    for the first category in CATEGORIES order), from its JSON and logs."""
    spans = []

    def add(cat, a, b):
        if b > a:
            spans.append((CATEGORIES.index(cat), a, b))

    for st in case.get("steps", []):
        words = st["text"].split()
        if words and words[0].endswith(":") and words[0][:-1] in ("nmdc", "adc", "nmdcs", "adcs"):
            words = words[1:]
        a, b = st["start"], st["start"] + st["seconds"]
        if words[:2] == ["fixture", "file"]:
            add("files", a, b)
        elif words[:1] == ["wait"]:
            add("wait steps", a, b)
        elif "expect" in words[1:2] and ("never" in words or any(w.startswith("count=") for w in words)):
            add("negative", a, b)
        elif words[:2] == ["hub", "fault"]:
            for w in words[2:]:
                k, _, v = w.partition("=")
                d = seconds_of(v) if k in ("delay", "for") else None
                if d:
                    add("asked delays", a, a + d)
        elif words[:2] == ["hub", "load"] and len(words) > 2 and words[2].startswith("users="):
            load_start = a
            for t, tag, text in log_lines(pathlib.Path(case["parties"][0]["log"]).parent / "load.log"):
                if tag in ("out", "exit"):     # its report line, else its end
                    add("storms/load", load_start, t)
                    break
    parties = case.get("parties", [])
    ready = {}
    for i, party in enumerate(parties):
        lines = log_lines(pathlib.Path(party["log"]))
        profile = next((m.group(1) for t, tag, text in lines[:2] if tag == "dcharness"
                        for m in [re.search(r": profile (\S+)", text)] if m), None)
        ready[party["name"]] = (profile, ready_time(lines))
        if i == 0:   # the hub
            for t, tag, text in lines:
                m = re.search(r"storm from \+([\d.]+)s to \+([\d.]+)s", text) if tag == "sig" else None
                if m:
                    add("storms/load", float(m.group(1)), float(m.group(2)))
                m = re.search(r"verdict \(probed for ([\d.]+)s\)", text) if tag == "dcharness" else None
                if m:
                    add("hang verdicts", t - float(m.group(1)), t)
        else:
            client_intervals(lines, add)
        if i == 0 or profile != "dcclient":
            iv = stop_interval(lines)
            if iv:
                add("stops", *iv)
    ours = [t for name, (prof, t) in ready.items() if t is not None and (name == "hub" or prof == "dcclient")]
    base = max(ours) if ours else 0.0
    for name, (prof, t) in ready.items():
        if name != "hub" and prof not in (None, "dcclient") and t is not None:
            add("third-party start", base, t)
    # Sweep: each category gets what earlier categories did not cover.
    work, covered = {c: 0.0 for c in CATEGORIES}, []
    for k, cat in enumerate(CATEGORIES):
        before = union_length(covered)
        covered += [(a, b) for c, a, b in spans if c == k]
        work[cat] = union_length(covered) - before
    return work


def union_length(ivs) -> float:
    total, end = 0.0, None
    for a, b in sorted(ivs):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def spread(xs) -> str:
    """median [quartiles] (range), in ms."""
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return (f"{statistics.median(xs) * 1e3:6.1f} ms [{q[0] * 1e3:.1f}-{q[2] * 1e3:.1f}] "
            f"({min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f})")


def per_scenario(builds, repeats: int, tmp: pathlib.Path) -> dict:
    """Floor and harness runs of each build, interleaved; {build: {what: [seconds]}}."""
    scn = tmp / "floor.scn"
    scn.write_text(FLOOR_SCN)
    res = {b: {k: [] for k in ("floor", "harness", "floor cpu", "harness cpu")} for b in builds}
    for i in range(repeats):   # interleaved, so load changes hit all alike
        for k, b in enumerate(builds):
            w, c = floor_once(b / "bin", tmp / f"floor{i}-{k}")
            res[b]["floor"].append(w)
            res[b]["floor cpu"].append(c)
            w, c = harness_once(b / "bin", scn, tmp / "harness.out")
            res[b]["harness"].append(w)
            res[b]["harness cpu"].append(c)
    for b in builds:
        r = res[b]
        paired = [h - f for f, h in zip(r["floor"], r["harness"])]
        print(f"{b}: {repeats} runs each, median [quartiles] (range)")
        print(f"  floor (fakehub + 2 dcclients to ready, 1 request, stop): {spread(r['floor'])}, "
              f"CPU {spread(r['floor cpu'])}")
        print(f"  dcharness run of the same scenario:                     {spread(r['harness'])}, "
              f"CPU {spread(r['harness cpu'])}")
        print(f"  harness adds per scenario: {(statistics.median(r['harness']) - statistics.median(r['floor'])) * 1e3:5.1f} ms "
              f"wall (target <= 5 ms; paired differences {spread(paired)}), "
              f"{(statistics.median(r['harness cpu']) - statistics.median(r['floor cpu'])) * 1e3:5.1f} ms CPU")
    return res


def suite_report(cases, wall: float, floor: float, scenarios: pathlib.Path):
    rows = []
    totals = {c: 0.0 for c in CATEGORIES}
    for c in cases:
        work = run_work(c)
        for k, v in work.items():
            totals[k] += v
        own = sum(work.values())
        rows.append((c["seconds"] - floor - own, c["seconds"], own, c["name"], c["file"]))
    runs, summed = len(rows), sum(r[1] for r in rows)
    own = sum(totals.values())
    ideal = runs * floor + own
    bound = max(ideal / 2, max((floor + r[2] for r in rows), default=0.0))
    print(f"suite: {runs} runs of {scenarios} at -j 2: {wall:.2f} s wall; the runs' own times sum to "
          f"{summed:.2f} s ({summed / wall:.2f} runs at a time on average)")
    print("  own work, by category (summed over runs; overlaps counted once):")
    for k in CATEGORIES:
        print(f"    {k:18} {totals[k]:8.2f} s")
    print(f"    {'total':18} {own:8.2f} s")
    print(f"  sum of floors ({runs} x {floor * 1e3:.1f} ms = {runs * floor:.2f} s) + own work = {ideal:.2f} s")
    print(f"  suite / (floors + own work): {wall / ideal:.2f}x (target <= 1.2x); -j 2 bound (max of half of it "
          f"and the longest run) {bound:.2f} s: suite / bound {wall / bound:.2f}x")
    over = sorted(rows, reverse=True)
    med = statistics.median(r[0] for r in rows) if rows else 0.0
    print(f"  per-run overhead (run time - floor - own work): median {med * 1e3:.0f} ms, "
          f"max {over[0][0] * 1e3:.0f} ms, summed {sum(r[0] for r in rows):.2f} s; the worst 5:")
    for o, secs, w, name, path in over[:5]:
        print(f"    {o * 1e3:7.0f} ms  (run {secs:.2f} s, own work {w:.2f} s)  {path}: {name}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    against = None
    if "--against" in sys.argv:
        k = sys.argv.index("--against")
        if k + 1 >= len(sys.argv):
            raise SystemExit(__doc__)
        against = pathlib.Path(sys.argv[k + 1]).resolve()
        args.remove(sys.argv[k + 1])
    if len(args) not in (1, 2, 3) or any(f not in ("--against", "--no-suite") for f in flags):
        raise SystemExit(__doc__)
    build = pathlib.Path(args[0]).resolve()
    repeats = int(args[1]) if len(args) >= 2 else 21
    scenarios = pathlib.Path(args[2] if len(args) == 3 else
                             pathlib.Path(__file__).resolve().parents[2] / "scenarios").resolve()
    builds = [against, build] if against else [build]
    for b in builds:
        for tool in ("dcharness", "fakehub", "dcclient"):
            if not (b / "bin" / tool).exists():
                raise SystemExit(f"{b}/bin/{tool} not built")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench_overhead.") as tmp:
        tmp = pathlib.Path(tmp)
        res = per_scenario(builds, repeats, tmp)
        if "--no-suite" in flags:
            print(f"load average {os.getloadavg()[0]:.2f} at the end")
            return
        bin_dir = build / "bin"
        floor = statistics.median(res[build]["floor"])
        env = dict(os.environ, TMPDIR=str(tmp))
        report = tmp / "suite.json"
        t0 = time.monotonic()
        r = subprocess.run([str(bin_dir / "dcharness"), "run", "-j", "2", "--keep", "--json", str(report),
                            str(scenarios)], capture_output=True, text=True, env=env)
        wall = time.monotonic() - t0
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-2000:])
            raise SystemExit("the suite failed")
        cases = [c for c in json.loads(report.read_text())["cases"] if c["status"] == "pass"]
        suite_report(cases, wall, floor, scenarios)
        for d in {pathlib.Path(c["parties"][0]["log"]).parent.parent for c in cases if c.get("parties")}:
            shutil.rmtree(d, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
