#!/usr/bin/env bash
# Tensor parallelism in the sweep runner (parallel.tp = 2 on kvsweep-tiny, 2 KV heads):
# - 1 master + 2 groups of 2 ranks give the records and results.csv of tp = 1 on 3 ranks (KL
#   within 1e-4 relative: compare_runs.py says why), and only the group leaders record;
# - a non-leader rank killed with -9 mid-run: rank 0 names it, the journal stays intact and a
#   tp = 2 --resume finishes the sweep with the uninterrupted result;
# - a drain (SIGUSR1 to rank 0) under tp = 2 exits with 3 and resumes the same way.
source "$(dirname "$0")/lib.sh"
CONFIG=tests/runner/data/sweep_tp.json
TP=(--set parallel.tp=2)
run() { # run NAME NRANKS ARGS...: a sweep that must succeed
    local name=$1 n=$2
    shift 2
    mpi "$n" "$KVSWEEP" run "$CONFIG" --out "$WORK/$name" "$@" > "$WORK/$name.log" 2>&1 || { cat "$WORK/$name.log"; fail "$name on $n ranks"; }
}
recording_ranks() { /usr/bin/python3 -c 'import json, sys; print(*sorted({json.loads(l)["rank"] for l in open(sys.argv[1])}))' "$1/journal.jsonl"; }
KL=(--kl-rel-tol 1e-4)

run tp1 3
run tp2 5 "${TP[@]}"
compare_runs "$WORK/tp1" "$WORK/tp2" "${KL[@]}"
grep -q "5 rank(s) in 2 tensor-parallel groups of 2" "$WORK/tp2.log" || { cat "$WORK/tp2.log"; fail "no group layout line"; }
[ "$(recording_ranks "$WORK/tp2")" = "1 3" ] || fail "records from ranks $(recording_ranks "$WORK/tp2"), expected the leaders 1 and 3"

# Longer generations so that the kill and the drain land in the middle of the sweep.
LONG=(--set 'tasks[1].name=synth_longgen' --set 'tasks[1].limit=10' --set generation.max_new_tokens=0)
run long_tp1 3 "${LONG[@]}"
total=$(wc -l < "$WORK/long_tp1/journal.jsonl")

# start_long NAME: a tp = 2 run in the background ($job), waiting until it has recorded something;
# sets $pid to the pid of world rank $2.
start_long() {
    local name=$1 rank=$2
    mpi 5 "$KVSWEEP" run "$CONFIG" --out "$WORK/$name" "${TP[@]}" "${LONG[@]}" > "$WORK/$name.log" 2>&1 &
    job=$!
    pid=$(rank_pid_once_recording "$WORK/$name" "$rank" 5)
}
finish_long() { # finish_long NAME: resume with tp = 2 and compare with the uninterrupted run
    local lines
    lines=$(wc -l < "$WORK/$1/journal.jsonl")
    echo "$1: stopped with $lines of $total journal lines"
    [ "$lines" -lt "$total" ] || fail "$1 finished before it was stopped: make the sweep longer"
    "$KVSWEEP" report "$WORK/$1" > /dev/null || fail "$1: journal unreadable"
    run "$1" 5 "${TP[@]}" "${LONG[@]}" --resume
    compare_runs "$WORK/long_tp1" "$WORK/$1" "${KL[@]}"
}

# World rank 2 is the non-leader of the first group (ranks 1-2).
start_long death 2
kill -9 "$pid"
if wait "$job"; then fail "the run succeeded although rank 2 was killed"; fi
grep -q "rank 2 (pid $pid) died while running item" "$WORK/death.log" || { cat "$WORK/death.log"; fail "no message naming rank 2 and its item"; }
grep "died while running" "$WORK/death.log"
finish_long death

start_long drain 0
kill -USR1 "$pid"
set +e
wait "$job"
code=$?
set -e
[ "$code" -eq 3 ] || { cat "$WORK/drain.log"; fail "drain exited with $code, expected 3"; }
grep -q "drained after SIGUSR1" "$WORK/drain.log" || { cat "$WORK/drain.log"; fail "no drain message"; }
finish_long drain
echo "tensor parallel: ok"
