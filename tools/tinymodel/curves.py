"""Renders the learning curves of training runs (runs/NAME/log.csv) as markdown tables.

/usr/bin/python3 curves.py main2 main3 main4 > LEARNING_CURVES.md
Accuracies are teacher-forced exact match of the whole answer on 24 held-out items per task.
"""
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    print("# Learning curves of kvsweep-tiny\n")
    print("Accuracy = exact match of the whole reference answer under greedy decoding (teacher-forced check),"
          " 24 held-out items per task (seed 2025); loss = running mean of the answer-weighted training loss.\n")
    for name in sys.argv[1:]:
        run = os.path.join(HERE, "runs", name)
        with open(os.path.join(run, "args.json")) as f:
            meta = json.load(f)
        a = meta["args"]
        print(f"## {name}\n")
        print(f"params {meta['params']}, dim {a['dim']}, layers {a['layers']}, heads {a['heads']}/{a['kv_heads']}, "
              f"hidden {a['hidden']}, lr {a['lr']}, batch {a['batch']}x{a['seq']}, mix {a['mix']}, aux mix {a.get('aux_mix', '0,0')}"
              + (f", continued from {a['init']}" if a["init"] else "") + "\n")
        with open(os.path.join(run, "log.csv")) as f:
            rows = list(csv.DictReader(f))
        cols = ["step", "tokens", "minutes", "loss"] + [c for c in rows[0] if c.startswith("acc_")]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(r[c] for c in cols) + " |")
        print()


if __name__ == "__main__":
    main()
