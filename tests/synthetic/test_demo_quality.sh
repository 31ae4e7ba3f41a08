# End to end: a reduced demo sweep on the bundled kvsweep-tiny (40 held-out items per task) must
# clear the quality bar of issue #7 with FullKV, and at keep ratio 0.1 at least one of
# StreamingLLM / H2O / SnapKV must lose >= 20 points on recall.
# usage: test_demo_quality.sh KVSWEEP MPIEXEC WORKDIR [MPIEXEC_PREFLAGS...]
set -euo pipefail
KVSWEEP=$1
MPIEXEC=$2
WORK=$3
shift 3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$WORK"
mkdir -p "$WORK"
"$MPIEXEC" "$@" -np 3 "$KVSWEEP" run tests/synthetic/data/demo_quality.json --set "output.dir=$WORK/run"
CSV=$WORK/run/results.csv

accuracy() { # accuracy TASK METHOD RATIO -> exact_match of that row (fails if the row is missing)
    awk -F, -v t="$1" -v m="$2" -v r="$3" \
        '$2 == t && $4 == m && $5 == r && $6 == "exact_match" { print $7; found = 1 }
         END { if (!found) exit 1 }' "$CSV" || { echo "FAIL: no exact_match row for $1 $2 $3 in $CSV" >&2; exit 1; }
}
at_least() { # at_least WHAT VALUE BAR
    awk -v v="$2" -v bar="$3" 'BEGIN { exit !(v + 1e-9 >= bar) }' ||
        { echo "FAIL: $1 = $2, below the bar $3" >&2; exit 1; }
    echo "ok: $1 = $2 (bar $3)"
}

at_least "FullKV synth_recall" "$(accuracy synth_recall fullkv 1)" 0.90
at_least "FullKV synth_arith" "$(accuracy synth_arith fullkv 1)" 0.60
at_least "FullKV synth_choice" "$(accuracy synth_choice fullkv 1)" 0.80
full=$(accuracy synth_recall fullkv 1)
largest_drop=0
for m in streaming_llm h2o snapkv; do
    drop=$(awk -v f="$full" -v c="$(accuracy synth_recall $m 0.1)" 'BEGIN { printf "%.6f", f - c }')
    echo "recall drop at 0.1, $m: $drop"
    largest_drop=$(awk -v a="$largest_drop" -v b="$drop" 'BEGIN { print (b > a ? b : a) }')
done
at_least "largest recall drop at ratio 0.1" "$largest_drop" 0.20
