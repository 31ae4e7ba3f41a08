#!/usr/bin/env bash
# kill -9 the whole job (or only rank 0) at random moments, resume each time with a different
# number of ranks: the final journal holds every key exactly once and the reports equal an
# uninterrupted run.
source "$(dirname "$0")/lib.sh"
# Longer generations so that every kill lands in the middle of the sweep.
SET=(--set generation.max_new_tokens=120 --set "tasks[0].limit=8")
mpi 1 "$KVSWEEP" run "$CONFIG" --out "$WORK/reference" "${SET[@]}" > "$WORK/reference.log" 2>&1 || { cat "$WORK/reference.log"; fail "reference run"; }
RANDOM=${KVSWEEP_TEST_SEED:-7}
kills=0
journal_lines() { if [ -f "$WORK/killed/journal.jsonl" ]; then wc -l < "$WORK/killed/journal.jsonl"; else echo 0; fi; }
total=$(wc -l < "$WORK/reference/journal.jsonl")
for attempt in 1 2 3; do
    n=$(( attempt % 3 + 1 ))
    setsid "$MPIEXEC" "${PREFLAGS[@]}" -np "$n" "$KVSWEEP" run "$CONFIG" --out "$WORK/killed" --resume "${SET[@]}" \
        > "$WORK/attempt$attempt.log" 2>&1 &
    launcher=$!
    # Wait for this attempt to record something, then kill at a random moment after that.
    before=$(journal_lines)
    for _ in $(seq 1 400); do
        [ "$(journal_lines)" -gt "$before" ] && break
        sleep 0.05
    done
    sleep "0.$(( RANDOM % 5 ))$(( RANDOM % 10 ))"
    if [ "$attempt" -eq 2 ]; then
        # Only rank 0 (the master, whose journal is at stake): mpirun then stops the rest.
        master=$(pgrep -P "$launcher" -f "kvsweep run" | head -n 1 || true)
        [ -n "$master" ] && kill -9 "$master" 2> /dev/null || true
    fi
    kill -9 -- "-$launcher" 2> /dev/null || true
    wait "$launcher" 2> /dev/null || true
    # Open MPI may put ranks in process groups of their own: make sure none outlives the kill.
    pkill -9 -f "$WORK/killed --resume" 2> /dev/null || true
    while pgrep -f "$WORK/killed --resume" > /dev/null; do sleep 0.05; done
    kills=$((kills + 1))
    lines=$(journal_lines)
    echo "attempt $attempt on $n ranks killed with $lines of $total journal lines"
    [ "$lines" -lt "$total" ] || fail "attempt $attempt finished before the kill: make the sweep longer"
done
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$WORK/killed" --resume "${SET[@]}" > "$WORK/final.log" 2>&1 || { cat "$WORK/final.log"; fail "final resume"; }
compare_runs "$WORK/reference" "$WORK/killed"
echo "kill and resume ($kills kills): ok"
