#!/usr/bin/python3
"""bench_transfer.py BUILD_DIR [SIZE_MiB=1024] [--only LIST]: loopback download throughput
of one file through dcclient (Alice shares, Bob downloads, fakehub between
them, NMDC and ADC, plain and ZLIB, each also over TLS: nmdcs:// and adcs://
hubs, where the client connection is TLS too), next to the raw loopback
limit measured in the same run (bench_rawloop: sendfile() into a socket whose
reader discards; the median of three runs, their range beside it), and TLS
throughput as a share of the same run without TLS. Also measured in the same
run: the TTH ceiling (bench_tth_threads: in-memory TTH of 1 MiB units on one
thread and on every core), which no verified download can pass, whatever the
network; each download also next to the ceiling measured just before and
after it, and the CPU the in-memory TTH needs as a share of the CPU both
processes spent on it (what the download reaches with every core busy, a
figure that holds on a loaded machine). ZLIB rows: random data (big.bin) next to the same without ZLIB;
compressible text (text.txt, up to 256 MiB, about 3:1) next to `gzip -1`
compressing the same file in the same run (median of 3). TLS rows: the
version and cipher the two clients agreed (from the downloader's log), and,
once, what TLS alone costs (bench_tlsloop: CPU s/GiB of a TLS sender and
receiver over loopback, as the client does it and with OpenSSL's socket
BIOs, next to AES-128-GCM's own cost in memory). Under every row:
user and system CPU seconds per GiB of the uploader and of the downloader
(/proc/PID/stat, all threads), and how busy they kept the cores: where the
CPU goes besides the TTH; and the downloader's by thread (sampled every
20 ms from /proc/PID/task, by thread name): its loop thread (socket
reads, decryption, inflating), its hashing workers (next to what the TTH
alone needs) and its .part writer. `--only a,b` (protocols or modes: nmdc, adcs,
plain, zlib, zlibtext; a case runs when its protocol and its mode
are listed, or none of that kind is) runs a subset. Prints figures; not a test. Build BUILD_DIR as Release: a Debug or
ASan build measures something else.

Over TLS the uploader cannot use sendfile(): it reads the file in chunks and
SSL_write encrypts them (AES-GCM or ChaCha20 as negotiated, TLS 1.3); the
downloader decrypts with SSL_read.

What the dcclient figure includes that the raw one does not: the receiver
writes every byte to its .part file (O_DIRECT where the filesystem takes it)
and TTH-hashes it, on worker threads sharing the machine's cores with the
uploader, checking every block against its TTHL leaf as it completes, then
renames. On a machine whose cores hash slower than loopback moves bytes, the
TTH ceiling, not the raw limit, is what a download can approach.
"""
import json
import os
import re
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pytest"))
from dctest import Process  # noqa: E402


PROTOS = {"nmdc", "nmdcs", "adc", "adcs"}
MODES = {"plain", "zlib", "zlibtext"}


def mib(x: float) -> str:
    return f"{x / (1 << 20):8.1f} MiB/s"


def cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process pid, all its threads."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class ThreadCpu:
    """CPU seconds of each thread of pid, sampled every 20 ms while running
    (a thread that ends takes its last <= 20 ms along), summed by role: the
    loop thread (tid = pid), hashing workers (dcc-hash), the writer
    (dcc-write), anything else."""

    def __init__(self, pid: int):
        self.pid, self.seen, self.base = pid, {}, {}
        self.stop = threading.Event()
        self.sample(self.base)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self, into):
        tick = os.sysconf("SC_CLK_TCK")
        try:
            tasks = list(pathlib.Path(f"/proc/{self.pid}/task").iterdir())
        except FileNotFoundError:
            return
        for t in tasks:
            try:
                stat = (t / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            into[int(t.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)

    def run(self):
        while not self.stop.wait(0.02):
            self.sample(self.seen)

    def finish(self) -> dict:
        self.stop.set()
        self.thread.join()
        self.sample(self.seen)
        roles = {"loop": 0.0, "hash": 0.0, "write": 0.0, "other": 0.0}
        for tid, (name, secs) in self.seen.items():
            role = ("loop" if tid == self.pid else "hash" if name == "dcc-hash" else
                    "write" if name == "dcc-write" else "other")
            roles[role] += secs - self.base.get(tid, (name, 0.0))[1]
        return roles


def write_text(path: pathlib.Path, size: int):
    """size bytes of deterministic pseudo-text (words from a fixed vocabulary,
    lines and numbers): compresses about 3:1 with gzip -1, like a log or a
    source tree does."""
    import random
    rng = random.Random(18)
    words = ["".join(rng.choice("etaoinshrdlucmfwypvbgkjqxz") for _ in range(rng.randint(2, 10)))
             for _ in range(4000)]
    block = []
    n = 0
    while n < (4 << 20):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        line = f"{rng.randint(0, 99999):05d} {line}.\n"
        block.append(line)
        n += len(line)
    data = "".join(block).encode()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = data[:left] if left < len(data) else data
            f.write(chunk)
            left -= len(chunk)
            data = data[len(data) // 3:] + data[:len(data) // 3]   # no exact 4 MiB period


def tth_all_cores(build: pathlib.Path, size_mib: int) -> dict:
    """The in-memory TTH on every core now (bench_tth_threads ... all)."""
    return json.loads(subprocess.run([build / "bin" / "bench_tth_threads", str(size_mib), "all"], check=True,
                                     capture_output=True, text=True).stdout)


def median3(fn):
    xs = sorted(fn() for _ in range(3))
    return xs[1], xs[0], xs[2]


def gzip1(path: pathlib.Path) -> float:
    """gzip -1 over path into nothing: bytes of input per second."""
    def once():
        t0 = time.monotonic()
        with open(path, "rb") as f:
            subprocess.run(["gzip", "-1", "-c"], stdin=f, stdout=subprocess.DEVNULL, check=True)
        return path.stat().st_size / (time.monotonic() - t0)
    return median3(once)


def wait_nick(ch, nick, timeout=10):
    deadline = time.monotonic() + timeout
    while nick not in [u["nick"] for u in ch.request("users")["users"]]:
        if time.monotonic() > deadline:
            raise SystemExit(f"{nick} never showed up")
        try:
            ch.wait_for("user.join", timeout=0.5)
        except Exception:
            pass


def main():
    args = sys.argv[1:]
    only = None
    if len(args) >= 2 and args[-2] == "--only":
        only = set(args[-1].split(","))
        args = args[:-2]
    if len(args) not in (1, 2):
        raise SystemExit(__doc__)
    build = pathlib.Path(args[0]).resolve()
    size = int(args[1]) if len(args) == 2 else 1024
    text_size = min(size, 256)
    for tool in ("dcclient", "fakehub", "bench_rawloop", "bench_tth_threads", "bench_tlsloop"):
        if not (build / "bin" / tool).exists():
            raise SystemExit(f"{build}/bin/{tool} not built")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench_transfer.") as tmp:
        tmp = pathlib.Path(tmp)
        share = tmp / "share"
        share.mkdir()
        big = share / "big.bin"
        with open(big, "wb") as f:
            for _ in range(size):
                f.write(os.urandom(1 << 20))
        text = share / "text.txt"
        write_text(text, text_size << 20)
        for f in (big, text):   # warm the cache
            subprocess.run(["cat", str(f)], stdout=subprocess.DEVNULL, check=True)
        procs = []
        try:
            hub = Process([build / "bin" / "fakehub", "--nmdc", "127.0.0.1:0", "--adc", "127.0.0.1:0",
                           "--nmdcs", "127.0.0.1:0", "--adcs", "127.0.0.1:0"],
                          name="fakehub", log=tmp / "fakehub.log")
            procs.append(hub)
            ready = hub.wait_ready()
            alice = Process([build / "bin" / "dcclient", "--nick", "alice", "--share", share,
                             "--data-dir", tmp / "alice"], name="alice", stdin_pipe=True, log=tmp / "alice.log")
            procs.append(alice)
            alice.wait_ready()
            t0 = time.monotonic()
            alice.channel.wait_for("share.done", timeout=600)
            hash_s = time.monotonic() - t0
            print(f"share hashing (TTH, {size + text_size} MiB):        "
                  f"{mib((size + text_size) * (1 << 20) / hash_s)}")
            results = []
            urls = {"nmdc": f"dchub://{ready['nmdc']}", "adc": f"adc://{ready['adc']}",
                    "nmdcs": f"nmdcs://{ready['nmdcs']}/?kp={ready['keyprint']}",
                    "adcs": f"adcs://{ready['adcs']}/?kp={ready['keyprint']}"}
            cases = [(p, m) for p in ("nmdc", "nmdcs", "adc", "adcs") for m in ("plain", "zlib")]
            cases += [(p, "zlibtext") for p in ("nmdc", "adc")]
            for proto, mode in cases:
                if only and not ((proto in only or not only & PROTOS) and (mode in only or not only & MODES)):
                    continue
                url = urls[proto]
                compress = mode != "plain"
                name = f"bob-{proto}-{mode}"
                bob = Process([build / "bin" / "dcclient", "--nick", "bob", "--set",
                               f"compress={'true' if compress else 'false'}"],
                              name=name, stdin_pipe=True, log=tmp / f"{name}.log")
                procs.append(bob)
                bob.wait_ready()
                alice.channel.request("connect", url=url)
                bob.channel.request("connect", url=url)
                wait_nick(bob.channel, "alice")
                bob.channel.request("list", nick="alice", timeout=60)
                got = tmp / name
                got.mkdir()
                fname = "text.txt" if mode == "zlibtext" else "big.bin"
                near = [tth_all_cores(build, min(size, 128))]
                a0, b0 = cpu(alice.pid), cpu(bob.pid)
                threads = ThreadCpu(bob.pid)
                t0 = time.monotonic()
                res = bob.channel.request("download", nick="alice", path=f"/share/{fname}",
                                          target_dir=str(got), timeout=1800)
                wall = time.monotonic() - t0
                a1, b1 = cpu(alice.pid), cpu(bob.pid)
                roles = threads.finish()
                near.append(tth_all_cores(build, min(size, 128)))
                if res["tls"] != proto.endswith("s"):
                    raise SystemExit(f"{name}: the transfer's tls is {res['tls']}")
                if res["compressed"] != compress:
                    raise SystemExit(f"{name}: the transfer's compressed is {res['compressed']}")
                use = (a1[0] - a0[0], a1[1] - a0[1], b1[0] - b0[0], b1[1] - b0[1])
                roles["tls"] = None
                if res["tls"]:   # what was agreed, from the downloader's log
                    m = re.findall(r"ready \(downloading, (\S+ \S+)\)", (tmp / f"{name}.log").read_text())
                    roles["tls"] = m[-1] if m else "unknown (not in the log)"
                results.append((name, res["bytes_per_second"], res["size"] / wall, res["size"], wall, use, roles, near))
                (got / fname).unlink()
                bob.stop()
                procs.remove(bob)
                alice.channel.request("disconnect")
            raw = median3(lambda: json.loads(subprocess.run([build / "bin" / "bench_rawloop", big], check=True,
                                                            capture_output=True, text=True).stdout)["bytes_per_second"])
            limit = raw[0]
            print(f"raw loopback limit (sendfile -> discard): {mib(limit)} (median of 3, "
                  f"{raw[1] / (1 << 20):.0f}-{raw[2] / (1 << 20):.0f})")
            tth = [json.loads(line) for line in subprocess.run(
                [build / "bin" / "bench_tth_threads", str(min(size, 256))], check=True, capture_output=True,
                text=True).stdout.splitlines()]
            for t in tth:
                print(f"TTH ceiling, {t['threads']} thread{'s' if t['threads'] > 1 else ' '} (in memory):   "
                      f"{mib(t['bytes_per_second'])} ({100 * t['bytes_per_second'] / limit:5.1f}% of raw), "
                      f"cpu {t['cpu_seconds'] / t['bytes'] * (1 << 30):.2f} s/GiB")
            ceiling = tth[-1]["bytes_per_second"]
            # What hashing alone costs: CPU per GiB of the run on every core
            # (as the download's workers run), not 1/throughput: on a loaded
            # machine the wall clock also counts other processes' turns.
            tth_cpu = tth[-1]["cpu_seconds"] / tth[-1]["bytes"] * (1 << 30)
            if any(r[6]["tls"] for r in results):
                loop = [json.loads(line) for line in subprocess.run(
                    [build / "bin" / "bench_tlsloop", big, str(min(size, 256)), "1"], check=True,
                    capture_output=True, text=True).stdout.splitlines()]
                by_mode = {x["mode"]: x for x in loop}
                cost, new, old = by_mode["cipher"]["cpu_s_per_gib"], by_mode["dctls"], by_mode["openssl"]
                print(f"TLS alone (bench_tlsloop, {min(size, 256)} MiB, no hashing, no .part): AES-128-GCM itself "
                      f"{cost:.2f} s/GiB per side; sender (read, encrypt, send) {new['sender_cpu_s_per_gib']:.2f}, "
                      f"receiver {new['receiver_cpu_s_per_gib']:.2f} s/GiB as the client does it "
                      f"(OpenSSL's socket BIOs: {old['sender_cpu_s_per_gib']:.2f} and "
                      f"{old['receiver_cpu_s_per_gib']:.2f})")
            gz = gzip1(text) if any(r[0].endswith("zlibtext") for r in results) else None
            if gz:
                print(f"gzip -1 of text.txt ({text_size} MiB):      {mib(gz[0])} (median of 3, "
                      f"{gz[1] / (1 << 20):.0f}-{gz[2] / (1 << 20):.0f})")
            by_name = {r[0]: r[1] for r in results}
            for name, data_bps, wall_bps, nbytes, wall, use, roles, near in results:
                proto, mode = name.split("-")[1:]
                vs = ""
                if mode == "zlibtext":
                    vs = f", {100 * data_bps / gz[0]:5.1f}% of gzip -1 on the same file"
                elif proto.endswith("s") and f"bob-{proto[:-1]}-{mode}" in by_name:
                    vs = f", {100 * data_bps / by_name[f'bob-{proto[:-1]}-{mode}']:5.1f}% of the same without TLS"
                if mode == "zlib" and f"bob-{proto}-plain" in by_name:
                    vs += f", {100 * data_bps / by_name[f'bob-{proto}-plain']:5.1f}% of the same without ZLIB"
                print(f"dcclient {name:20s} data phase {mib(data_bps)} ({100 * data_bps / limit:5.1f}% of raw,"
                      f" {100 * data_bps / ceiling:5.1f}% of TTH), request-to-verified {mib(wall_bps)}{vs}")
                gib = nbytes / (1 << 30)
                print(f"    cpu s/GiB: uploader {use[0] / gib:.2f} user + {use[1] / gib:.2f} sys, "
                      f"downloader {use[2] / gib:.2f} user + {use[3] / gib:.2f} sys; "
                      f"{sum(use) / (wall * (os.cpu_count() or 1)):4.0%} of all cores busy with the two "
                      f"(TTH alone needs {tth_cpu:.2f} s/GiB)")
                if roles["tls"]:
                    print(f"    TLS agreed: {roles['tls']}")
                print(f"    downloader threads, cpu s/GiB: loop {roles['loop'] / gib:.2f} (socket, TLS, inflate), "
                      f"hashing {roles['hash'] / gib:.2f} (TTH alone needs "
                      f"{tth_cpu:.2f}), writing {roles['write'] / gib:.2f}, "
                      f"other {roles['other'] / gib:.2f}")
                # The load of a shared machine drifts: the ceiling measured
                # right before and after this download is the fairer wall
                # comparison; the CPU one (TTH alone / all CPU both processes
                # spent) is what the download reaches when the two keep every
                # core busy, and holds under load.
                near_bps = sum(t["bytes_per_second"] for t in near) / len(near)
                near_cpu = sum(t["cpu_seconds"] / t["bytes"] for t in near) / len(near) * (1 << 30)
                # /proc counts CPU in 10 ms ticks: a tiny download may show none.
                tth_share = f"{100 * near_cpu * gib / sum(use):5.1f}%" if sum(use) else "  n/a"
                print(f"    TTH ceiling just before/after it {near[0]['bytes_per_second'] / (1 << 20):.0f}/"
                      f"{near[1]['bytes_per_second'] / (1 << 20):.0f} MiB/s: data phase {100 * data_bps / near_bps:5.1f}% "
                      f"of their mean; cpu: TTH alone {near_cpu:.2f} s/GiB = {tth_share} "
                      f"of the two processes' cpu")
        finally:
            for p in procs:
                p.stop()


if __name__ == "__main__":
    main()
