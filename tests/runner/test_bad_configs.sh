#!/usr/bin/env bash
# Bad configs fail before any work starts, with exit code 2 and one clear line naming the field.
source "$(dirname "$0")/lib.sh"
check() { # check EXPECTED_TEXT --set ...: plain execution, then 2 ranks under mpirun
    local expected=$1
    shift
    local out="$WORK/out-$RANDOM"
    for launch in plain mpi; do
        set +e
        if [ "$launch" = plain ]; then
            "$KVSWEEP" run "$CONFIG" --out "$out" "$@" > "$WORK/stdout" 2> "$WORK/stderr"
        else
            mpi 2 "$KVSWEEP" run "$CONFIG" --out "$out" "$@" > "$WORK/stdout" 2> "$WORK/stderr"
        fi
        local code=$?
        set -e
        # mpirun adds its own report of the non-zero exit; kvsweep itself says one line.
        local ours
        ours=$(grep -c "^kvsweep run: " "$WORK/stderr" || true)
        [ "$code" -ne 0 ] || fail "$launch: exit code 0 for $*"
        [ "$launch" = mpi ] || [ "$code" -eq 2 ] || { cat "$WORK/stderr"; fail "exit code $code for $*"; }
        [ "$launch" = mpi ] || [ "$(wc -l < "$WORK/stderr")" -eq 1 ] || { cat "$WORK/stderr"; fail "not one line for $*"; }
        [ "$ours" -eq 1 ] || { cat "$WORK/stderr"; fail "$launch: $ours kvsweep lines for $*"; }
        grep -qF "$expected" "$WORK/stderr" || { cat "$WORK/stderr"; fail "expected '$expected' for $*"; }
        [ ! -e "$out/journal.jsonl" ] || fail "work started for $*"
    done
    echo "ok: $(grep "^kvsweep run: " "$WORK/stderr")"
}
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
echo "bad configs: ok"
