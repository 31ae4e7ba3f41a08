// Rotary position embedding: per-frequency inverse wavelengths (with Llama-3 frequency smoothing)
// and the two pair layouts in use (interleaved GGUF/llama2.c pairs, Hugging Face rotate-half).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/model.h"

struct rope_table {
    int32_t head_dim = 0;
    bool interleaved = false;
    std::vector<double> inv_freq; // [head_dim/2] radians per position of each rotated pair
};

// Throws std::invalid_argument on an odd head_dim or an unknown rope_scaling type.
rope_table rope_table_build(const model_config& config);

// Rotates n_heads vectors of head_dim floats, laid out [n_heads][head_dim], to position pos.
void rope_apply(const rope_table& table, float* x, int32_t n_heads, int32_t pos);
