#!/usr/bin/python3
"""Convert a llama2.c legacy (version 0) checkpoint and its tokenizer into a GGUF v3 file.

Checkpoint: 7 x int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
vocab_size < 0 means an unshared classifier follows the RoPE tables), then float32 arrays
token_embedding[vocab][dim], rms_att[L][dim], wq[L][dim][dim], wk[L][kv_dim][dim],
wv[L][kv_dim][dim], wo[L][dim][dim], rms_ffn[L][dim], w1[L][hidden][dim], w2[L][dim][hidden],
w3[L][hidden][dim], rms_final[dim], freq_cis_real[seq][hs/2], freq_cis_imag[seq][hs/2], (wcls).
Tokenizer (tok512.bin style): int32 max_token_length, then per token float32 score, int32 len,
len bytes. llama2.c exported pieces with U+2581 turned into spaces and BOS/EOS as "\\n<s>\\n" /
"\\n</s>\\n"; we undo both so the GGUF holds SentencePiece pieces.

llama2.c already uses the interleaved (2i, 2i+1) RoPE pairs that GGUF llama expects, so the
matrices are written as they are. Everything is F32.

Usage: convert_llama2c.py CHECKPOINT.bin OUT.gguf [--tokenizer tok512.bin] [--name NAME]
       [--description TEXT]
"""
import argparse
import struct
import sys

import numpy as np

GGUF_ALIGNMENT = 32
# GGUF metadata value types
GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9
GGML_TYPE_F32 = 0
# GGUF token types
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6


