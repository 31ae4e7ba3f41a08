"""Writes the reference files tests/synthetic compares our C++ code with, from the Python side:
  items.jsonl      synth.py items (the C++ generators must reproduce them byte for byte)
  tokenizer.jsonl  encode.py token ids of held-out text (the C++ tokenizer must reproduce them)
Usage: /usr/bin/python3 make_fixtures.py [--out tests/synthetic/fixtures]
"""
import argparse
import json
import os

import encode
import synth
from train import encode_item

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# (task, seed, params, count): defaults at the evaluation seed, plus other seeds and sizes
ITEM_CASES = [
    ("synth_arith", 2025, {}, 4), ("synth_arith", 7, {"shots": 5}, 3),
    ("synth_recall", 2025, {}, 4), ("synth_recall", 7, {"shots": 8, "facts_per_shot": 5}, 2),
    ("synth_choice", 2025, {}, 4), ("synth_choice", 123456, {"shots": 1, "facts": 5}, 3),
    ("synth_longgen", 2025, {}, 3), ("synth_longgen", 7, {"shots": 3, "questions": 6}, 2),
]

# Text the tokenizer was not trained on: other seeds, other words, Unicode, odd spacing.
EXTRA_TEXT = [
    "Hello, world! It's 12345 o'clock; they'll SAY 'hi'.\n\n  indented\tline\r\n",
    "Zoë ate 3.14159 crêpes — naïve café … 日本語のテキスト 😀 done.",
    "Numbers: 1 22 333 4444 55555 -7 +8 = 9*10/11 (12) [13] {14}",
    "   leading spaces and trailing   ",
    "Box 17 holds 482. Q: What does box 17 hold?\nA: The answer is 482.\n\n\nEnd",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "synthetic", "fixtures"))
    ap.add_argument("--model", default=os.path.join(ROOT, "data", "models", "kvsweep-tiny"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "items.jsonl"), "w") as f:
        for task, seed, params, count in ITEM_CASES:
            for i in range(count):
                item = synth.make_item(task, seed, i, params)
                f.write(json.dumps({"task": task, "seed": seed, "params": params, "index": i, "item": item}) + "\n")
    tok = encode.tokenizer(os.path.join(args.model, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer.jsonl"), "w") as f:
        texts = list(EXTRA_TEXT)
        for task in synth.TASK_TAGS:
            item = synth.make_item(task, 99991, 0)
            texts.append("".join(s["text"] for s in item["user"]) + "\n" + item["answer"])
        for text in texts:
            f.write(json.dumps({"text": text, "ids": tok.encode_ordinary(text)}) + "\n")
        # whole prompts: the segment-wise ids the model was trained on, with the layout's pieces
        for task in synth.TASK_TAGS:
            item = synth.make_item(task, 99992, 0)
            for date_block in (True, False):
                prompt, answer = encode_item(tok, item, date_block)
                f.write(json.dumps({"item": item, "date_block": date_block, "prompt_ids": prompt,
                                    "answer_ids": answer}) + "\n")


if __name__ == "__main__":
    main()
