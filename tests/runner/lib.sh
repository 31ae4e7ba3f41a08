# Shared by the runner's shell tests: arguments and helpers.
# usage: test_X.sh KVSWEEP MPIEXEC WORKDIR [MPIEXEC_PREFLAGS...]
set -euo pipefail
KVSWEEP=$1
MPIEXEC=$2
WORK=$3
shift 3
PREFLAGS=("$@")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CONFIG=tests/runner/data/sweep_small.json
HERE=tests/runner
rm -rf "$WORK"
mkdir -p "$WORK"

mpi() { # mpi NRANKS ARGS...
    local n=$1
    shift
    "$MPIEXEC" "${PREFLAGS[@]}" -np "$n" "$@"
}

compare_runs() { /usr/bin/python3 "$HERE/compare_runs.py" "$@"; } # A B [--kl-rel-tol X]

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# rank_pid_once_recording OUT RANK NRANKS: waits until rank RANK of an NRANKS-rank run writing to
# OUT has logged its pid and the journal holds a record, then prints that pid.
rank_pid_once_recording() {
    local out=$1 rank=$2 n=$3 pid
    for _ in $(seq 1 400); do
        pid=$(sed -n "s/.*rank $rank of $n (pid \([0-9]*\)).*/\1/p" "$out/logs/rank-$rank.log" 2> /dev/null | head -n 1 || true)
        if [ -n "$pid" ] && [ -s "$out/journal.jsonl" ]; then
            echo "$pid"
            return
        fi
        sleep 0.05
    done
    fail "$out: rank $rank never started or nothing was recorded"
}
