"""Accuracy of kvsweep-tiny on held-out synthetic items, with FullKV and with emulated KV-cache
compression (StreamingLLM, H2O, SnapKV), using the reference PyTorch forward.

/usr/bin/python3 evaluate.py --model data/models/kvsweep-tiny [--items 50] [--ratios 0.5,0.1]
  or --checkpoint runs/NAME/ckpt.pt --tokenizer DIR (weights rounded to BF16 like the export).

Accuracy is exact match of the whole reference answer under greedy decoding, computed with one
teacher-forced forward per item: greedy decoding reproduces the answer iff every argmax along it
equals the reference token. Compression emulation: the prompt is prefilled with full attention
(so the first answer token is unaffected, as in the engine), then every answer position attends
only to the kept prompt positions of each KV head plus the answer so far.
"""
import argparse
import json
import math
import os

import torch

import encode
import synth
from hf_io import bf16_round, load_hf
from model import llama, llama_config
from train import EVAL_SEED, TASKS, encode_item

SINKS = 4          # StreamingLLM attention sinks
SNAP_WINDOW = 16   # SnapKV observation window (prompts here are ~200-400 tokens)
SNAP_KERNEL = 5    # SnapKV pooling kernel


def budget(ratio, n):
    return max(1, int(math.ceil(ratio * n)))


def keep_streaming(attn, n, b):
    keep = torch.zeros(n, dtype=torch.bool)
    keep[:min(SINKS, b)] = True
    keep[n - max(0, b - SINKS):] = True
    return [[keep] * attn[0].shape[1] for _ in attn]


def group_sum(a, n_kv):
    """[n_heads][...] -> [n_kv][...] summing each KV head's query heads."""
    return a.view(n_kv, a.shape[0] // n_kv, *a.shape[1:]).sum(1)


def top_keep(scores, b, forced):
    keep = forced.clone()
    s = scores.clone()
    s[forced] = -float("inf")
    extra = b - int(forced.sum())
    if extra > 0:
        keep[s.topk(extra).indices] = True
    return keep


def keep_h2o(attn, n, b, n_kv):
    """Heavy hitters by attention received from all prompt queries, half the budget recent."""
    out = []
    for a in attn:
        col = group_sum(a[0, :, :n, :n].sum(1), n_kv)  # [n_kv][n]
        recent = torch.zeros(n, dtype=torch.bool)
        recent[n - b // 2:] = True
        out.append([top_keep(col[h], b, recent) for h in range(n_kv)])
    return out


def keep_snapkv(attn, n, b, n_kv):
    """Window queries' attention, pooled, picks the prefix; the window itself is always kept."""
    w = min(SNAP_WINDOW, n)
    out = []
    for a in attn:
        s = group_sum(a[0, :, n - w:n, :n].sum(1), n_kv)  # [n_kv][n]
        s = torch.nn.functional.avg_pool1d(s[:, None], SNAP_KERNEL, 1, SNAP_KERNEL // 2)[:, 0]
        window = torch.zeros(n, dtype=torch.bool)
        window[n - min(w, b):] = True
        out.append([top_keep(s[h], b, window) for h in range(n_kv)])
    return out


METHODS = {"streaming_llm": lambda attn, n, b, kv: keep_streaming(attn, n, b),
           "h2o": keep_h2o, "snapkv": keep_snapkv}


@torch.no_grad()
def item_correct(model, prompt, answer, method, ratio):
    cfg = model.cfg
    ids = prompt + answer
    T, n = len(ids), len(prompt)
    tokens, pos = torch.tensor([ids]), torch.arange(T)[None]
    causal = torch.ones(T, T, dtype=torch.bool).tril()[None]
    if method == "full":
        logits = model(tokens, pos, causal)[0]
    else:
        _, attn = model(tokens[:, :n], pos[:, :n], causal[:, :n, :n], return_attn=True)
        keep = METHODS[method](attn, n, budget(ratio, n), cfg.n_kv_heads)
        masks = []
        group = cfg.n_heads // cfg.n_kv_heads
        for layer_keep in keep:
            m = causal.expand(cfg.n_heads, T, T).clone()  # [n_heads][T][T]
            for h in range(cfg.n_heads):
                m[h, n:, :n] &= layer_keep[h // group][None, :]
            masks.append(m[None])
        logits = model(tokens, pos, masks)[0]
    pred = logits[n - 1:T - 1].argmax(-1)
    return bool(torch.equal(pred, torch.tensor(answer)))


def load_model(args):
    if args.model:
        return load_hf(args.model), encode.tokenizer(os.path.join(args.model, "tokenizer.json"))
    ck = torch.load(args.checkpoint)
    model = llama(llama_config(**ck["config"]))
    model.load_state_dict(ck["model"])
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(bf16_round(p))
    return model.eval(), encode.tokenizer(os.path.join(args.tokenizer, "tokenizer.json"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="")
    ap.add_argument("--checkpoint", default="")
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default="streaming_llm,h2o,snapkv")
    ap.add_argument("--ratios", default="0.5,0.1")
    ap.add_argument("--compress-tasks", default="synth_recall")
    ap.add_argument("--date-block", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = load_model(args)
    results = []
    for task in args.tasks.split(","):
        items = [encode_item(tok, synth.make_item(task, EVAL_SEED, i), bool(args.date_block)) for i in range(args.items)]
        configs = [("full", 1.0)]
        if task in args.compress_tasks.split(","):
            configs += [(m, float(r)) for m in args.methods.split(",") for r in args.ratios.split(",")]
        for method, ratio in configs:
            acc = sum(item_correct(model, p, a, method, ratio) for p, a in items) / len(items)
            results.append({"task": task, "method": method, "ratio": ratio, "items": len(items), "accuracy": acc})
            print(f"{task:14s} {method:14s} {ratio:4.2f} {acc:.3f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
