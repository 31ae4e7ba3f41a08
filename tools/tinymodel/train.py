"""Trains kvsweep-tiny on the synthetic tasks (curriculum + task mix), logging learning curves.

/usr/bin/python3 train.py --name NAME --tokenizer DIR [--minutes M] [--dim D ...]
Writes tools/tinymodel/runs/NAME/{log.csv,args.json,ckpt.pt}. Reproducible from --seed (data,
init and sampling), up to floating-point nondeterminism of multi-threaded CPU kernels.
"""
import argparse
import csv
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

import encode
import synth
from model import causal_inputs, config_dict, llama, llama_config

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL_SEED = 2025  # held-out items; training uses --seed, a different splitmix stream
TASKS = list(synth.TASK_TAGS)


def encode_item(tok, item, date_block):
    """Prompt ids (segment by segment, as the engine tokenizes) and answer ids (ending <|eot_id|>)."""
    sp = tok.special
    system = (synth.DATE_BLOCK if date_block else "") + item["system"]
    ids = [sp["<|begin_of_text|>"], sp["<|start_header_id|>"]] + tok.encode_ordinary("system")
    ids += [sp["<|end_header_id|>"]] + tok.encode_ordinary("\n\n") + tok.encode_ordinary(system)
    ids += [sp["<|eot_id|>"], sp["<|start_header_id|>"]] + tok.encode_ordinary("user")
    ids += [sp["<|end_header_id|>"]] + tok.encode_ordinary("\n\n")
    for seg in item["user"]:
        ids += tok.encode_ordinary(seg["text"])
    ids += [sp["<|eot_id|>"], sp["<|start_header_id|>"]] + tok.encode_ordinary("assistant")
    ids += [sp["<|end_header_id|>"]] + tok.encode_ordinary("\n\n")
    return ids, tok.encode_ordinary(item["answer"]) + [sp["<|eot_id|>"]]


AUX_KINDS = ["aux_mqar", "aux_repeat", "aux_choice", "aux_options"]


def qa_document(tok, facts, questions, answer_weight):
    """<|begin_of_text|> facts, then (question, answer) pairs; answers graded with answer_weight."""
    ids = [tok.special["<|begin_of_text|>"]] + tok.encode_ordinary(facts)
    wts = [1.0] * len(ids)
    for question, answer in questions:
        q, a = tok.encode_ordinary(question), tok.encode_ordinary(answer)
        ids += q + a
        wts += [1.0] * len(q) + [answer_weight] * len(a)
    return ids, wts[1:]


def aux_mqar(tok, r, answer_weight):
    """Many lookups per document (facts, then several recall questions in the task's own reply
    format): a dense signal for the induction-style copy that recall and choice need."""
    n = r.randint(2, 16)
    boxes = r.sample(range(1, 100), n)
    codes = [r.randint(10, 99) for _ in range(n)]
    questions = []
    for _ in range(r.randint(2, 8)):
        j = r.randrange(n)
        questions.append((f"Q: What does box {boxes[j]} hold?\nA:",
                          f" Box {boxes[j]} holds {codes[j]}. The answer is {codes[j]}.\n\n"))
    facts = " ".join(f"Box {b} holds {c}." for b, c in zip(boxes, codes)) + "\n"
    return qa_document(tok, facts, questions, answer_weight)


def aux_choice(tok, r, answer_weight):
    """synth_choice without the chat layout: several problems per document (facts, question,
    options, reply), codes and boxes distinct across it, every reply graded."""
    seed = 7_000_000 + r.randrange(1 << 30)  # never the held-out seed 2025
    item = synth.make_item("synth_choice", seed, 0, {"shots": r.randint(1, 4), "facts": r.randint(2, 5)})
    text = "".join(s["text"] for s in item["user"]) + "\n"
    questions = [(text, item["answer"] + "\n\n")]
    return qa_document(tok, "", questions, answer_weight)


def aux_options(tok, r, answer_weight):
    """Bare walks: per problem an options line, a restated fact naming one of its codes (the box
    and code are noise, not graded), the walk and the letter; codes distinct across the document."""
    problems = r.randint(2, 5)
    codes = r.sample(range(10, 100), 5 * problems)
    boxes = [b for b in range(1, 100) if b not in codes]
    ids, wts = [tok.special["<|begin_of_text|>"]], []
    for k in range(problems):
        options = codes[5 * k:5 * k + 5]
        listed = ", ".join(f"{synth.LETTERS[i]} {o}" for i, o in enumerate(options)) + "."
        code = r.choice(options)
        walk, letter = synth.choice_walk(options, code)
        head = tok.encode_ordinary(f"Options: {listed}\nBox {r.choice(boxes)} holds {code}")
        rest = tok.encode_ordinary(f" 1. {walk} The answer is {letter}.\n")
        ids += head + rest
        wts += [0.0] * len(head) + [answer_weight] * len(rest)
    return ids, wts  # one weight per target: the tokens after <|begin_of_text|>


