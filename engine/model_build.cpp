// Pieces shared by every way of building a model (files, random init): names, checks, slots.
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/model_internal.h"

const char* weight_type_name(weight_type t) {
    switch (t) {
    case WEIGHT_F32: return "f32";
    case WEIGHT_BF16: return "bf16";
    case WEIGHT_Q8_0: return "q8_0";
    }
    return "?";
}

weight_type weight_type_from_name(const std::string& name) {
    for (weight_type t : {WEIGHT_F32, WEIGHT_BF16, WEIGHT_Q8_0})
        if (name == weight_type_name(t)) return t;
    throw std::invalid_argument("unknown weight type '" + name + "' (valid: f32, bf16, q8_0)");
}

void model_config_check(const model_config& c, const std::string& what) {
    auto fail = [&](const std::string& msg) { throw std::invalid_argument(what + ": " + msg); };
    if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
        c.head_dim <= 0 || c.vocab_size <= 0)
        fail("dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim and vocab_size must be positive");
    if (c.n_heads % c.n_kv_heads != 0)
        fail("n_heads (" + std::to_string(c.n_heads) + ") is not a multiple of n_kv_heads (" +
             std::to_string(c.n_kv_heads) + ")");
    if (c.head_dim % 2 != 0) fail("head_dim must be even for RoPE, got " + std::to_string(c.head_dim));
    if (!(c.norm_eps > 0.0f) || !std::isfinite(c.norm_eps)) fail("norm_eps must be positive and finite");
    if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta)) fail("rope_theta must be positive and finite");
}

void model_init_shard(model& m, const model_config& full, collective* tp, const std::string& what) {
    m.full_config = full;
    m.tp = tp;
    m.tp_size = tp ? tp->size() : 1;
    m.tp_rank = tp ? tp->rank() : 0;
    tp_check(full, m.tp_size, what);
    m.config = tp_local_config(full, m.tp_size, m.tp_rank);
    m.vocab = slice_vocab(full.vocab_size, m.tp_size, m.tp_rank);
    m.layers.resize(full.n_layers);
    m.rope = rope_table_build(full);
}

std::vector<matrix_slot> model_matrix_slots(model& m) {
    const model_config& c = m.config;
    const int64_t q_dim = (int64_t)c.n_heads * c.head_dim, kv_dim = (int64_t)c.n_kv_heads * c.head_dim;
    const int64_t r = m.tp_rank, tp = m.tp_size;
    // name, destination, local rows and cols, and which of them is the sharded one.
    auto rows_of = [&](std::string name, weight_matrix* w, int64_t rows, int64_t cols) {
        return matrix_slot{std::move(name), w, rows, cols, r * rows, 0, rows * tp, cols};
    };
    auto cols_of = [&](std::string name, weight_matrix* w, int64_t rows, int64_t cols) {
        return matrix_slot{std::move(name), w, rows, cols, 0, r * cols, rows, cols * tp};
    };
    std::vector<matrix_slot> s;
    s.push_back({"token_embd", &m.token_embd, m.vocab.count, c.dim, m.vocab.begin, 0, c.vocab_size, c.dim});
    if (!c.tied_output)
        s.push_back({"output", &m.output, m.vocab.count, c.dim, m.vocab.begin, 0, c.vocab_size, c.dim});
    for (int l = 0; l < c.n_layers; ++l) {
        layer_weights& L = m.layers[l];
        const std::string p = "blk." + std::to_string(l) + ".";
        s.push_back(rows_of(p + "attn_q", &L.wq, q_dim, c.dim));
        s.push_back(rows_of(p + "attn_k", &L.wk, kv_dim, c.dim));
        s.push_back(rows_of(p + "attn_v", &L.wv, kv_dim, c.dim));
        s.push_back(cols_of(p + "attn_output", &L.wo, c.dim, q_dim));
        s.push_back(rows_of(p + "ffn_gate", &L.w_gate, c.hidden_dim, c.dim));
        s.push_back(rows_of(p + "ffn_up", &L.w_up, c.hidden_dim, c.dim));
        s.push_back(cols_of(p + "ffn_down", &L.w_down, c.dim, c.hidden_dim));
    }
    return s;
}

std::vector<vector_slot> model_vector_slots(model& m) {
    const model_config& c = m.config;
    std::vector<vector_slot> s;
    s.push_back({"output_norm", &m.output_norm, c.dim});
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        s.push_back({p + "attn_norm", &m.layers[l].attn_norm, c.dim});
        s.push_back({p + "ffn_norm", &m.layers[l].ffn_norm, c.dim});
    }
    return s;
}

weight_type model_matrix_type(weight_type requested, int64_t cols) {
    return weight_type_fits(requested, cols) ? requested : WEIGHT_F32;
}

namespace {
uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
// Uniform in [-1, 1), from the top 24 bits.
float uniform_pm1(uint64_t& state) { return (float)(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f; }
} // namespace

std::shared_ptr<model> model_create_random(const model_config& config, uint64_t seed, weight_type type,
                                           collective* tp) {
    model_config_check(config, "model_create_random");
    auto m = std::make_shared<model>();
    model_init_shard(*m, config, tp, "model_create_random");
    m->weights = type;
    m->chat_template_name = "plain";
    // Every row has its own stream (seed, slot, full-matrix row), so the values depend neither on
    // threads nor on the tensor-parallel split; a column slice skips the stream's first columns.
    std::vector<matrix_slot> matrices = model_matrix_slots(*m);
    for (size_t i = 0; i < matrices.size(); ++i) {
        const matrix_slot& s = matrices[i];
        const float a = std::sqrt(3.0f / (float)s.full_cols); // unit-variance outputs for unit inputs
        *s.dst = weight_matrix_build(s.rows, s.cols, model_matrix_type(type, s.cols), [&](int64_t r, float* out) {
            const uint64_t row = (uint64_t)(s.row_begin + r);
            uint64_t state = seed ^ ((uint64_t)(i + 1) << 40) ^ row * 0x2545f4914f6cdd1dull;
            for (int64_t k = 0; k < s.col_begin; ++k) splitmix64(state);
            for (int64_t k = 0; k < s.cols; ++k) out[k] = a * uniform_pm1(state);
        });
    }
    std::vector<vector_slot> vectors = model_vector_slots(*m);
    for (size_t i = 0; i < vectors.size(); ++i) {
        uint64_t state = seed ^ 0x5bd1e995ull ^ ((uint64_t)(i + 1) << 32);
        vectors[i].dst->resize(vectors[i].n);
        for (float& v : *vectors[i].dst) v = 1.0f + 0.1f * uniform_pm1(state);
    }
    return m;
}
