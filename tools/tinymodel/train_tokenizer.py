"""Trains the byte-level BPE of kvsweep-tiny on generated task text and writes tokenizer.json and
tokenizer_config.json (Llama-3 layout: same pre-tokenizer, decoder and special tokens).

Every number below 100 is one token (the 90 digit-pair merges come first; nothing else merges
with a digit), so recall copies one token and a sum is one table lookup for a tiny model; no
newline merges with anything, so token boundaries do not depend on how segments are cut.
"""
import argparse
import collections
import json
import os

import encode
import synth

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>"]

LLAMA3_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
                " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

# The Llama-3.1 template (system block with the knowledge/today dates), as in Meta's release but
# without the tool-calling branches.
CHAT_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = \"\" %}{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- \"Today Date: 26 Jul 2024\\n\\n\" }}"
    "{{- system_message }}{{- \"<|eot_id|>\" }}\n"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}\n")


def corpus_words(n_items, seed):
    counts = collections.Counter()
    for i in range(n_items):
        for task in synth.TASK_TAGS:
            item = synth.make_item(task, seed, i)
            prompt, answer = synth.chat_pieces(item, date_block=(i % 2 == 0))
            for special, text in prompt + answer:
                if not special:
                    counts.update(encode.pre_tokenize(text))
    return counts


DIGIT_MERGES = [(a, b) for a in "123456789" for b in "0123456789"]


def mergeable(a, b):
    return not any(ch.isdigit() or ch == "Ċ" for ch in a + b)  # Ċ = byte-level newline


def train_bpe(counts, n_merges):
    words = {encode.to_byte_chars(w): c for w, c in counts.items()}
    merges = list(DIGIT_MERGES)
    splits = {w: apply_merges(list(w), merges) for w in words}
    for _ in range(n_merges - len(merges)):
        pairs = collections.Counter()
        for w, parts in splits.items():
            for a, b in zip(parts, parts[1:]):
                if mergeable(a, b):
                    pairs[(a, b)] += words[w]
        if not pairs:
            break
        # most frequent; ties broken by the pair itself so the result is reproducible
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        for w, parts in splits.items():
            splits[w] = apply_merges(parts, [(a, b)])
    return merges


def apply_merges(parts, merges):
    for a, b in merges:
        i, out = 0, []
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def write_tokenizer(out_dir, merges):
    vocab = {encode.BYTE_CHARS[b]: b for b in range(256)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = [{"id": len(vocab) + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIAL_TOKENS)]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [added[0]["id"]],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
    config = {
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added},
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": True, "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 1024, "tokenizer_class": "PreTrainedTokenizerFast",
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
    return len(vocab) + len(added)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=768)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    merges = train_bpe(corpus_words(args.items, args.seed), args.vocab_size - 256 - len(SPECIAL_TOKENS))
    print(f"vocab {write_tokenizer(args.out, merges)} ({len(merges)} merges)")