def aux_repeat(tok, r, answer_weight):
    """A random sequence written twice: the second copy is predictable only by induction. Half are
    words (one token each, so the copy is the plain one-step induction a small model finds first),
    half are numbers (a space token between them, as in the tasks)."""
    if r.random() < 0.5:
        words = [i for s, i in sorted(tok.vocab.items()) if s.startswith("\u0120") and s[1:].isalpha()]
        seq = [r.choice(words) for _ in range(r.randint(4, 40))] + tok.encode_ordinary("\n")
    else:
        seq = tok.encode_ordinary(" ".join(str(r.randint(10, 99)) for _ in range(r.randint(4, 40))) + "\n")
    ids = [tok.special["<|begin_of_text|>"]] + seq + seq
    return ids, [0.0] * len(seq) + [answer_weight] * len(seq)  # the first copy is noise


def curriculum_params(task, r, recall_shots):
    """Random sizes around and beyond the defaults, so short easy items teach the skill early."""
    if task == "synth_recall":
        return {"shots": r.randint(1, recall_shots), "facts_per_shot": r.randint(1, 4)}
    if task == "synth_arith":
        return {"shots": r.randint(0, 2)}
    if task == "synth_choice":
        return {"shots": r.randint(0, 2), "facts": r.randint(2, 5)}
    return {"shots": r.randint(0, 1), "questions": r.randint(1, 3)}


class batcher:
    def __init__(self, tok, args):
        self.tok, self.args = tok, args
        self.r = random.Random(args.seed)
        self.index = 0
        self.weights = [float(w) for w in args.mix.split(",")]
        self.aux_weights = [float(w) for w in args.aux_mix.split(",")]
        self.aux_weights += [0.0] * (len(AUX_KINDS) - len(self.aux_weights))  # older runs named fewer

    def next_doc(self):
        """Token ids and per-target loss weights of one training document."""
        kind = self.r.choices(TASKS + AUX_KINDS, self.weights + self.aux_weights)[0]
        if kind == "aux_mqar":
            return aux_mqar(self.tok, self.r, self.args.answer_weight)
        if kind == "aux_repeat":
            return aux_repeat(self.tok, self.r, self.args.answer_weight)
        if kind == "aux_choice":
            return aux_choice(self.tok, self.r, self.args.answer_weight)
        if kind == "aux_options":
            return aux_options(self.tok, self.r, self.args.answer_weight)
        item = synth.make_item(kind, self.args.seed, self.index, curriculum_params(kind, self.r, self.args.recall_shots))
        self.index += 1
        p, a = encode_item(self.tok, item, date_block=self.r.random() < 0.5)
        return p + a, [1.0] * (len(p) - 1) + [self.args.answer_weight] * len(a)

    def batch(self):
        """Rows of --seq tokens, each packing whole documents; returns tokens, pos, mask, targets, weight."""
        B, T = self.args.batch, self.args.seq
        tokens = torch.zeros(B, T, dtype=torch.long)
        pos = torch.zeros(B, T, dtype=torch.long)
        doc = torch.full((B, T), -1, dtype=torch.long)
        targets = torch.full((B, T), -100, dtype=torch.long)
        weight = torch.zeros(B, T)
        for b in range(B):
            t, d = 0, 0
            while True:
                ids, wts = self.next_doc()
                if len(ids) > T:
                    continue
                if t + len(ids) > T:
                    break
                n = len(ids)
                tokens[b, t:t + n] = torch.tensor(ids)
                pos[b, t:t + n] = torch.arange(n)
                doc[b, t:t + n] = d
                targets[b, t:t + n - 1] = torch.tensor(ids[1:])
                weight[b, t:t + n - 1] = torch.tensor(wts)
                t, d = t + n, d + 1
        mask = (doc[:, :, None] == doc[:, None, :]) & torch.ones(T, T, dtype=torch.bool).tril()[None]
        # padding (doc -1) attends to earlier padding only; its loss weight is zero
        return tokens, pos, mask, targets, weight


def eval_items(tok, n):
    out = {}
    for task in TASKS:
        out[task] = [encode_item(tok, synth.make_item(task, EVAL_SEED, i), date_block=(i % 2 == 0))
                     for i in range(n)]
    return out


