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
