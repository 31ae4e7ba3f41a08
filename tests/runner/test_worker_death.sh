#!/usr/bin/env bash
# A worker killed with -9 mid-run: rank 0 stops with a message naming the rank and the item, the
# journal stays intact and --resume finishes the sweep.
source "$(dirname "$0")/lib.sh"
OUT="$WORK/run"
mpi 3 "$KVSWEEP" run "$CONFIG" --out "$OUT" --set generation.max_new_tokens=120 > "$WORK/run.log" 2>&1 &
job=$!
pid=$(rank_pid_once_recording "$OUT" 1 3)
kill -9 "$pid"
if wait "$job"; then fail "the run succeeded although rank 1 was killed"; fi
grep -q "rank 1 (pid $pid) died while running item" "$WORK/run.log" || { cat "$WORK/run.log"; fail "no message naming rank 1 and its item"; }
grep "died while running" "$WORK/run.log"
"$KVSWEEP" report "$OUT" > /dev/null || fail "journal unreadable after the death"
mpi 2 "$KVSWEEP" run "$CONFIG" --out "$OUT" --set generation.max_new_tokens=120 --resume > "$WORK/resume.log" 2>&1 || { cat "$WORK/resume.log"; fail "resume"; }
/usr/bin/python3 - "$OUT" << 'PY'
import json, sys
keys = [tuple(json.loads(l)[k] for k in ("model", "task", "item", "method", "ratio_text")) for l in open(sys.argv[1] + "/journal.jsonl")]
assert len(keys) == len(set(keys)) == 7 * 11, (len(keys), len(set(keys)))
PY
echo "worker death: ok"