@torch.no_grad()
def copy_accuracy(model, docs, separators):
    """Share of the words and numbers of aux_repeat's second copies predicted right (separator
    tokens left out, they are trivial): the induction ability recall needs, visible long before
    whole recall answers come out right."""
    hits = total = 0
    for ids, wts in docs:
        tokens, pos, mask = causal_inputs(ids)
        pred = model(tokens, pos, mask)[0][:-1].argmax(-1)
        graded = torch.tensor([w > 0 and t not in separators for w, t in zip(wts, ids[1:])])
        hits += int((pred[graded] == torch.tensor(ids[1:])[graded]).sum())
        total += int(graded.sum())
    return hits / total


@torch.no_grad()
def exact_match(model, items):
    """Greedy decoding reproduces the answer iff every teacher-forced argmax equals it."""
    hits = 0
    for p, a in items:
        tokens, pos, mask = causal_inputs(p + a)
        logits = model(tokens, pos, mask)[0]
        pred = logits[len(p) - 1:len(p) + len(a) - 1].argmax(-1)
        hits += int(torch.equal(pred, torch.tensor(a)))
    return hits / len(items)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.json")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--seq", type=int, default=384)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=1e9, help="stop early after this wall time")
    ap.add_argument("--stop-step", type=int, default=0,
                    help="stop after this step (the learning-rate schedule still spans --steps)")
    ap.add_argument("--mix", default="1,1.5,1,0.5", help="weights of " + ",".join(TASKS))
    ap.add_argument("--aux-mix", default="0,0,0", help="weights of " + ",".join(AUX_KINDS))
    ap.add_argument("--answer-weight", type=float, default=3.0)
    ap.add_argument("--recall-shots", type=int, default=6, help="largest recall prompt seen in training (shots)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-items", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", default="", help="checkpoint to continue from")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out_dir = os.path.join(HERE, "runs", args.name)
    os.makedirs(out_dir, exist_ok=True)
    tok = encode.tokenizer(os.path.join(args.tokenizer, "tokenizer.json"))
    cfg = llama_config(vocab_size=len(tok.vocab) + len(tok.special), dim=args.dim, n_layers=args.layers,
                       n_heads=args.heads, n_kv_heads=args.kv_heads, hidden_dim=args.hidden)
    model = llama(cfg)
    if args.init:
        model.load_state_dict(torch.load(args.init)["model"])
    n_params = sum(p.numel() for p in model.parameters())
    with open(os.path.join(out_dir, "args.json"), "w") as f:
        json.dump({"args": vars(args), "config": config_dict(cfg), "params": n_params}, f, indent=1)
    print(f"params {n_params}", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    data = batcher(tok, args)
    evals = eval_items(tok, args.eval_items)
    copy_rng = random.Random(EVAL_SEED)
    copy_docs = [aux_repeat(tok, copy_rng, 1.0) for _ in range(args.eval_items)]
    separators = set(tok.encode_ordinary(" \n"))
    log = open(os.path.join(out_dir, "log.csv"), "w", newline="")
    w = csv.writer(log)
    w.writerow(["step", "tokens", "minutes", "lr", "loss"] + [f"acc_{t}" for t in TASKS] + ["acc_copy"])
    start, seen, loss_avg = time.time(), 0, None
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / args.warmup) * (0.55 + 0.45 * math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        tokens, pos, mask, targets, weight = data.batch()
        logits = model(tokens, pos, mask)
        per_tok = F.cross_entropy(logits.view(-1, cfg.vocab_size), targets.view(-1), ignore_index=-100,
                                  reduction="none")
        loss = (per_tok * weight.view(-1)).sum() / weight.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += int((targets >= 0).sum())
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        minutes = (time.time() - start) / 60
        last = step == args.steps or step == args.stop_step or minutes > args.minutes
        if step % args.eval_every == 0 or last:
            model.eval()
            accs = [exact_match(model, evals[t]) for t in TASKS] + [copy_accuracy(model, copy_docs, separators)]
            model.train()
            w.writerow([step, seen, f"{minutes:.2f}", f"{lr:.2e}", f"{loss_avg:.4f}"] + [f"{a:.3f}" for a in accs])
            log.flush()
            torch.save({"model": model.state_dict(), "config": config_dict(cfg), "step": step},
                       os.path.join(out_dir, "ckpt.pt"))
            print(f"step {step} tok {seen} min {minutes:.1f} loss {loss_avg:.3f} acc "
                  + " ".join(f"{a:.2f}" for a in accs), flush=True)
        elif step % 10 == 0:
            print(f"step {step} tok {seen} min {minutes:.1f} loss {loss_avg:.3f} tok/s {seen / (minutes * 60):.0f}",
                  flush=True)
        if last:
            break


if __name__ == "__main__":
    main()
