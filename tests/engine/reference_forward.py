#!/usr/bin/python3
"""Independent reference Llama forward pass in plain numpy (float64) for the engine golden tests.

Reads model files with its own minimal parsers (GGUF v3: F32/F16/BF16/Q8_0; Hugging Face folder:
config.json + model.safetensors, F32/F16/BF16) and never calls kvsweep's C++ code.

  reference_forward.py logits MODEL OUT TOKENS   logits of every position, float64 [T][vocab] raw
  reference_forward.py greedy MODEL N [BOS]      N greedy ids after BOS (default 1), printed
  reference_forward.py make-hf DIR SEED          writes a random Llama-3-shaped HF folder (GQA,
                                                 llama3 rope scaling, untied output head, F32)
"""
import json
import os
import struct
import sys

import numpy as np

# ---- GGUF ---------------------------------------------------------------------------------------

GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.off = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.off)[0]
        self.off += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.off:self.off + n].decode("utf-8")
        self.off += n
        return s

    def value(self, t):
        if t in GGUF_SCALARS:
            return self.take(GGUF_SCALARS[t])
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        raise ValueError(f"unknown GGUF value type {t}")


def dequantize(raw, ggml_type, count):
    if ggml_type == 0:
        return np.frombuffer(raw, "<f4", count).astype(np.float64)
    if ggml_type == 1:
        return np.frombuffer(raw, "<f2", count).astype(np.float64)
    if ggml_type == 30:
        bits = np.frombuffer(raw, "<u2", count).astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    if ggml_type == 8:
        blocks = np.frombuffer(raw, np.uint8, count // 32 * 34).reshape(-1, 34)
        d = blocks[:, :2].copy().view("<f2").astype(np.float64)
        q = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
        return (d * q).reshape(-1)
    raise ValueError(f"unsupported ggml type {ggml_type}")


GGML_BYTES = {0: lambda n: 4 * n, 1: lambda n: 2 * n, 30: lambda n: 2 * n, 8: lambda n: n // 32 * 34}


def load_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    assert data[:4] == b"GGUF", "bad magic"
    r.off = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    assert version == 3, version
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.off + align - 1) // align * align
    tensors = {}
    for name, dims, t, off in infos:
        count = int(np.prod(dims))
        raw = data[base + off:base + off + GGML_BYTES[t](count)]
        tensors[name.removesuffix(".weight")] = dequantize(raw, t, count).reshape(list(reversed(dims)))
    a = meta["general.architecture"]
    cfg = dict(
        dim=meta[f"{a}.embedding_length"], hidden_dim=meta[f"{a}.feed_forward_length"],
        n_layers=meta[f"{a}.block_count"], n_heads=meta[f"{a}.attention.head_count"],
        n_kv_heads=meta.get(f"{a}.attention.head_count_kv", meta[f"{a}.attention.head_count"]),
        eps=meta.get(f"{a}.attention.layer_norm_rms_epsilon", 1e-5), theta=meta.get(f"{a}.rope.freq_base", 10000.0),
        interleaved=True, scaling=None)
    cfg["head_dim"] = meta.get(f"{a}.attention.key_length", cfg["dim"] // cfg["n_heads"])
    w = {"embed": tensors["token_embd"], "norm": tensors["output_norm"],
         "output": tensors.get("output", tensors["token_embd"])}
    inv_freq = base_inv_freq(cfg)
    if "rope_freqs" in tensors:  # llama.cpp stores Llama 3 scaling as divisors of the frequencies
        inv_freq = inv_freq / tensors["rope_freqs"]
    names = {"attn_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
             "ffn_norm": "ffn_norm", "w1": "ffn_gate", "w3": "ffn_up", "w2": "ffn_down"}
    w["layers"] = [{k: tensors[f"blk.{l}.{v}"] for k, v in names.items()} for l in range(cfg["n_layers"])]
    return cfg, w, inv_freq

# ---- Hugging Face safetensors -------------------------------------------------------------------


def load_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data, 0)[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        count = int(np.prod(info["shape"]))
        t = {"F32": 0, "F16": 1, "BF16": 30}[info["dtype"]]
        out[name] = dequantize(raw, t, count).reshape(info["shape"])
    return out


def load_hf(folder):
    c = json.load(open(os.path.join(folder, "config.json")))
    cfg = dict(dim=c["hidden_size"], hidden_dim=c["intermediate_size"], n_layers=c["num_hidden_layers"],
               n_heads=c["num_attention_heads"], n_kv_heads=c.get("num_key_value_heads", c["num_attention_heads"]),
               eps=c.get("rms_norm_eps", 1e-6), theta=c.get("rope_theta", 10000.0), interleaved=False,
               scaling=c.get("rope_scaling"))
    cfg["head_dim"] = c.get("head_dim", cfg["dim"] // cfg["n_heads"])
    t = load_safetensors(os.path.join(folder, "model.safetensors"))
    tied = c.get("tie_word_embeddings", False)
    w = {"embed": t["model.embed_tokens.weight"], "norm": t["model.norm.weight"],
         "output": t["model.embed_tokens.weight"] if tied else t["lm_head.weight"]}
    names = {"attn_norm": "input_layernorm", "wq": "self_attn.q_proj", "wk": "self_attn.k_proj",
             "wv": "self_attn.v_proj", "wo": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "w1": "mlp.gate_proj", "w3": "mlp.up_proj", "w2": "mlp.down_proj"}
    w["layers"] = [{k: t[f"model.layers.{l}.{v}.weight"] for k, v in names.items()} for l in range(cfg["n_layers"])]
    return cfg, w, llama3_scaled(base_inv_freq(cfg), cfg["scaling"])


def base_inv_freq(cfg):
    hd = cfg["head_dim"]
    return 1.0 / (float(cfg["theta"]) ** (np.arange(0, hd, 2, dtype=np.float64) / hd))


def llama3_scaled(inv_freq, s):
    """Llama 3.1 frequency smoothing (as published with the model)."""
    if not s or s.get("rope_type", s.get("type")) != "llama3":
        return inv_freq
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old = s["original_max_position_embeddings"]
    wavelen = 2 * np.pi / inv_freq
    smooth = (old / wavelen - low) / (high - low)
    out = np.where(wavelen > old / low, inv_freq / factor, inv_freq)
    medium = (wavelen >= old / high) & (wavelen <= old / low)
    return np.where(medium, (1 - smooth) * inv_freq / factor + smooth * inv_freq, out)

# ---- forward ------------------------------------------------------------------------------------


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, pos, inv_freq, interleaved):
    """x: [T][heads][hd]; rotates pairs (2i, 2i+1) or (i, i + hd/2) by pos * inv_freq[i]."""
    ang = pos[:, None, None] * inv_freq[None, None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    hd = x.shape[-1]
    a, b = (x[..., 0::2], x[..., 1::2]) if interleaved else (x[..., :hd // 2], x[..., hd // 2:])
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if interleaved:
        out[..., 0::2], out[..., 1::2] = ra, rb
    else:
        out[..., :hd // 2], out[..., hd // 2:] = ra, rb
    return out


def forward(cfg, w, inv_freq, tokens):
    T, H, KV, hd = len(tokens), cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
    pos = np.arange(T, dtype=np.float64)
    x = w["embed"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for L in w["layers"]:
        xb = rmsnorm(x, L["attn_norm"], cfg["eps"])
        q = rope((xb @ L["wq"].T).reshape(T, H, hd), pos, inv_freq, cfg["interleaved"])
        k = rope((xb @ L["wk"].T).reshape(T, KV, hd), pos, inv_freq, cfg["interleaved"])
        v = (xb @ L["wv"].T).reshape(T, KV, hd)
        att = np.empty((T, H, hd))
        for h in range(H):
            kv = h // (H // KV)
            s = q[:, h] @ k[:, kv].T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            att[:, h] = p @ v[:, kv]
        x = x + att.reshape(T, H * hd) @ L["wo"].T
        xb = rmsnorm(x, L["ffn_norm"], cfg["eps"])
        g = xb @ L["w1"].T
        x = x + (g / (1 + np.exp(-g)) * (xb @ L["w3"].T)) @ L["w2"].T
    return rmsnorm(x, w["norm"], cfg["eps"]) @ w["output"].T


def load(path):
    return load_hf(path) if os.path.isdir(path) else load_gguf(path)

# ---- random Hugging Face model ------------------------------------------------------------------


def make_hf(folder, seed):
    rng = np.random.default_rng(seed)
    dim, hidden, layers, heads, kv, vocab = 128, 256, 2, 8, 2, 300
    hd = dim // heads
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
              "intermediate_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": 1024,
              "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
              "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
              "torch_dtype": "float32"}
    def mat(o, i):
        return (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
    t = {"model.embed_tokens.weight": mat(vocab, dim), "lm_head.weight": mat(vocab, dim),
         "model.norm.weight": (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)}
    for l in range(layers):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = mat(heads * hd, dim)
        t[p + "self_attn.k_proj.weight"] = mat(kv * hd, dim)
        t[p + "self_attn.v_proj.weight"] = mat(kv * hd, dim)
        t[p + "self_attn.o_proj.weight"] = mat(dim, heads * hd)
        t[p + "mlp.gate_proj.weight"] = mat(hidden, dim)
        t[p + "mlp.up_proj.weight"] = mat(hidden, dim)
        t[p + "mlp.down_proj.weight"] = mat(dim, hidden)
    os.makedirs(folder, exist_ok=True)
    json.dump(config, open(os.path.join(folder, "config.json"), "w"), indent=1)
    header, blobs, off = {}, [], 0
    for name, a in t.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(argv):
    if argv[0] == "logits":
        cfg, w, inv = load(argv[1])
        tokens = [int(t) for t in argv[3].split(",")]
        forward(cfg, w, inv, tokens).astype("<f8").tofile(argv[2])
    elif argv[0] == "greedy":
        cfg, w, inv = load(argv[1])
        tokens = [int(argv[3]) if len(argv) > 3 else 1]
        for _ in range(int(argv[2])):
            tokens.append(int(np.argmax(forward(cfg, w, inv, tokens)[-1])))
        print(" ".join(map(str, tokens[1:])))
    elif argv[0] == "make-hf":
        make_hf(argv[1], int(argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
