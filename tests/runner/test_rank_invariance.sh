#!/usr/bin/env bash
# The same sweep on 1, 2 and 3 ranks gives identical records (timing aside) and results.csv;
# `kvsweep report` rebuilds the same results.csv from the journal.
source "$(dirname "$0")/lib.sh"
for n in 1 2 3; do
    mpi "$n" "$KVSWEEP" run "$CONFIG" --out "$WORK/np$n" > "$WORK/np$n.log" 2>&1 || { cat "$WORK/np$n.log"; fail "run on $n ranks"; }
done
compare_runs "$WORK/np1" "$WORK/np2"
compare_runs "$WORK/np1" "$WORK/np3"
grep -q '"rank":2' "$WORK/np3/journal.jsonl" || fail "rank 2 recorded nothing on 3 ranks"
cp "$WORK/np3/results.csv" "$WORK/results.before"
"$KVSWEEP" report "$WORK/np3" > /dev/null
cmp "$WORK/results.before" "$WORK/np3/results.csv" || fail "kvsweep report changed results.csv"
echo "rank invariance: ok"