class GgufWriter:
    """Collects metadata and F32 tensors, then writes header, KV pairs, tensor infos, padding and
    the data section (each tensor aligned to GGUF_ALIGNMENT)."""

    def __init__(self):
        self.kv = []       # (key, encoded type+value bytes)
        self.tensors = []  # (name, array with outermost dimension first)

    @staticmethod
    def _str(s):
        b = s.encode("utf-8") if isinstance(s, str) else s
        return struct.pack("<Q", len(b)) + b

    def add_uint32(self, key, v):
        self.kv.append((key, struct.pack("<II", GGUF_UINT32, v)))

    def add_int32(self, key, v):
        self.kv.append((key, struct.pack("<Ii", GGUF_INT32, v)))

    def add_float32(self, key, v):
        self.kv.append((key, struct.pack("<If", GGUF_FLOAT32, v)))

    def add_bool(self, key, v):
        self.kv.append((key, struct.pack("<IB", GGUF_BOOL, 1 if v else 0)))

    def add_string(self, key, v):
        self.kv.append((key, struct.pack("<I", GGUF_STRING) + self._str(v)))

    def add_array(self, key, elem_type, values):
        head = struct.pack("<IIQ", GGUF_ARRAY, elem_type, len(values))
        if elem_type == GGUF_STRING:
            body = b"".join(self._str(v) for v in values)
        else:
            fmt = {GGUF_INT32: "<i", GGUF_FLOAT32: "<f", GGUF_UINT32: "<I"}[elem_type]
            body = b"".join(struct.pack(fmt, v) for v in values)
        self.kv.append((key, head + body))

    def add_tensor(self, name, array):
        self.tensors.append((name, np.ascontiguousarray(array, dtype=np.float32)))

    def write(self, path):
        def pad(n):
            return (GGUF_ALIGNMENT - n % GGUF_ALIGNMENT) % GGUF_ALIGNMENT

        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for key, value in self.kv:
            out += self._str(key) + value
        offset = 0
        for name, a in self.tensors:
            ne = list(reversed(a.shape))  # ggml order: fastest dimension first
            out += self._str(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", d) for d in ne)
            out += struct.pack("<IQ", GGML_TYPE_F32, offset)
            offset += a.nbytes + pad(a.nbytes)
        out += b"\0" * pad(len(out))
        for _, a in self.tensors:
            out += a.tobytes() + b"\0" * pad(a.nbytes)
        with open(path, "wb") as f:
            f.write(out)


def read_checkpoint(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 28:
        sys.exit(f"{path}: too short for a llama2.c header")
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len) <= 0 or dim % n_heads:
        sys.exit(f"{path}: bad header {dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len}")
    hs = dim // n_heads
    kv_dim = n_kv_heads * hs
    floats = np.frombuffer(raw, dtype="<f4", offset=28)
    shapes = [
        ("token_embd", (vocab, dim)), ("rms_att", (n_layers, dim)),
        ("wq", (n_layers, dim, dim)), ("wk", (n_layers, kv_dim, dim)),
        ("wv", (n_layers, kv_dim, dim)), ("wo", (n_layers, dim, dim)),
        ("rms_ffn", (n_layers, dim)), ("w1", (n_layers, hidden, dim)),
        ("w2", (n_layers, dim, hidden)), ("w3", (n_layers, hidden, dim)),
        ("rms_final", (dim,)), ("freq_real", (seq_len, hs // 2)), ("freq_imag", (seq_len, hs // 2)),
    ]
    if not shared:
        shapes.append(("wcls", (vocab, dim)))
    w, pos = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        if pos + n > floats.size:
            sys.exit(f"{path}: truncated while reading {name}")
        w[name] = floats[pos:pos + n].reshape(shape)
        pos += n
    if pos != floats.size:
        sys.exit(f"{path}: {floats.size - pos} unexpected trailing floats")
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
               vocab=vocab, seq_len=seq_len, shared=shared)
    return cfg, w


def read_tokenizer(path, vocab):
    with open(path, "rb") as f:
        raw = f.read()
    pos = 4
    tokens, scores, types = [], [], []
    for i in range(vocab):
        if pos + 8 > len(raw):
            sys.exit(f"{path}: truncated at token {i} (the model has {vocab} tokens)")
        score, n = struct.unpack("<fi", raw[pos:pos + 8])
        pos += 8
        if n < 0 or pos + n > len(raw):
            sys.exit(f"{path}: bad length {n} for token {i}")
        piece = raw[pos:pos + n]
        pos += n
        if piece.strip() == b"<s>":
            piece, kind = b"<s>", TOKEN_CONTROL
        elif piece.strip() == b"</s>":
            piece, kind = b"</s>", TOKEN_CONTROL
        elif piece == b"<unk>":
            kind = TOKEN_UNKNOWN
        elif len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
            kind = TOKEN_BYTE
        else:
            piece, kind = piece.replace(b" ", "\u2581".encode("utf-8")), TOKEN_NORMAL
        tokens.append(piece.decode("utf-8"))
        scores.append(score)
        types.append(kind)
    if pos != len(raw):
        sys.exit(f"{path}: has {len(raw) - pos} bytes after token {vocab - 1}: vocabulary size "
                 f"differs from the model's {vocab}")
    return tokens, scores, types


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="tok512.bin-style vocabulary; omit for a tokenizer-less file")
    ap.add_argument("--name", default="")
    ap.add_argument("--description", default="")
    args = ap.parse_args()

    cfg, w = read_checkpoint(args.checkpoint)
    hs = cfg["dim"] // cfg["n_heads"]
    g = GgufWriter()
    g.add_string("general.architecture", "llama")
    g.add_string("general.name", args.name or args.checkpoint.rsplit("/", 1)[-1])
    if args.description:
        g.add_string("general.description", args.description)
    g.add_uint32("general.alignment", GGUF_ALIGNMENT)
    g.add_uint32("llama.context_length", cfg["seq_len"])
    g.add_uint32("llama.embedding_length", cfg["dim"])
    g.add_uint32("llama.feed_forward_length", cfg["hidden"])
    g.add_uint32("llama.block_count", cfg["n_layers"])
    g.add_uint32("llama.attention.head_count", cfg["n_heads"])
    g.add_uint32("llama.attention.head_count_kv", cfg["n_kv_heads"])
    g.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)  # llama2.c's rmsnorm
    g.add_float32("llama.rope.freq_base", 10000.0)
    g.add_uint32("llama.rope.dimension_count", hs)
    g.add_uint32("llama.vocab_size", cfg["vocab"])
    if args.tokenizer:
        tokens, scores, types = read_tokenizer(args.tokenizer, cfg["vocab"])
        g.add_string("tokenizer.ggml.model", "llama")
        g.add_array("tokenizer.ggml.tokens", GGUF_STRING, tokens)
        g.add_array("tokenizer.ggml.scores", GGUF_FLOAT32, scores)
        g.add_array("tokenizer.ggml.token_type", GGUF_INT32, types)
        g.add_uint32("tokenizer.ggml.unknown_token_id", 0)
        g.add_uint32("tokenizer.ggml.bos_token_id", 1)
        g.add_uint32("tokenizer.ggml.eos_token_id", 2)
        g.add_bool("tokenizer.ggml.add_bos_token", True)
        g.add_bool("tokenizer.ggml.add_eos_token", False)

    g.add_tensor("token_embd.weight", w["token_embd"])
    for l in range(cfg["n_layers"]):
        b = f"blk.{l}."
        g.add_tensor(b + "attn_norm.weight", w["rms_att"][l])
        g.add_tensor(b + "attn_q.weight", w["wq"][l])
        g.add_tensor(b + "attn_k.weight", w["wk"][l])
        g.add_tensor(b + "attn_v.weight", w["wv"][l])
        g.add_tensor(b + "attn_output.weight", w["wo"][l])
        g.add_tensor(b + "ffn_norm.weight", w["rms_ffn"][l])
        g.add_tensor(b + "ffn_gate.weight", w["w1"][l])
        g.add_tensor(b + "ffn_down.weight", w["w2"][l])
        g.add_tensor(b + "ffn_up.weight", w["w3"][l])
    g.add_tensor("output_norm.weight", w["rms_final"])
    if not cfg["shared"]:
        g.add_tensor("output.weight", w["wcls"])
    g.write(args.out)
    print(f"wrote {args.out}: {len(g.tensors)} tensors, {len(g.kv)} metadata keys")


if __name__ == "__main__":
    main()
