#!/usr/bin/env bash
# Bad configs fail before any work starts, with exit code 2 and one clear line naming the field.
source "$(dirname "$0")/lib.sh"
# expect_error NRANKS OUT EXPECTED_TEXT ARGS...: plain execution and NRANKS ranks under mpirun
# (or only the launches in $LAUNCHES) fail with exit code 2 and one "kvsweep run:" line holding
# EXPECTED_TEXT.
expect_error() {
    local np=$1 out=$2 expected=$3
    shift 3
    for launch in ${LAUNCHES:-plain mpi}; do
        set +e
        if [ "$launch" = plain ]; then
            # A singleton that does not start Open MPI's daemon: same kvsweep code, 2 s less each.
            OMPI_MCA_ess_singleton_isolated=1 "$KVSWEEP" run "$CONFIG" --out "$out" "$@" > "$WORK/stdout" 2> "$WORK/stderr"
        else
            mpi "$np" "$KVSWEEP" run "$CONFIG" --out "$out" "$@" > "$WORK/stdout" 2> "$WORK/stderr"
        fi
        local code=$?
        set -e
        # mpirun adds its own report of the non-zero exit; kvsweep itself says one line.
        local ours
        ours=$(grep -c "^kvsweep run: " "$WORK/stderr" || true)
        [ "$code" -ne 0 ] || fail "$launch: exit code 0 for $*"
        [ "$code" -eq 2 ] || { cat "$WORK/stderr"; fail "$launch: exit code $code for $*"; }
        [ "$launch" = mpi ] || [ "$(wc -l < "$WORK/stderr")" -eq 1 ] || { cat "$WORK/stderr"; fail "not one line for $*"; }
        [ "$ours" -eq 1 ] || { cat "$WORK/stderr"; fail "$launch: $ours kvsweep lines for $*"; }
        grep -qF "$expected" "$WORK/stderr" || { cat "$WORK/stderr"; fail "expected '$expected' for $*"; }
    done
    echo "ok: $(grep "^kvsweep run: " "$WORK/stderr")"
}
# check_np NRANKS EXPECTED_TEXT ARGS...: a bad config in a fresh directory; no work starts.
check_np() {
    local np=$1 out="$WORK/out-$RANDOM"
    shift
    expect_error "$np" "$out" "$@"
    [ ! -e "$out/journal.jsonl" ] || fail "work started for $*"
}
check() { check_np 2 "$@"; }
check 'tasks[1].name: unknown task "gsm9k" (valid: ' --set 'tasks[1].name=gsm9k'
check 'methods[2].name: unknown method "snapk" (valid: ' --set 'methods[2].name=snapk'
check 'ratios[0]: ratio 1.5 outside (0, 1]' --set 'ratios=[1.5, 0.3]'
check 'ratios[1]: ratio 0 outside (0, 1]' --set 'ratios=[0.5, 0]'
check 'models[0].path: model not found: data/models/nope.gguf' --set 'models[0].path=data/models/nope.gguf'
check 'models[0].path: missing model path' --set 'models[0].path=""'
check 'output.dir: /dev/null/run: cannot create' --out /dev/null/run
check 'methods[0].params: ' --set 'methods[0].params={"no_such_param": 1}'
check 'tasks[0].shots: expected an integer' --set 'tasks[0].shots="four"'
check 'safety.judge_model: no such file or folder: data/models/nope' --set 'safety.judge_model=data/models/nope'
# Tensor parallelism (under mpirun only, to keep the test short): tp must divide the KV heads
# (stories260K has 4), the ranks must make 1 master + groups of tp, and PyramidInfer
# (methods[3]) cannot run split.
LAUNCHES=mpi check 'parallel.tp: model stories260K (models[0]): tp = 3 must divide n_kv_heads = 4' --set parallel.tp=3
LAUNCHES=mpi check 'parallel.tp: must be >= 1' --set parallel.tp=0
LAUNCHES=mpi check_np 4 'parallel.tp = 2: 4 MPI ranks do not make 1 master + k groups of 2' --set parallel.tp=2 --set 'methods[3].name=h2o' --set 'methods[3].label=h2o_b'
LAUNCHES=mpi check_np 3 'parallel.tp: tp = 2: method pyramidinfer (methods[3], pyramidinfer) drops prompt rows' --set parallel.tp=2
LAUNCHES=plain check 'models[0].chat_template: unknown chat template "llama4" (valid: auto, llama3, llama3-nodate, llama2, mistral, deepseek-r1, plain)' --set 'models[0].chat_template=llama4'
# A run directory whose journal another run holds (here this shell, on fd 9): one line naming it,
# exit code 2, nothing written.
busy="$WORK/busy"
mkdir -p "$busy"
exec 9>> "$busy/journal.jsonl"
flock -n 9 || fail "could not lock $busy/journal.jsonl"
expect_error 2 "$busy" "$busy/journal.jsonl: another kvsweep run is writing this journal"
[ ! -s "$busy/journal.jsonl" ] && [ ! -e "$busy/config.json" ] || fail "the refused run wrote to $busy"
exec 9>&-
echo "bad configs: ok"
