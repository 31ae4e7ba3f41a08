"""Compares two run directories: every (model, task, item, method, ratio) key exactly once in each
journal, the same records apart from timing/rank/config hash, and the same results.csv apart from
the tokens_per_s column (a timing). Exit 1 with the first difference.

--kl-rel-tol X: fidelity.mean_kl and the fidelity_kl rows of results.csv may differ by a relative
X (plus the 1e-6 of the CSV's six decimals). Tensor-parallel runs sum each logit in another order
than one rank (logits agree to ~1e-6), which moves KL in its last digits; tokens, kept sets and
scores stay identical."""
import argparse
import csv
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("a")
parser.add_argument("b")
parser.add_argument("--kl-rel-tol", type=float, default=None)
args = parser.parse_args()


def close(x, y):
    return abs(x - y) <= args.kl_rel_tol * max(abs(x), abs(y)) + 1e-6


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


def split_kl_record(r):
    """The record without mean_kl, and mean_kl (None when absent)."""
    fid = dict(r.get("fidelity", {}))
    kl = fid.pop("mean_kl", None)
    return {**r, "fidelity": fid}, kl


def split_kl_row(r):
    """The row without its numbers when it is a fidelity_kl row, and those numbers."""
    if r["metric"] != "fidelity_kl":
        return r, []
    fields = ("value", "stderr", "ci_low", "ci_high")
    return {k: v for k, v in r.items() if k not in fields}, [float(r[k]) for k in fields]


def same_record(x, y):
    if args.kl_rel_tol is None:
        return x == y
    (x, kx), (y, ky) = split_kl_record(x), split_kl_record(y)
    return x == y and (kx is None) == (ky is None) and (kx is None or close(kx, ky))


def same_row(x, y):
    if args.kl_rel_tol is None:
        return x == y
    (x, nx), (y, ny) = split_kl_row(x), split_kl_row(y)
    return x == y and all(close(p, q) for p, q in zip(nx, ny))


ja, jb = journal(args.a), journal(args.b)
if ja.keys() != jb.keys():
    sys.exit(f"key sets differ: only in {args.a}: {sorted(ja.keys() - jb.keys())[:3]}, "
             f"only in {args.b}: {sorted(jb.keys() - ja.keys())[:3]}")
for k in ja:
    if not same_record(ja[k], jb[k]):
        diff = [f for f in set(ja[k]) | set(jb[k]) if ja[k].get(f) != jb[k].get(f)]
        sys.exit(f"record {k} differs in {diff}: {[ja[k].get(f) for f in diff]} vs {[jb[k].get(f) for f in diff]}")
ra, rb = results(args.a), results(args.b)
if len(ra) != len(rb):
    sys.exit(f"results.csv row counts differ: {len(ra)} vs {len(rb)}")
for x, y in zip(ra, rb):
    if not same_row(x, y):
        sys.exit(f"results.csv differs: {x} vs {y}")
print(f"same: {len(ja)} records, {len(ra)} result rows ({args.a} vs {args.b})")
