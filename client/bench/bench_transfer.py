#!/usr/bin/python3
"""bench_transfer.py BUILD_DIR [SIZE_MiB=1024]: loopback download throughput
of one file through dcclient (Alice shares, Bob downloads, fakehub between
them, NMDC and ADC, plain and ZLIB, each also over TLS: nmdcs:// and adcs://
hubs, where the client connection is TLS too), next to the raw loopback
limit measured in the same run (bench_rawloop: sendfile() into a socket whose
reader discards; the median of three runs, their range beside it), and TLS
throughput as a share of the same run without TLS. Also measured in the same
run: the TTH ceiling (bench_tth_threads: in-memory TTH of 1 MiB units on one
thread and on every core), which no verified download can pass, whatever the
network. Prints figures; not a test. Build BUILD_DIR as Release: a Debug or
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
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pytest"))
from dctest import Process  # noqa: E402


def mib(x: float) -> str:
    return f"{x / (1 << 20):8.1f} MiB/s"


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
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    build = pathlib.Path(sys.argv[1]).resolve()
    size = int(sys.argv[2]) if len(sys.argv) == 3 else 1024
    for tool in ("dcclient", "fakehub", "bench_rawloop", "bench_tth_threads"):
        if not (build / "bin" / tool).exists():
            raise SystemExit(f"{build}/bin/{tool} not built")
    with tempfile.TemporaryDirectory(prefix="bench_transfer.") as tmp:
        tmp = pathlib.Path(tmp)
        share = tmp / "share"
        share.mkdir()
        big = share / "big.bin"
        with open(big, "wb") as f:
            for _ in range(size):
                f.write(os.urandom(1 << 20))
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)   # warm the cache
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
            print(f"share hashing (TTH, {size} MiB):        {mib(size * (1 << 20) / hash_s)}")
            results = []
            urls = {"nmdc": f"dchub://{ready['nmdc']}", "adc": f"adc://{ready['adc']}",
                    "nmdcs": f"nmdcs://{ready['nmdcs']}/?kp={ready['keyprint']}",
                    "adcs": f"adcs://{ready['adcs']}/?kp={ready['keyprint']}"}
            for proto in ("nmdc", "nmdcs", "adc", "adcs"):
                url = urls[proto]
                for compress in (False, True):
                    name = f"bob-{proto}-{'zlib' if compress else 'plain'}"
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
                    t0 = time.monotonic()
                    res = bob.channel.request("download", nick="alice", path="/share/big.bin",
                                              target_dir=str(got), timeout=1800)
                    wall = time.monotonic() - t0
                    if res["tls"] != proto.endswith("s"):
                        raise SystemExit(f"{name}: the transfer's tls is {res['tls']}")
                    results.append((name, res["bytes_per_second"], res["size"] / wall))
                    (got / "big.bin").unlink()
                    bob.stop()
                    procs.remove(bob)
                    alice.channel.request("disconnect")
            raws = sorted(json.loads(subprocess.run([build / "bin" / "bench_rawloop", big], check=True,
                                                    capture_output=True, text=True).stdout)["bytes_per_second"]
                          for _ in range(3))
            limit = raws[1]
            print(f"raw loopback limit (sendfile -> discard): {mib(limit)} (median of 3, "
                  f"{raws[0] / (1 << 20):.0f}-{raws[2] / (1 << 20):.0f})")
            tth = [json.loads(line) for line in subprocess.run(
                [build / "bin" / "bench_tth_threads", str(min(size, 256))], check=True, capture_output=True,
                text=True).stdout.splitlines()]
            for t in tth:
                print(f"TTH ceiling, {t['threads']} thread{'s' if t['threads'] > 1 else ' '} (in memory):   "
                      f"{mib(t['bytes_per_second'])} ({100 * t['bytes_per_second'] / limit:5.1f}% of raw)")
            ceiling = tth[-1]["bytes_per_second"]
            by_name = {name: data_bps for name, data_bps, _ in results}
            for name, data_bps, wall_bps in results:
                proto = name.split("-")[1]
                vs = ""
                if proto.endswith("s"):
                    plain = by_name[name.replace(f"-{proto}-", f"-{proto[:-1]}-")]
                    vs = f", {100 * data_bps / plain:5.1f}% of the same without TLS"
                print(f"dcclient {name:17s} data phase {mib(data_bps)} ({100 * data_bps / limit:5.1f}% of raw,"
                      f" {100 * data_bps / ceiling:5.1f}% of TTH), request-to-verified {mib(wall_bps)}{vs}")
        finally:
            for p in procs:
                p.stop()


if __name__ == "__main__":
    main()
