#!/usr/bin/python3
"""Reference encoder for llama2.c tokenizer files (tok512.bin), written from the algorithm that
llama2.c's run.c documents for encode(): a dummy-prefix " " token when the text is not empty,
one token per UTF-8 character (bytes + 3 for characters not in the vocabulary), then repeatedly
merge the adjacent pair whose concatenation is in the vocabulary with the highest score
(the leftmost pair on ties) until no pair merges. Independent of the C++ tokenizer: it produces
the expected ids for tests/tokenizer.

    /usr/bin/python3 tests/tokenizer/llama2c_reference.py data/tokenizers/aidreams/tok512.bin \
        data/tokenizers/fixtures/corpus.json > data/tokenizers/fixtures/tok512.json
"""
import json
import struct
import sys


def load_vocab(path):
    with open(path, "rb") as f:
        data = f.read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    pos, pieces, scores = 4, [], []
    while pos < len(data):
        score, length = struct.unpack_from("<fi", data, pos)
        pos += 8
        pieces.append(data[pos:pos + length])
        scores.append(score)
        pos += length
    return pieces, scores


def utf8_chars(text_bytes):
    """Splits bytes into UTF-8 characters the way run.c does: a lead byte plus up to 3
    continuation bytes."""
    chars, cur = [], b""
    for b in text_bytes:
        if (b & 0xC0) != 0x80:
            if cur:
                chars.append(cur)
            cur = bytes([b])
        else:
            cur += bytes([b])
            if len(cur) == 4:
                chars.append(cur)
                cur = b""
    if cur:
        chars.append(cur)
    return chars


def encode(text, pieces, scores, index):
    data = text.encode("utf-8")
    if not data:
        return []
    tokens = [index[b" "]]
    for ch in utf8_chars(data):
        if ch in index:
            tokens.append(index[ch])
        else:
            tokens.extend(b + 3 for b in ch)
    while True:
        best_score, best_i, best_id = None, -1, -1
        for i in range(len(tokens) - 1):
            merged = pieces[tokens[i]] + pieces[tokens[i + 1]]
            mid = index.get(merged)
            if mid is not None and (best_score is None or scores[mid] > best_score):
                best_score, best_i, best_id = scores[mid], i, mid
        if best_i < 0:
            return tokens
        tokens[best_i:best_i + 2] = [best_id]


def main():
    vocab_path, corpus_path = sys.argv[1], sys.argv[2]
    pieces, scores = load_vocab(vocab_path)
    index = {}
    for i, p in enumerate(pieces):
        index.setdefault(p, i)
    with open(corpus_path, encoding="utf-8") as f:
        corpus = json.load(f)
    cases = [{"text": t, "special": False, "ids": encode(t, pieces, scores, index)} for t in corpus]
    json.dump({"generator": "tests/tokenizer/llama2c_reference.py", "cases": cases}, sys.stdout,
              ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
