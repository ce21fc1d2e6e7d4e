#!/usr/bin/python3
"""bench_overhead.py BUILD_DIR [REPEATS=7] [SCENARIO_DIR=scenarios]: what the
harness adds to a scenario, next to the floor measured in the same run.

Floor: what any driver must do for a two-client scenario: start fakehub
(the run's protocol's listener only) and two dcclients, all at once (the
clients need the hub only to connect), read the three ready lines, ask alice one local request (`users`),
then SIGTERM the clients, wait for them, SIGTERM the hub, wait for it
(started from this script with posix_spawn, timed with the monotonic clock).
Harness: `dcharness run --proto nmdc floor.scn` for a scenario doing exactly
that (two clients, `alice users`), timed from outside, so dcharness's own
start, planning and report count. Each is the median of REPEATS runs,
with the range beside it; the difference is what the harness adds per
scenario (target: <= 5 ms).

Suite: `dcharness run -j 2 --keep SCENARIO_DIR` (wall time), next to the
sum of one floor per run plus each run's own work, read from the kept
client logs: the time from each mkfile, share and download request to its
answer (share: to share.done) -- the files made, hashed and moved, which no
harness can save. Printed next to that sum and next to half of it (two
runs at a time at best); target: within 1.2x.

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


def stop(pids):
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    for pid in pids:
        os.waitpid(pid, 0)


def floor_once(bin_dir: pathlib.Path, tmp: pathlib.Path) -> float:
    t0 = time.monotonic()
    hub, hub_in, hub_out = spawn([str(bin_dir / "fakehub"), "--nmdc", "127.0.0.1:0"])
    clients = [spawn([str(bin_dir / "dcclient"), "--data-dir", str(tmp / n)]) for n in ("alice", "bob")]
    read_lines([hub_out] + [c[2] for c in clients], {fd: 1 for fd in [hub_out] + [c[2] for c in clients]})
    os.write(clients[0][1], b'{"id":1,"cmd":"users"}\n')
    read_lines([clients[0][2]], {clients[0][2]: 1})
    stop([c[0] for c in clients])
    stop([hub])
    elapsed = time.monotonic() - t0
    for pid, i, o in clients + [(hub, hub_in, hub_out)]:
        os.close(i)
        os.close(o)
    return elapsed


def harness_once(bin_dir: pathlib.Path, scn: pathlib.Path) -> float:
    t0 = time.monotonic()
    r = subprocess.run([str(bin_dir / "dcharness"), "run", "--proto", "nmdc", str(scn)], capture_output=True,
                       text=True)
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"the floor scenario failed:\n{r.stdout}{r.stderr}")
    return elapsed


def own_work(run_dir: pathlib.Path) -> float:
    """Seconds a run's clients spent on mkfile, share (to share.done) and
    download requests, from their logs."""
    total = 0.0
    for log in run_dir.glob("*.log"):
        if log.name == "hub.log":
            continue
        asked = {}
        share_t = None
        for line in log.read_text(errors="replace").splitlines():
            m = re.match(r"\s*([\d.]+) (in |out)\| (.*)$", line)
            if not m:
                continue
            t, kind, text = float(m.group(1)), m.group(2), m.group(3)
            try:
                j = json.loads(text)
            except ValueError:
                continue
            if kind == "in " and j.get("cmd") in ("mkfile", "share", "download"):
                asked[j.get("id")] = (t, j["cmd"])
            elif kind == "out" and "id" in j and j["id"] in asked:
                t0, cmd = asked.pop(j["id"])
                if cmd == "share":
                    share_t = t0
                else:
                    total += t - t0
            elif kind == "out" and j.get("event") == "share.done" and share_t is not None:
                total += t - share_t
                share_t = None
    return total


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def ms(s) -> str:
    med, lo, hi = s
    return f"{med * 1e3:7.1f} ms ({lo * 1e3:.1f}-{hi * 1e3:.1f})"


def main():
    if len(sys.argv) not in (2, 3, 4):
        raise SystemExit(__doc__)
    build = pathlib.Path(sys.argv[1]).resolve()
    repeats = int(sys.argv[2]) if len(sys.argv) >= 3 else 7
    scenarios = pathlib.Path(sys.argv[3] if len(sys.argv) == 4 else
                             pathlib.Path(__file__).resolve().parents[2] / "scenarios").resolve()
    bin_dir = build / "bin"
    for tool in ("dcharness", "fakehub", "dcclient"):
        if not (bin_dir / tool).exists():
            raise SystemExit(f"{bin_dir}/{tool} not built")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench_overhead.") as tmp:
        tmp = pathlib.Path(tmp)
        scn = tmp / "floor.scn"
        scn.write_text(FLOOR_SCN)
        floors, harness = [], []
        for i in range(repeats):   # interleaved, so load changes hit both alike
            floors.append(floor_once(bin_dir, tmp / f"floor{i}"))
            harness.append(harness_once(bin_dir, scn))
        f, h = stats(floors), stats(harness)
        print(f"floor (fakehub + 2 dcclients to ready, 1 request, stop), median of {repeats}: {ms(f)}")
        print(f"dcharness run of the same scenario, median of {repeats}:              {ms(h)}")
        print(f"harness adds per scenario: {(h[0] - f[0]) * 1e3:7.1f} ms (target <= 5 ms)")

        env = dict(os.environ, TMPDIR=str(tmp))
        t0 = time.monotonic()
        r = subprocess.run([str(bin_dir / "dcharness"), "run", "-j", "2", "--keep", str(scenarios)],
                           capture_output=True, text=True, env=env)
        wall = time.monotonic() - t0
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-2000:])
            raise SystemExit("the suite failed")
        kept = [pathlib.Path(p) for p in re.findall(r"^\s+kept: (\S+)$", r.stdout, re.M)]
        runs = len(kept)
        work = sum(own_work(d) for d in kept)
        ideal = runs * f[0] + work
        print(f"suite: {runs} runs of {scenarios} at -j 2: {wall:.2f} s wall")
        print(f"  sum of floors ({runs} x {f[0] * 1e3:.1f} ms) + the runs' own work ({work:.2f} s: mkfile, "
              f"hashing, downloads) = {ideal:.2f} s; half of it (2 at a time) {ideal / 2:.2f} s")
        print(f"  suite / (floors + own work): {wall / ideal:.2f}x (target <= 1.2x); "
              f"suite / half of it: {wall / (ideal / 2):.2f}x")
        for d in kept:
            shutil.rmtree(d, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
