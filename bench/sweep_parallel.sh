#!/usr/bin/env bash
# Data-parallel efficiency of `kvsweep run`: items per second with 1 and 2 workers (mpirun -np 2
# and -np 3; rank 0 only schedules) and rank 0's CPU use while it waits (getrusage, from
# run_meta.json). usage: bench/sweep_parallel.sh [KVSWEEP] [CONFIG] [LIMIT]
set -euo pipefail
KVSWEEP=${1:-build/kvsweep}
CONFIG=${2:-configs/demo.json}
LIMIT=${3:-4}
OUT=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for np in 2 3; do
    mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$np" "$KVSWEEP" run "$CONFIG" --out "$OUT/np$np" \
        --limit "$LIMIT" > "$OUT/np$np.log" 2>&1
done
/usr/bin/python3 - "$OUT" << 'PY'
import json, sys
rate = {}
for np in (2, 3):
    s = json.load(open(f"{sys.argv[1]}/np{np}/run_meta.json"))["sessions"][-1]
    rate[np] = s["units_planned"] / s["wall_s"]
    print(f"{np - 1} worker(s): {s['units_planned']} items in {s['wall_s']:.2f} s = {rate[np]:.3f} items/s; "
          f"rank 0 CPU {s['master_cpu_s']:.3f} s ({100 * s['master_cpu_s'] / s['wall_s']:.1f}% of one core), "
          f"{s['threads_per_rank']} thread(s) per worker")
print(f"2 workers vs 1: {rate[3] / rate[2]:.2f}x = {50 * rate[3] / rate[2]:.0f}% of linear")
PY
rm -rf "$OUT"
