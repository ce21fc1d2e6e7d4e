#!/bin/sh
# bench_tth.sh BUILD_DIR [SIZE_MiB=1024]: TTH throughput of dctth against
# rhash --tth on one file, both timed in the same run from a warm page cache,
# so the figures compare hashing rather than the disk. Prints MiB/s for each
# and dctth/rhash. Build BUILD_DIR as Release or RelWithDebInfo: a Debug
# build measures -O0. If bench_tth_tiger is built there too, it also prints
# in-memory Tiger/TTH figures against librhash.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [SIZE_MiB=1024]" >&2
    exit 2
fi
build=$1
size=${2:-1024}
dctth=$build/bin/dctth
[ -x "$dctth" ] || { echo "bench_tth: $dctth not built" >&2; exit 1; }
command -v rhash >/dev/null || { echo "bench_tth: rhash not installed" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_tth.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
file=$dir/data.bin

# Random content: a repeated pattern would be no faster or slower for Tiger,
# but random data rules out any filesystem shortcut (holes, compression).
head -c "$((size * 1024 * 1024))" /dev/urandom > "$file"
cat "$file" > /dev/null   # warm the page cache

now() { date +%s.%N; }

t0=$(now)
ours=$("$dctth" "$file")
t1=$(now)
theirs=$(rhash --tth --simple "$file")
t2=$(now)

ours=${ours%%  *}
theirs=${theirs%%  *}
if [ "$ours" != "$(echo "$theirs" | tr a-z A-Z)" ]; then
    echo "bench_tth: MISMATCH dctth=$ours rhash=$theirs" >&2
    exit 1
fi

awk -v size="$size" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
    a = size / (t1 - t0); b = size / (t2 - t1);
    printf "file: %d MiB (random, page cache warm), TTH agrees\n", size;
    printf "dctth:       %8.1f MiB/s  (%.2f s)\n", a, t1 - t0;
    printf "rhash --tth: %8.1f MiB/s  (%.2f s)\n", b, t2 - t1;
    printf "ratio dctth/rhash: %.3f\n", a / b;
}'

if [ -x "$build/bin/bench_tth_tiger" ]; then
    "$build/bin/bench_tth_tiger"
fi
