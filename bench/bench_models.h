// The model shape every benchmark uses: Llama-3.2-1B (dim 2048, 32 query / 8 KV heads, FFN 8192,
// vocab 128256, tied output), with a chosen layer count so a bench fits the machine.
#pragma once
#include "engine/model.h"

inline model_config bench_llama32_1b(int layers, int max_seq_len = 131072) {
    model_config c;
    c.dim = 2048;
    c.hidden_dim = 8192;
    c.n_layers = layers;
    c.n_heads = 32;
    c.n_kv_heads = 8;
    c.head_dim = 64;
    c.vocab_size = 128256;
    c.max_seq_len = max_seq_len;
    c.rope_theta = 500000.0f;
    c.rope_scaling = {"llama3", 32.0f, 1.0f, 4.0f, 8192};
    c.tied_output = true;
    return c;
}
