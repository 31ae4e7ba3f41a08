#include "engine/rope.h"

#include <cmath>
#include <stdexcept>
#include <string>

rope_table rope_table_build(const model_config& config) {
    if (config.head_dim <= 0 || config.head_dim % 2 != 0)
        throw std::invalid_argument("rope: head_dim must be positive and even, got " +
                                    std::to_string(config.head_dim));
    rope_table t;
    t.head_dim = config.head_dim;
    t.interleaved = config.rope_interleaved;
    const int half = config.head_dim / 2;
    t.inv_freq.resize(half);
    for (int i = 0; i < half; ++i)
        t.inv_freq[i] = 1.0 / std::pow((double)config.rope_theta, 2.0 * i / config.head_dim);

    const rope_scaling_params& s = config.rope_scaling;
    if (s.type.empty()) return t;
    if (s.type != "llama3")
        throw std::invalid_argument("rope: unsupported rope_scaling type '" + s.type +
                                    "' (supported: llama3)");
    if (s.high_freq_factor <= s.low_freq_factor || s.factor <= 0.0f || s.original_max_position <= 0)
        throw std::invalid_argument("rope: bad llama3 rope_scaling (need factor > 0, "
                                    "high_freq_factor > low_freq_factor, original_max_position > 0)");
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between
    // interpolated smoothly (the transformers / Meta reference formula).
    const double old_len = s.original_max_position;
    const double low_wavelen = old_len / s.low_freq_factor;
    const double high_wavelen = old_len / s.high_freq_factor;
    for (double& f : t.inv_freq) {
        const double wavelen = 2.0 * M_PI / f;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
            f /= s.factor;
            continue;
        }
        const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
    }
    return t;
}

void rope_apply(const rope_table& table, float* x, int32_t n_heads, int32_t pos) {
    const int half = table.head_dim / 2;
    // Pair i is (2i, 2i+1) when interleaved, else (i, i + head_dim/2).
    const int stride = table.interleaved ? 1 : half;
    const int step = table.interleaved ? 2 : 1;
    for (int i = 0; i < half; ++i) {
        const double angle = (double)pos * table.inv_freq[i];
        const float c = (float)std::cos(angle), s = (float)std::sin(angle);
        for (int h = 0; h < n_heads; ++h) {
            float* p = x + (int64_t)h * table.head_dim + i * step;
            const float a = p[0], b = p[stride];
            p[0] = a * c - b * s;
            p[stride] = a * s + b * c;
        }
    }
}
