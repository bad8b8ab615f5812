#!/usr/bin/env bash
# Measures the storage targets of issue 2 on this machine: fio references (page-cache write with and without
# fio's fallocate layout, write+fdatasync)
# against the criterion benches of the partition log, each as a median over several runs, and prints the ratios.
# Usage: scripts/storage-targets.sh [runs]   (needs fio: apt-get install -y fio; writes ~1 GiB files in target/)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
command -v fio >/dev/null || { apt-get install -y fio >/dev/null 2>&1 || { echo "fio is needed" >&2; exit 1; }; }
scratch=target/fio-scratch
mkdir -p "$scratch"
export CALLBOARD_BENCH_DIR=$PWD/target/bench-data
mkdir -p "$CALLBOARD_BENCH_DIR"

fio_bw() { # prints MB/s (10^6 bytes) of one fio run, starting with no dirty pages
  rm -f "$scratch/f"
  sync
  fio --name=w --rw=write --bs=1M --size=1G --filename="$scratch/f" --output-format=json "$@" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["bw_bytes"]/1e6)'
  rm -f "$scratch/f"
}

criterion_mbs() { # prints MB/s of one criterion benchmark's last run: its bytes per iteration / median time
  python3 - "$1" <<'PY'
import json, sys
base = f"target/criterion/{sys.argv[1]}/new"
nbytes = json.load(open(f"{base}/benchmark.json"))["throughput"]["Bytes"]
print(nbytes / json.load(open(f"{base}/estimates.json"))["median"]["point_estimate"] * 1e3)
PY
}

median() { python3 -c 'import sys, statistics; v = [float(x) for x in sys.argv[1:]]; print("%.0f  (runs: %s)" % (statistics.median(v), " ".join("%.0f" % x for x in v)))' "$@"; }

cargo bench --bench storage --no-run >/dev/null 2>&1
declare -a fio_w fio_wn fio_s never always conc readmb
for i in $(seq "$runs"); do
  fio_w+=("$(fio_bw)")
  fio_wn+=("$(fio_bw --fallocate=none)")
  fio_s+=("$(fio_bw --fdatasync=1)")
  sync
  cargo bench --bench storage -- 'append_1mib|append_always_concurrent|read_sequential/whole_log_256mib/1mib' >/dev/null 2>&1
  never+=("$(criterion_mbs append_1mib/never)")
  always+=("$(criterion_mbs append_1mib/always)")
  conc+=("$(criterion_mbs append_always_concurrent/writers_x_1000x1kb/8)")
  readmb+=("$(criterion_mbs read_sequential/whole_log_256mib/1mib_reads)")
  echo "run $i: fio ${fio_w[-1]} / fio-nofalloc ${fio_wn[-1]} / never ${never[-1]} / fio-sync ${fio_s[-1]} / always ${always[-1]} / 8x ${conc[-1]} / read ${readmb[-1]}" >&2
done
echo "MB/s, median of $runs runs (10^6 bytes per second)"
echo "fio write, page cache            : $(median "${fio_w[@]}")   (fio's default layout: fallocate first)"
echo "fio write, page cache, no falloc : $(median "${fio_wn[@]}")   (--fallocate=none, like the log)"
echo "log append 1 MiB, never          : $(median "${never[@]}")"
echo "fio write + fdatasync            : $(median "${fio_s[@]}")"
echo "log append 1 MiB, always         : $(median "${always[@]}")"
echo "8 appenders x 1000x1KB, always   : $(median "${conc[@]}")"
echo "sequential read, 1 MiB reads     : $(median "${readmb[@]}")"
rm -rf "$scratch" "$CALLBOARD_BENCH_DIR"
