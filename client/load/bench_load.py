#!/usr/bin/python3
"""bench_load.py [--build-dir DIR] [--clients 100,1000] [--hubs fakehub,uhub]:
dcload (client/load/dcload.c) against fakehub and uhub at each N, each hub
started fresh per N, then the ratios fakehub/uhub against issue 4's targets:
fakehub >= 1.5x uhub's logins/s, >= 1x its deliveries/s, <= 1x its memory
per user. Prints figures; not a test (test_bench_load.py checks that it runs).
Builds nothing: DIR/bin must hold dcload and fakehub (build RelWithDebInfo or
Release; a Debug or ASan build measures something else).

The hubs, both on 127.0.0.1 and both with their limits out of the way:
- fakehub --adc (the compared row) and, as extra information, a second fresh
  fakehub run over --nmdc; --max-users N+16, --rate-limit 0 (no flood limit).
- uhub (Debian) through dctest.peers.Uhub with extra config: max_users=N+16
  (a later line, so it overrides the driver's max_users=500) and every
  flood_ctl_<kind>=0 (a count of 0 switches that check off;
  flood_ctl_interval=0 is refused by its config parser). Skipped with a note
  when uhub is not installed.

Each run is `dcload --json --hub-pid PID --chatters 10 --messages 20
--interval 0` (options after `--` are passed on and win) with --timeout, and a wall-clock
deadline on top: a run that misses it is stopped and reported as failed.
dcload measures the hub's VmRSS before the first login and once all are in;
"KiB/user" is the difference over the users online. "cpu" columns are the
CPU seconds the hub and dcload used in the run (/proc/PID/stat, rusage): when
dcload's is near the wall time, the client side was the limit.

RLIMIT_NOFILE: the soft limit is raised to the hard one here, before any
child starts, so dcload and both hubs inherit it (dcload raises its own too);
an N the hard limit cannot hold is refused up front. Every child runs in its
own process group, dies with this script (PR_SET_PDEATHSIG), and is stopped
and reaped on the way out, Ctrl-C and SIGTERM included. Exit status: 0 when
every run completed (targets met or not: they are reported), 1 otherwise.
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pytest"))
from dctest import Process  # noqa: E402
from dctest.peers import Uhub  # noqa: E402
from dctest.procs import ProcessError  # noqa: E402

TARGETS = (("logins_per_second", "logins/s", ">=", 1.5),
           ("deliveries_per_second", "deliveries/s", ">=", 1.0),
           ("hub_kib_per_user", "KiB/user", "<=", 1.0))
# Chat in bursts (--interval 0) so deliveries/s measures the hub, not dcload's
# pacing (10 chatters every 10 ms would cap N=100 at ~100k/s).
DCLOAD_DEFAULTS = ("--chatters", 10, "--messages", 20, "--interval", 0)
FLOOD_KINDS = ("chat", "connect", "search", "update", "extras")


def raise_nofile(need: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(f"bench_load: RLIMIT_NOFILE hard limit {hard} < {need} needed; raise it (ulimit -Hn)")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_dcload(args, url: str, hub_pid: int, n: int, log: pathlib.Path, procs: list) -> dict:
    """One dcload run; its JSON report plus cpu figures, or {"error": ...}."""
    argv = [args.build_dir / "bin" / "dcload", "--json", "--hub", url, "--clients", n,
            "--hub-pid", hub_pid, "--timeout", args.timeout, *DCLOAD_DEFAULTS, *args.dcload_args]
    hub_cpu = cpu_seconds(hub_pid)
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = Process(argv, name="dcload", log=log, stdout_to_log=True)
    procs.append(p)
    try:
        rc = p.wait(timeout=args.timeout + 15)
    except subprocess.TimeoutExpired:
        rc = None
    wall = time.monotonic() - t0
    hub_cpu = cpu_seconds(hub_pid) - hub_cpu
    p.stop()
    procs.remove(p)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("{")]
    if rc is None or not lines:
        return {"error": f"dcload {'missed its deadline' if rc is None else f'exited {rc}'}, "
                         f"no report (log {log})"}
    rep = json.loads(lines[-1])
    rep.update(hub_cpu=hub_cpu, load_cpu=ru.ru_utime + ru.ru_stime - own.ru_utime - own.ru_stime,
               wall=wall, rc=rc)
    if rc != 0 or not rep["completed"]:
        rep["error"] = f"dcload exit {rc}, {rep['online']}/{n} online, phase {rep['phase']}: {rep['first_error']}"
    return rep


def bench_fakehub(args, proto: str, n: int, tmp: pathlib.Path, procs: list) -> dict:
    hub = Process([args.build_dir / "bin" / "fakehub", f"--{proto}", "127.0.0.1:0", "--max-users", n + 16,
                   "--rate-limit", 0], name=f"fakehub-{proto}", log=tmp / f"fakehub-{proto}-{n}.log")
    procs.append(hub)
    try:
        ready = hub.wait_ready()
        url = f"{'adc' if proto == 'adc' else 'dchub'}://{ready[proto]}"
        return run_dcload(args, url, hub.pid, n, tmp / f"dcload-fakehub-{proto}-{n}.log", procs)
    except ProcessError as e:
        return {"error": str(e)}
    finally:
        hub.stop()
        procs.remove(hub)


def bench_uhub(args, n: int, tmp: pathlib.Path, procs: list) -> dict:
    extra = {"max_users": n + 16, **{f"flood_ctl_{k}": 0 for k in FLOOD_KINDS}}
    hub = Uhub(tmp / f"uhub-{n}", extra=extra)
    procs.append(hub)
    try:
        hub.start()
        return run_dcload(args, hub.url, hub.proc.pid, n, tmp / f"dcload-uhub-{n}.log", procs)
    except ProcessError as e:
        return {"error": str(e)}
    finally:
        hub.stop()
        procs.remove(hub)


def fmt_row(hub: str, proto: str, n: int, r: dict) -> str:
    head = f"{hub:8} {proto:4} {n:>5} "
    if "logins_per_second" not in r:
        return head + f"FAILED: {r['error']}"
    lat = r["latency_ms"]
    row = (head + f"{r['online']:>6} {r['logins_per_second']:>9.1f} {r['deliveries_per_second']:>11.0f} "
           f"{lat['p50']:>7.1f} {lat['p90']:>7.1f} {lat['p99']:>7.1f} {r['hub_kib_per_user']:>8.2f} "
           f"{r['hub_cpu']:>7.2f} {r['load_cpu']:>8.2f} {r['wall']:>6.2f}")
    return row + (f"  INCOMPLETE: {r['error']}" if "error" in r else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", type=pathlib.Path, default=pathlib.Path("build"))
    ap.add_argument("--clients", default="100,1000", help="comma-separated N values")
    ap.add_argument("--hubs", default="fakehub,uhub", help="fakehub and/or uhub")
    ap.add_argument("--no-nmdc", action="store_true", help="skip the extra fakehub NMDC rows")
    ap.add_argument("--timeout", type=float, default=120, help="dcload --timeout per run (seconds)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with every log")
    ap.add_argument("dcload_args", nargs="*", help="more dcload options, after --")
    args = ap.parse_args()
    args.build_dir = args.build_dir.resolve()
    sizes = [int(x) for x in args.clients.split(",")]
    hubs = args.hubs.split(",")
    for tool in ("dcload", "fakehub"):
        if not (args.build_dir / "bin" / tool).exists():
            raise SystemExit(f"bench_load: {args.build_dir}/bin/{tool} not built")
    raise_nofile(max(sizes) + 64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # unwind through the finally below

    has_uhub = "uhub" in hubs and shutil.which("uhub") is not None
    if "uhub" in hubs and not has_uhub:
        print("bench_load: uhub is not installed (apt-get install uhub): no uhub rows, no ratios")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_load."))
    procs, results = [], {}
    try:
        for n in sizes:
            runs = []
            if "fakehub" in hubs:
                runs += [("fakehub", "adc")] + ([] if args.no_nmdc else [("fakehub", "nmdc")])
            if has_uhub:
                runs.append(("uhub", "adc"))
            for hub, proto in runs:
                r = (bench_fakehub(args, proto, n, tmp, procs) if hub == "fakehub"
                     else bench_uhub(args, n, tmp, procs))
                results[hub, proto, n] = r
                print(f"bench_load: {hub} {proto} N={n} done{'' if 'error' not in r else ': ' + r['error']}",
                      file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.stop()
        if not args.keep_logs and not any("error" in r for r in results.values()):
            shutil.rmtree(tmp)
        else:
            print(f"bench_load: logs kept in {tmp}", file=sys.stderr)

    print(f"{'hub':8} {'prot':4} {'N':>5} {'online':>6} {'logins/s':>9} {'deliveries/s':>11} "
          f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'KiB/user':>8} {'hub cpu':>7} {'load cpu':>8} {'wall s':>6}")
    for (hub, proto, n), r in results.items():
        print(fmt_row(hub, proto, n, r))
    for n in sizes:
        f, u = results.get(("fakehub", "adc", n)), results.get(("uhub", "adc", n))
        if not f or not u or "error" in f or "error" in u:
            continue
        parts = []
        for key, name, op, target in TARGETS:
            ratio = f[key] / u[key] if u[key] > 0 else float("inf")
            met = ratio >= target if op == ">=" else ratio <= target
            parts.append(f"{name} {ratio:.2f}x (target {op} {target}: {'met' if met else 'MISSED'})")
        print(f"N={n} fakehub/uhub (ADC): " + "; ".join(parts))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench_load: interrupted (every child stopped and reaped)")
