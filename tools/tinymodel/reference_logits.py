"""Reference logits of the exported kvsweep-tiny folder from the training script's own PyTorch
forward (float32 compute on the BF16 weights), for an engine-vs-PyTorch check.

/usr/bin/python3 reference_logits.py --model data/models/kvsweep-tiny --out FILE.json
    [--ids "1 2 3"] [--positions last|all]
Without --ids: the prompts (Llama-3 layout with date block) of the first item of every synthetic
task at the evaluation seed. Output: {"model", "cases": [{"name", "tokens", "positions",
"logits": [[vocab] per position]}]}; positions are 0-based indices into tokens.
"""
import argparse
import json
import os

import torch

import encode
import synth
from hf_io import load_hf
from model import causal_inputs
from train import EVAL_SEED, TASKS, encode_item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids", default="")
    ap.add_argument("--positions", default="last", choices=["last", "all"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_hf(args.model)
    if args.ids:
        cases = [("ids", [int(x) for x in args.ids.split()])]
    else:
        tok = encode.tokenizer(os.path.join(args.model, "tokenizer.json"))
        cases = [(t, encode_item(tok, synth.make_item(t, EVAL_SEED, 0), True)[0]) for t in TASKS]
    out = {"model": args.model, "cases": []}
    with torch.no_grad():
        for name, ids in cases:
            logits = model(*causal_inputs(ids))[0]
            positions = list(range(len(ids))) if args.positions == "all" else [len(ids) - 1]
            out["cases"].append({"name": name, "tokens": ids, "positions": positions,
                                 "logits": [[round(float(v), 6) for v in logits[p]] for p in positions]})
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
