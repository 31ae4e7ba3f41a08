"""Hugging Face folder I/O for kvsweep-tiny: config.json and model.safetensors (BF16), written and
read with numpy/struct only (no transformers / safetensors packages on this machine)."""
import json
import os
import struct

import numpy as np
import torch

from model import llama, llama_config


def bf16_bits(x):
    """float32 array -> uint16 BF16 bits, rounded to nearest even (as torch's .to(bfloat16))."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_round(t):
    """A float32 tensor rounded to the BF16 grid, still float32 (what the exported file holds)."""
    return torch.from_numpy((bf16_bits(t.detach().numpy()).astype(np.uint32) << 16).view(np.float32))


def hf_tensors(model):
    """HF LlamaForCausalLM names -> float32 arrays [out][in]. Our q/k already use HF's rotate-half
    layout, so no permutation is needed."""
    out = {"model.embed_tokens.weight": model.tok_embeddings, "model.norm.weight": model.norm,
           "lm_head.weight": model.output}
    for l in range(model.cfg.n_layers):
        p = f"model.layers.{l}."
        out.update({p + "input_layernorm.weight": model.attn_norm[l], p + "post_attention_layernorm.weight": model.ffn_norm[l],
                    p + "self_attn.q_proj.weight": model.wq[l], p + "self_attn.k_proj.weight": model.wk[l],
                    p + "self_attn.v_proj.weight": model.wv[l], p + "self_attn.o_proj.weight": model.wo[l],
                    p + "mlp.gate_proj.weight": model.w1[l], p + "mlp.up_proj.weight": model.w3[l],
                    p + "mlp.down_proj.weight": model.w2[l]})
    return {k: v.detach().numpy().astype(np.float32) for k, v in out.items()}


def write_safetensors(path, arrays):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(arrays):
        data = bf16_bits(arrays[name]).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(arrays[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "BF16":
            raise ValueError(f"{path}: tensor {name}: dtype {meta['dtype']}, expected BF16")
        b, e = meta["data_offsets"]
        bits = np.frombuffer(data[b:e], dtype=np.uint16).astype(np.uint32) << 16
        out[name] = bits.view(np.float32).reshape(meta["shape"])
    return out


def export(model, out_dir, tokenizer_special):
    cfg = model.cfg
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": cfg.dim,
        "intermediate_size": cfg.hidden_dim, "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads, "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size, "max_position_embeddings": cfg.max_seq_len, "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta, "rope_scaling": None, "tie_word_embeddings": False, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "bfloat16",
        "bos_token_id": tokenizer_special["<|begin_of_text|>"], "eos_token_id": tokenizer_special["<|eot_id|>"],
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_tensors(model))


def load_hf(folder):
    """The exported folder as our torch model (weights exactly the BF16 values, in float32)."""
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    cfg = llama_config(vocab_size=c["vocab_size"], dim=c["hidden_size"], n_layers=c["num_hidden_layers"],
                       n_heads=c["num_attention_heads"], n_kv_heads=c["num_key_value_heads"],
                       hidden_dim=c["intermediate_size"], max_seq_len=c["max_position_embeddings"],
                       rope_theta=c["rope_theta"], norm_eps=c["rms_norm_eps"])
    model = llama(cfg)
    t = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()}
    with torch.no_grad():
        model.tok_embeddings.copy_(t["model.embed_tokens.weight"])
        model.norm.copy_(t["model.norm.weight"])
        model.output.copy_(t["lm_head.weight"])
        for l in range(cfg.n_layers):
            p = f"model.layers.{l}."
            for ours, theirs in [("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
                                 ("wq", "self_attn.q_proj"), ("wk", "self_attn.k_proj"), ("wv", "self_attn.v_proj"),
                                 ("wo", "self_attn.o_proj"), ("w1", "mlp.gate_proj"), ("w3", "mlp.up_proj"),
                                 ("w2", "mlp.down_proj")]:
                getattr(model, ours)[l].copy_(t[p + theirs + ".weight"])
    return model.eval()
