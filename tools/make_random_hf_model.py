#!/usr/bin/python3
"""Write a randomly initialised Llama-3-shaped Hugging Face model folder, for tests.

config.json (LlamaForCausalLM, GQA, llama3 rope_scaling) and model.safetensors, or with
--shards N a sharded set model-0000i-of-0000N.safetensors plus model.safetensors.index.json.
No tokenizer is written. Weights are seeded, so a folder is reproducible.
--dump-reference FILE writes {tensor name: {"shape": [...], "first": [first 8 values]}} with the
values as stored (after BF16/F16 rounding), for tests that check a loader independently.

Usage: make_random_hf_model.py OUT_DIR [--dtype f32|f16|bf16] [--seed N] [--shards N] [--tied]
       [--dim 64] [--hidden 128] [--layers 2] [--heads 4] [--kv-heads 2] [--vocab 256]
"""
import argparse
import json
import os
import struct

import numpy as np


def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def stored(a, dtype):
    """(bytes as stored, float32 values as a reader decodes them) for one tensor."""
    if dtype == "f32":
        a = a.astype(np.float32)
        return a.tobytes(), a
    if dtype == "f16":
        h = a.astype(np.float16)
        return h.tobytes(), h.astype(np.float32)
    bits = to_bf16_bits(a)
    return bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, raw bytes, shape)."""
    header, offset = {}, 0
    st_dtype = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype]
    for name, raw, shape in tensors:
        header[name] = {"dtype": st_dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # keep the data 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, raw, _ in tensors:
            f.write(raw)
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--tied", action="store_true", help="tie lm_head to the embedding (no lm_head)")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--dump-reference")
    a = ap.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads or a.shards < 1:
        ap.error("need heads | dim, kv-heads | heads and shards >= 1")

    rng = np.random.default_rng(a.seed)
    head_dim = a.dim // a.heads
    kv_dim = a.kv_heads * head_dim

    def matrix(out_dim, in_dim):
        return rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)

    def norm(n):
        return 1.0 + 0.1 * rng.standard_normal(n)

    weights = [("model.embed_tokens.weight", rng.standard_normal((a.vocab, a.dim)) * 0.5)]
    for l in range(a.layers):
        p = f"model.layers.{l}."
        weights += [
            (p + "input_layernorm.weight", norm(a.dim)),
            (p + "self_attn.q_proj.weight", matrix(a.dim, a.dim)),
            (p + "self_attn.k_proj.weight", matrix(kv_dim, a.dim)),
            (p + "self_attn.v_proj.weight", matrix(kv_dim, a.dim)),
            (p + "self_attn.o_proj.weight", matrix(a.dim, a.dim)),
            (p + "post_attention_layernorm.weight", norm(a.dim)),
            (p + "mlp.gate_proj.weight", matrix(a.hidden, a.dim)),
            (p + "mlp.up_proj.weight", matrix(a.hidden, a.dim)),
            (p + "mlp.down_proj.weight", matrix(a.dim, a.hidden)),
        ]
    weights.append(("model.norm.weight", norm(a.dim)))
    if not a.tied:
        weights.append(("lm_head.weight", matrix(a.vocab, a.dim)))

    os.makedirs(a.out_dir, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.dim,
        "intermediate_size": a.hidden,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "max_position_embeddings": 131072,
        "vocab_size": a.vocab,
        "tie_word_embeddings": a.tied,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype],
    }
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    reference, encoded = {}, []
    for name, w in weights:
        raw, values = stored(w, a.dtype)
        encoded.append((name, raw, w.shape))
        reference[name] = {"shape": list(w.shape), "first": values.reshape(-1)[:8].tolist()}

    if a.shards == 1:
        write_safetensors(os.path.join(a.out_dir, "model.safetensors"), encoded, a.dtype)
    else:
        weight_map, total = {}, 0
        for s in range(a.shards):
            fname = f"model-{s + 1:05d}-of-{a.shards:05d}.safetensors"
            part = encoded[s::a.shards]
            total += write_safetensors(os.path.join(a.out_dir, fname), part, a.dtype)
            weight_map.update({name: fname for name, _, _ in part})
        with open(os.path.join(a.out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    if a.dump_reference:
        with open(a.dump_reference, "w") as f:
            json.dump(reference, f)


if __name__ == "__main__":
    main()
