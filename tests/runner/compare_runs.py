"""Compares two run directories: every (model, task, item, method, ratio) key exactly once in each
journal, the same records apart from timing/rank/config hash, and the same results.csv apart from
the tokens_per_s column (a timing). Exit 1 with the first difference."""
import csv
import json
import sys


def journal(path):
    records = {}
    with open(path + "/journal.jsonl") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            key = (r["model"], r["task"], r["item"], r["method"], r["ratio_text"])
            if key in records:
                sys.exit(f"{path}/journal.jsonl:{n}: duplicate key {key}")
            for volatile in ("timing", "rank", "config_hash"):
                r.pop(volatile, None)
            records[key] = r
    return records


def results(path):
    with open(path + "/results.csv") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("tokens_per_s")
    return rows


a, b = sys.argv[1], sys.argv[2]
ja, jb = journal(a), journal(b)
if ja.keys() != jb.keys():
    sys.exit(f"key sets differ: only in {a}: {sorted(ja.keys() - jb.keys())[:3]}, "
             f"only in {b}: {sorted(jb.keys() - ja.keys())[:3]}")
for k in ja:
    if ja[k] != jb[k]:
        diff = [f for f in set(ja[k]) | set(jb[k]) if ja[k].get(f) != jb[k].get(f)]
        sys.exit(f"record {k} differs in {diff}")
ra, rb = results(a), results(b)
if ra != rb:
    for x, y in zip(ra, rb):
        if x != y:
            sys.exit(f"results.csv differs: {x} vs {y}")
    sys.exit(f"results.csv row counts differ: {len(ra)} vs {len(rb)}")
print(f"same: {len(ja)} records, {len(ra)} result rows ({a} vs {b})")
