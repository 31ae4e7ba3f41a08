#!/usr/bin/env bash
# kill -9 the whole job (or only rank 0) at random moments, resume each time with a different
# number of ranks: the final journal holds every key exactly once and the reports equal an
# uninterrupted run.
source "$(dirname "$0")/lib.sh"
mpi 1 "$KVSWEEP" run "$CONFIG" --out "$WORK/reference" > "$WORK/reference.log" 2>&1 || { cat "$WORK/reference.log"; fail "reference run"; }
RANDOM=${KVSWEEP_TEST_SEED:-7}
kills=0
for attempt in 1 2 3 4; do
    n=$(( attempt % 3 + 1 ))
    setsid "$MPIEXEC" "${PREFLAGS[@]}" -np "$n" "$KVSWEEP" run "$CONFIG" --out "$WORK/killed" --resume \
        > "$WORK/attempt$attempt.log" 2>&1 &
    launcher=$!
    sleep "0.$(( RANDOM % 9 + 1 ))"
    if [ "$attempt" -eq 2 ]; then
        # Only rank 0 (the master, whose journal is at stake): mpirun then stops the rest.
        master=$(pgrep -P "$launcher" -f "kvsweep run" | head -n 1 || true)
        [ -n "$master" ] && kill -9 "$master" 2> /dev/null || true
    fi
    kill -9 -- "-$launcher" 2> /dev/null || true
    wait "$launcher" 2> /dev/null || true
    kills=$((kills + 1))
    lines=$(wc -l < "$WORK/killed/journal.jsonl" 2> /dev/null || echo 0)
    echo "attempt $attempt on $n ranks killed with $lines journal lines"
done
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$WORK/killed" --resume > "$WORK/final.log" 2>&1 || { cat "$WORK/final.log"; fail "final resume"; }
compare_runs "$WORK/reference" "$WORK/killed"
echo "kill and resume ($kills kills): ok"
