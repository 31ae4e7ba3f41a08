"""The reference Llama forward in PyTorch (the model kvsweep-tiny is trained with).

Same maths as Hugging Face LlamaForCausalLM: RMSNorm, rotate-half RoPE, grouped-query attention,
SwiGLU, untied output head. Attention takes an explicit boolean mask so packed training rows
(several documents per row) and evaluation with a pruned KV set both use the same code.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class llama_config:
    vocab_size: int = 512
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    hidden_dim: int = 384
    max_seq_len: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self):
        return self.dim // self.n_heads


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(cfg, pos):
    """cos/sin for positions pos [B][T] -> [B][1][T][head_dim] (HF rotate-half layout)."""
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))  # [hd/2]
    ang = pos.to(torch.float32)[..., None] * inv                                           # [B][T][hd/2]
    ang = torch.cat([ang, ang], dim=-1)[:, None]                                           # [B][1][T][hd]
    return ang.cos(), ang.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class llama(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hd, L = cfg.dim, cfg.head_dim, cfg.n_layers
        p = torch.nn.Parameter
        self.tok_embeddings = p(torch.randn(cfg.vocab_size, d) * 0.02)  # [vocab][dim]
        # one tensor per weight kind, stacked over layers; matrices are [out][in] (y = W x)
        self.attn_norm = p(torch.ones(L, d))                                         # [L][dim]
        self.wq = p(torch.randn(L, cfg.n_heads * hd, d) * 0.02)                      # [L][n_heads*hd][dim]
        self.wk = p(torch.randn(L, cfg.n_kv_heads * hd, d) * 0.02)                   # [L][n_kv*hd][dim]
        self.wv = p(torch.randn(L, cfg.n_kv_heads * hd, d) * 0.02)                   # [L][n_kv*hd][dim]
        self.wo = p(torch.randn(L, d, cfg.n_heads * hd) * 0.02 / math.sqrt(2 * L))  # [L][dim][n_heads*hd]
        self.ffn_norm = p(torch.ones(L, d))                                          # [L][dim]
        self.w1 = p(torch.randn(L, cfg.hidden_dim, d) * 0.02)                        # [L][hidden][dim] gate
        self.w3 = p(torch.randn(L, cfg.hidden_dim, d) * 0.02)                        # [L][hidden][dim] up
        self.w2 = p(torch.randn(L, d, cfg.hidden_dim) * 0.02 / math.sqrt(2 * L))    # [L][dim][hidden] down
        self.norm = p(torch.ones(d))                                                 # [dim]
        self.output = p(torch.randn(cfg.vocab_size, d) * 0.02)                       # [vocab][dim]

    def forward(self, tokens, pos, mask, return_attn=False):
        """tokens, pos: [B][T]; mask: [B][T][T] bool (query, key), every row with one key at least,
        or a list with one [B][n_heads][T][T] mask per layer (KV-compression emulation)
        -> logits [B][T][vocab].
        With return_attn, also the attention probabilities per layer [B][n_heads][T][T]."""
        cfg = self.cfg
        B, T = tokens.shape
        hd, nh, nkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
        cos, sin = rope_tables(cfg, pos)
        per_layer = isinstance(mask, list)
        hidden = None if per_layer else ~mask[:, None]  # [B][1][T][T]
        x = self.tok_embeddings[tokens]
        attns = []
        for l in range(cfg.n_layers):
            h = rms_norm(x, self.attn_norm[l], cfg.norm_eps)
            q = (h @ self.wq[l].T).view(B, T, nh, hd).transpose(1, 2)   # [B][nh][T][hd]
            k = (h @ self.wk[l].T).view(B, T, nkv, hd).transpose(1, 2)  # [B][nkv][T][hd]
            v = (h @ self.wv[l].T).view(B, T, nkv, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(nh // nkv, dim=1)  # query head h reads KV head h // group
            v = v.repeat_interleave(nh // nkv, dim=1)
            a = torch.softmax((q @ k.transpose(-1, -2) / math.sqrt(hd)).masked_fill(~mask[l] if per_layer else hidden, float("-inf")), dim=-1)
            if return_attn:
                attns.append(a)
            o = (a @ v).transpose(1, 2).reshape(B, T, nh * hd)
            x = x + o @ self.wo[l].T
            h = rms_norm(x, self.ffn_norm[l], cfg.norm_eps)
            x = x + (F.silu(h @ self.w1[l].T) * (h @ self.w3[l].T)) @ self.w2[l].T
        logits = rms_norm(x, self.norm, cfg.norm_eps) @ self.output.T
        return (logits, attns) if return_attn else logits


def causal_inputs(ids):
    """A single unpacked sequence -> (tokens, pos, mask) with batch 1."""
    T = len(ids)
    tokens = torch.tensor([ids], dtype=torch.long)
    pos = torch.arange(T)[None]
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None]
    return tokens, pos, mask


def config_dict(cfg):
    return asdict(cfg)
