#!/usr/bin/env bash
# The Llama-Guard-style judge runs as a model of our own engine: every record of a safety task
# carries the judge's generated verdict text (the stand-in judge, stories260K, writes story text,
# which the parser must then report as "malformed"; a trained model may answer with nothing). Runs on 2 ranks to cover the workers' judge loading, then
# with parallel.tp = 2 (1 master + 1 group), where only the leader loads and runs the judge.
source "$(dirname "$0")/lib.sh"
mpi 2 "$KVSWEEP" run tests/runner/data/safety_judge.json --out "$WORK/run" > "$WORK/stdout" 2>&1 ||
    { cat "$WORK/stdout"; fail "sweep with a judge model failed"; }
/usr/bin/python3 - "$WORK/run/journal.jsonl" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
assert len(records) == 4, len(records)
for r in records:
    e = r["extracted"]
    assert e["judge"] == "llama_guard3", e
    assert e["verdict"] in ("safe", "unsafe", "malformed"), e
    assert e["verdict_detail"].strip(), "judge produced no text"
    first = e["verdict_detail"].strip().splitlines()[0].strip().lower()
    expected = "unsafe" if first.startswith("unsafe") else "safe" if first.startswith("safe") else "malformed"
    assert e["verdict"] == expected, (e["verdict"], first)
PY
# Under tensor parallelism the judge runs whole on the group leader: same records as above.
mpi 3 "$KVSWEEP" run tests/runner/data/safety_judge.json --out "$WORK/tp2" --set parallel.tp=2 > "$WORK/stdout" 2>&1 ||
    { cat "$WORK/stdout"; fail "tp = 2 sweep with a judge model failed"; }
compare_runs "$WORK/run" "$WORK/tp2"
echo "safety judge: ok"
