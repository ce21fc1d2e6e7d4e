#!/usr/bin/python3
"""bench_load.py [--build-dir DIR] [--clients 100,1000] [--hubs fakehub,uhub] [--repeat 3] [--fault-rules K]:
dcload (client/load/dcload.c) against fakehub and uhub at each N, each hub
started fresh per run, then the ratios fakehub/uhub against issue 4's targets:
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
--interval 0 --timeout T` (options after `--` are passed on and win) with a
wall-clock deadline of T+15 s on top: a run that misses it is stopped and
reported as failed.
dcload measures the hub's VmRSS before the first login and once all are in;
"KiB/user" is the difference over the users online (the figure the target
is judged on); "anon KiB/user" the same for RssAnon, which leaves out the
file pages (code) that the first logins fault in: a fixed cost that shows
as ~0.1-0.2 KiB/user at N=100. "cpu" columns are the
CPU seconds the hub and dcload used in the run (/proc/PID/stat, rusage): when
dcload's is near the wall time, the client side was the limit.

Others share the machine, so every figure moves from run to run: each (hub,
N) runs --repeat times, interleaved (fakehub, uhub, fakehub, ...), the table
shows medians, and each ratio is the median [min-max] over runs paired in
time (run i of fakehub over run i of uhub); a target is judged on the median.

--fault-rules K adds a row `fhfaults`: fakehub over ADC again, in the same
interleaved runs, with K idle fault rules (docs/fakehub.md, "Fault rules"):
`drop dir=both cmd=chat text=<never sent>`, which every chat line in and out
passes through (the command matches, the text is searched and not found),
so the row shows what an idle rule table costs on the relay path; a line
`idle fault table` prints its figures over the plain fakehub ADC run's,
paired in time.

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
import statistics
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
# Table columns: report key, header, format (its width is the header's).
COLUMNS = (("online", "online", "{:>6.0f}"), ("logins_per_second", "logins/s", "{:>8.1f}"),
           ("deliveries_per_second", "deliveries/s", "{:>12.0f}"), ("p50", "p50 ms", "{:>6.1f}"),
           ("p90", "p90 ms", "{:>6.1f}"), ("p99", "p99 ms", "{:>6.1f}"), ("hub_kib_per_user", "KiB/user", "{:>8.2f}"),
           ("hub_anon_kib_per_user", "anon KiB/user", "{:>13.2f}"),
           ("hub_cpu", "hub cpu s", "{:>9.2f}"), ("load_cpu", "dcload cpu s", "{:>12.2f}"), ("wall", "wall s", "{:>6.2f}"))
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
    rep.update(rep.pop("latency_ms"), hub_cpu=hub_cpu, load_cpu=ru.ru_utime + ru.ru_stime - own.ru_utime - own.ru_stime,
               wall=wall, rc=rc)
    if rc != 0 or not rep["completed"]:
        rep["error"] = f"dcload exit {rc}, {rep['online']}/{n} online, phase {rep['phase']}: {rep['first_error']}"
    return rep


def bench_fakehub(args, proto: str, n: int, tmp: pathlib.Path, procs: list, rules: int = 0) -> dict:
    faults = [a for i in range(rules) for a in ("--fault", f"drop dir=both cmd=chat text=idle-rule-{i}-never-sent")]
    name = f"fakehub-{proto}" + ("-faults" if rules else "")
    hub = Process([args.build_dir / "bin" / "fakehub", f"--{proto}", "127.0.0.1:0", "--max-users", n + 16,
                   "--rate-limit", 0, *faults], name=name, log=tmp / f"{name}-{n}.log")
    procs.append(hub)
    try:
        ready = hub.wait_ready()
        url = f"{'adc' if proto == 'adc' else 'dchub'}://{ready[proto]}"
        return run_dcload(args, url, hub.pid, n, tmp / f"dcload-{name}-{n}.log", procs)
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


def table_row(hub: str, proto: str, n: int, reps: list) -> str:
    """Median of each figure over the completed runs, and how many completed."""
    ok = [r for r in reps if "error" not in r]
    row = f"{hub:8} {proto:4} {n:>5} {len(ok):>2}/{len(reps):<2}"
    for key, head, fmt in COLUMNS:
        row += " " + (fmt.format(statistics.median(r[key] for r in ok)) if ok else "-".rjust(len(head)))
    failed = [r["error"] for r in reps if "error" in r]
    return row + (f"  {len(failed)} failed, first: {failed[0]}" if failed else "")


def ratio_line(n: int, fake: list, uhub: list) -> str | None:
    """fakehub/uhub per target, over runs paired in time (run i of each)."""
    pairs = [(f, u) for f, u in zip(fake, uhub) if "error" not in f and "error" not in u]
    if not pairs:
        return None
    parts = []
    for key, name, op, target in TARGETS:
        ratios = sorted(f[key] / u[key] if u[key] > 0 else float("inf") for f, u in pairs)
        mid = statistics.median(ratios)
        met = mid >= target if op == ">=" else mid <= target
        parts.append(f"{name} {mid:.2f}x [{ratios[0]:.2f}-{ratios[-1]:.2f}] "
                     f"(target {op} {target}: {'met' if met else 'MISSED'})")
    cpu = statistics.median(u["hub_cpu"] / f["hub_cpu"] if f["hub_cpu"] > 0 else float("inf") for f, u in pairs)
    parts.append(f"info: hub CPU uhub/fakehub {cpu:.2f}x")   # what the hub itself costs, whoever was the limit
    return f"N={n} fakehub/uhub (ADC, median [range] of {len(pairs)} paired runs): " + "; ".join(parts)


def fault_line(n: int, rules: int, plain: list, faulty: list) -> str | None:
    """fhfaults/fakehub (ADC) per figure, over runs paired in time."""
    pairs = [(p, f) for p, f in zip(plain, faulty) if "error" not in p and "error" not in f]
    if not pairs:
        return None
    parts = []
    for key, name in (("logins_per_second", "logins/s"), ("deliveries_per_second", "deliveries/s"),
                      ("hub_kib_per_user", "KiB/user"), ("hub_cpu", "hub cpu s")):
        ratios = sorted(f[key] / p[key] if p[key] > 0 else float("inf") for p, f in pairs)
        parts.append(f"{name} {statistics.median(ratios):.3f}x [{ratios[0]:.3f}-{ratios[-1]:.3f}]")
    return (f"N={n} idle fault table ({rules} rules) / none (fakehub ADC, median [range] of "
            f"{len(pairs)} paired runs): " + "; ".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", type=pathlib.Path, default=pathlib.Path("build"))
    ap.add_argument("--clients", default="100,1000", help="comma-separated N values")
    ap.add_argument("--hubs", default="fakehub,uhub", help="fakehub and/or uhub")
    ap.add_argument("--repeat", type=int, default=3, help="runs per hub and N (medians are printed)")
    ap.add_argument("--no-nmdc", action="store_true", help="skip the extra fakehub NMDC rows")
    ap.add_argument("--timeout", type=float, default=120, help="dcload --timeout per run (seconds)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with every log")
    ap.add_argument("--fault-rules", type=int, default=0,
                    help="add an fhfaults row: fakehub ADC with this many idle fault rules")
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
    runs = []
    if "fakehub" in hubs:
        runs += [("fakehub", "adc")] + ([("fhfaults", "adc")] if args.fault_rules > 0 else []) + \
                ([] if args.no_nmdc else [("fakehub", "nmdc")])
    if has_uhub:
        runs.append(("uhub", "adc"))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_load."))
    procs, results = [], {(hub, proto, n): [] for n in sizes for hub, proto in runs}
    try:
        for n in sizes:
            for i in range(args.repeat):     # interleaved, so the load of others hits every hub alike
                logs = tmp / f"N{n}-run{i + 1}"
                logs.mkdir()
                for hub, proto in runs:
                    r = (bench_fakehub(args, proto, n, logs, procs) if hub == "fakehub"
                         else bench_fakehub(args, proto, n, logs, procs, args.fault_rules) if hub == "fhfaults"
                         else bench_uhub(args, n, logs, procs))
                    results[hub, proto, n].append(r)
                    print(f"bench_load: {hub} {proto} N={n} run {i + 1}/{args.repeat}: "
                          f"{r.get('error', 'done')}", file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.stop()
        failed = any("error" in r for reps in results.values() for r in reps)
        if not args.keep_logs and not failed:
            shutil.rmtree(tmp)
        else:
            print(f"bench_load: logs kept in {tmp}", file=sys.stderr)

    print(f"{'hub':8} {'prot':4} {'N':>5} {'ok':>5} " + " ".join(head for _, head, _ in COLUMNS))
    for (hub, proto, n), reps in results.items():
        print(table_row(hub, proto, n, reps))
    for n in sizes:
        line = ratio_line(n, results.get(("fakehub", "adc", n), []), results.get(("uhub", "adc", n), []))
        if line:
            print(line)
        line = fault_line(n, args.fault_rules, results.get(("fakehub", "adc", n), []),
                          results.get(("fhfaults", "adc", n), []))
        if line:
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench_load: interrupted (every child stopped and reaped)")
