#!/usr/bin/env bash
# Two jobs split by method, merged, equal one job with all methods; runs that disagree elsewhere
# are refused.
source "$(dirname "$0")/lib.sh"
A='methods=[{"name":"streaming_llm"},{"name":"h2o"}]'
B='methods=[{"name":"snapkv"},{"name":"pyramidinfer"},{"name":"shotkv"}]'
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$WORK/a" --set "$A" > "$WORK/a.log" 2>&1 || { cat "$WORK/a.log"; fail "job a"; }
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$WORK/b" --set "$B" > "$WORK/b.log" 2>&1 || { cat "$WORK/b.log"; fail "job b"; }
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$WORK/all" > "$WORK/all.log" 2>&1 || { cat "$WORK/all.log"; fail "job all"; }
"$KVSWEEP" merge "$WORK/merged" "$WORK/a" "$WORK/b"
compare_runs "$WORK/all" "$WORK/merged"
mpi 1 "$KVSWEEP" run "$CONFIG" --out "$WORK/c" --set "$B" --set generation.max_new_tokens=5 > "$WORK/c.log" 2>&1 || fail "job c"
if "$KVSWEEP" merge "$WORK/bad" "$WORK/a" "$WORK/c" 2> "$WORK/merge.err"; then fail "merge accepted different generation settings"; fi
grep -q "generation.max_new_tokens" "$WORK/merge.err" || { cat "$WORK/merge.err"; fail "merge error does not name the field"; }
cat "$WORK/merge.err"
echo "merge: ok"
