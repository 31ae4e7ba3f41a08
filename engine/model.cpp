// The forward pass (llama2.c's run.c is the readability model): RMSNorm, RoPE, grouped-query
// attention over the variable-length KV cache, SwiGLU. Prefill runs all prompt rows at once with
// sgemm and causal attention in blocks of query rows; decode runs a batch of independent
// sequences with the batched kernels of ops.h, one pass over the weights per step.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

#include "engine/model_internal.h"
#include "engine/ops.h"

const model_config& model_get_config(const model& m) { return m.full_config; }

model_shard model_get_shard(const model& m) {
    const model_config& c = m.config;
    return {m.tp_rank, m.tp_size, c.n_heads, c.n_kv_heads, m.tp_rank * c.n_heads, m.tp_rank * c.n_kv_heads};
}

const tokenizer& model_get_tokenizer(const model& m) {
    if (!m.tok) throw std::runtime_error("model_get_tokenizer: this model carries no tokenizer");
    return *m.tok;
}

bool model_has_tokenizer(const model& m) { return m.tok != nullptr; }

const std::string& model_get_chat_template_name(const model& m) { return m.chat_template_name; }

int64_t model_weight_bytes(const model& m) {
    int64_t total = m.token_embd.bytes() + (m.config.tied_output ? 0 : m.output.bytes());
    total += (int64_t)m.output_norm.size() * 4;
    for (const layer_weights& L : m.layers)
        total += L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + L.w_gate.bytes() +
                 L.w_up.bytes() + L.w_down.bytes() + (int64_t)(L.attn_norm.size() + L.ffn_norm.size()) * 4;
    return total;
}

kv_cache model_new_cache(const model& m) {
    return kv_cache(m.config.n_layers, m.config.n_kv_heads, m.config.head_dim);
}

namespace {

// ---- checks ---------------------------------------------------------------------------------------

// A cache holds either one entry set per KV head or, after expand_heads, one per query head.
void check_cache(const model_config& c, const kv_cache& cache, const char* where) {
    if (cache.n_layers != c.n_layers || cache.head_dim != c.head_dim ||
        (cache.n_heads != c.n_kv_heads && cache.n_heads != c.n_heads))
        throw std::invalid_argument(std::string(where) + ": cache shape (layers " +
                                    std::to_string(cache.n_layers) + ", heads " + std::to_string(cache.n_heads) +
                                    ", head_dim " + std::to_string(cache.head_dim) + ") does not fit the model");
}

void check_token(const model_config& c, int32_t token, const char* where) {
    if (token < 0 || token >= c.vocab_size)
        throw std::invalid_argument(std::string(where) + ": token id " + std::to_string(token) +
                                    " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
}

// New entries must come after every cached position (checked before anything is appended, so a
// bad call leaves the cache untouched).
void check_position(const kv_cache& cache, int32_t pos, const char* where) {
    if (pos < 0) throw std::invalid_argument(std::string(where) + ": negative position " + std::to_string(pos));
    for (const kv_head_cache& h : cache.heads)
        if (!h.pos.empty() && h.pos.back() >= pos)
            throw std::invalid_argument(std::string(where) + ": position " + std::to_string(pos) +
                                        " is not after cached position " + std::to_string(h.pos.back()));
}

// A cache that starts tracking scores after entries were appended gets zero scores for them; a
// score vector of another length is a caller bug.
void prepare_scores(kv_cache& cache, const char* where) {
    if (!cache.track_scores) return;
    for (kv_head_cache& h : cache.heads) {
        if (h.score.size() == h.pos.size()) continue;
        if (!h.score.empty())
            throw std::invalid_argument(std::string(where) + ": cache head holds " + std::to_string(h.pos.size()) +
                                        " entries but " + std::to_string(h.score.size()) + " scores");
        h.score.assign(h.pos.size(), 0.0f);
    }
}

// ---- shared layer pieces ----------------------------------------------------------------------------

// y = x W^T for n rows, for each (W, y) given. Decoding always uses our kernels (batch-invariant),
// all products in one call; prefill uses sgemm unless there are only a few rows, where OpenBLAS is
// slow.
void project(std::initializer_list<weight_product> products, const float* x, int64_t n, bool decode) {
    if (decode || n <= 4)
        weight_matvecs(products, x, (int)n);
    else
        for (const weight_product& p : products) weight_gemm(*p.w, x, n, p.y);
}

// Row-wise work runs on both cores; each row is computed the same way whatever the split.
void rmsnorm_rows(const float* x, const std::vector<float>& weight, int64_t n, int64_t dim, float eps, float* out) {
    parallel_for(n, 3 * dim, [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i) rmsnorm(out + i * dim, x + i * dim, weight.data(), dim, eps);
    });
}

void add_rows(float* x, const float* y, int64_t count) {
    for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

// Sums the partial results of a row- or column-sharded projection over the tensor-parallel group
// (in rank order, see collective.h); nothing to do on one rank.
void tp_sum(const model& m, float* x, int64_t count) {
    if (m.tp_size > 1) m.tp->all_reduce_sum(x, count);
}

// Embedding rows of the tokens: x [n][dim]. Under tensor parallelism the rank holding a token's
// vocabulary row supplies it and the others add zeros, so the sum is exact.
std::vector<float> embed(const model& m, const int32_t* tokens, int64_t n) {
    const int64_t dim = m.config.dim;
    std::vector<float> x((size_t)n * dim, 0.0f);
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] >= m.vocab.begin && tokens[i] < m.vocab.begin + m.vocab.count)
            weight_rows(m.token_embd, tokens[i] - m.vocab.begin, 1, x.data() + i * dim);
    tp_sum(m, x.data(), n * dim);
    return x;
}

// The activations of n rows in one layer, kept from layer to layer: fresh buffers the size of a
// long prompt's cost page faults at every layer (~2.5% of a 512-token prefill's samples).
struct layer_buffers {
    std::vector<float> xb;       // [n][dim] normalised rows
    std::vector<float> q;        // [n][q_dim]
    std::vector<float> k, v;     // [n][kv_dim]
    std::vector<float> att;      // [n][q_dim] attention output
    std::vector<float> tmp;      // [n][dim] a projection, before the residual add
    std::vector<float> gate, up; // [n][hidden_dim]
};

// b.q, b.k and b.v of the normalised rows, keys and queries rotated to `pos`.
void attention_inputs(const model& m, const layer_weights& L, const float* x, int64_t n,
                      const int32_t* pos, bool decode, layer_buffers& b) {
    const model_config& c = m.config;
    const int64_t q_dim = (int64_t)c.n_heads * c.head_dim, kv_dim = (int64_t)c.n_kv_heads * c.head_dim;
    std::vector<float>&q = b.q, &k = b.k, &v = b.v;
    b.xb.resize((size_t)n * c.dim);
    rmsnorm_rows(x, L.attn_norm, n, c.dim, c.norm_eps, b.xb.data());
    q.resize((size_t)n * q_dim);
    k.resize((size_t)n * kv_dim);
    v.resize((size_t)n * kv_dim);
    project({{&L.wq, q.data()}, {&L.wk, k.data()}, {&L.wv, v.data()}}, b.xb.data(), n, decode);
    parallel_for(n, 3 * (q_dim + kv_dim), [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            rope_apply(m.rope, q.data() + i * q_dim, c.n_heads, pos[i]);
            rope_apply(m.rope, k.data() + i * kv_dim, c.n_kv_heads, pos[i]);
        }
    });
}

// Appends one row's keys/values to every cache head (an expanded cache gets its KV head's copy).
void append_row(const model_config& c, kv_cache& cache, int layer, int32_t pos, const float* k, const float* v) {
    const int queries_per_cache_head = c.n_heads / cache.n_heads;
    const int group = c.n_heads / c.n_kv_heads;
    for (int ch = 0; ch < cache.n_heads; ++ch) {
        const int kvh = ch * queries_per_cache_head / group;
        cache.append(layer, ch, pos, k + (int64_t)kvh * c.head_dim, v + (int64_t)kvh * c.head_dim);
    }
}

// x += Wo b.att, then x += W_down (silu(W_gate xn) * W_up xn) with xn = rmsnorm(x).
void attention_output_and_ffn(const model& m, const layer_weights& L, float* x, int64_t n, bool decode,
                              layer_buffers& b) {
    const model_config& c = m.config;
    std::vector<float>&tmp = b.tmp, &xb = b.xb, &gate = b.gate, &up = b.up;
    tmp.resize((size_t)n * c.dim);
    project({{&L.wo, tmp.data()}}, b.att.data(), n, decode);
    tp_sum(m, tmp.data(), n * c.dim);
    add_rows(x, tmp.data(), n * c.dim);

    xb.resize((size_t)n * c.dim);
    rmsnorm_rows(x, L.ffn_norm, n, c.dim, c.norm_eps, xb.data());
    gate.resize((size_t)n * c.hidden_dim);
    up.resize((size_t)n * c.hidden_dim);
    project({{&L.w_gate, gate.data()}, {&L.w_up, up.data()}}, xb.data(), n, decode);
    parallel_for(n, 20 * c.hidden_dim, [&](int64_t r0, int64_t r1) {
        swiglu(gate.data() + r0 * c.hidden_dim, up.data() + r0 * c.hidden_dim, (r1 - r0) * c.hidden_dim);
    });
    project({{&L.w_down, tmp.data()}}, gate.data(), n, decode);
    tp_sum(m, tmp.data(), n * c.dim);
    add_rows(x, tmp.data(), n * c.dim);
}

// Final norm and output head for n rows: logits [n][vocab].
void output_logits(const model& m, const float* x, int64_t n, std::vector<float>& logits) {
    const model_config& c = m.config;
    std::vector<float> xb((size_t)n * c.dim);
    rmsnorm_rows(x, m.output_norm, n, c.dim, c.norm_eps, xb.data());
    logits.resize((size_t)n * c.vocab_size);
    if (m.tp_size == 1) {
        weight_matvec(m.output_matrix(), xb.data(), (int)n, logits.data());
        return;
    }
    // Each rank scores its vocabulary rows; one all-gather of blocks padded to the same stride.
    const int64_t stride = vocab_stride(c.vocab_size, m.tp_size);
    std::vector<float> local((size_t)n * m.vocab.count), part((size_t)n * stride, 0.0f);
    std::vector<float> all((size_t)m.tp_size * n * stride);
    weight_matvec(m.output_matrix(), xb.data(), (int)n, local.data());
    for (int64_t i = 0; i < n; ++i)
        std::copy(local.begin() + i * m.vocab.count, local.begin() + (i + 1) * m.vocab.count, part.begin() + i * stride);
    m.tp->all_gather(part.data(), n * stride, all.data());
    for (int r = 0; r < m.tp_size; ++r) {
        const tp_slice v = slice_vocab(c.vocab_size, m.tp_size, r);
        for (int64_t i = 0; i < n; ++i) {
            const float* src = all.data() + ((int64_t)r * n + i) * stride;
            std::copy(src, src + v.count, logits.begin() + i * c.vocab_size + v.begin);
        }
    }
}

// ---- prefill attention --------------------------------------------------------------------------------

// Where prefill attention writes what the caller asked to capture (null = not wanted).
struct attention_sinks {
    int64_t window = 0;           // last `window` query rows
    float* window_attn = nullptr; // [n_heads][window][n_keys]
    float* column_sums = nullptr; // [n_heads][n_keys]
    int64_t recent = 0;           // last `recent` query rows
    float* recent_mean = nullptr; // [recent][n_keys] mean over query heads
};

// Causal attention of n query rows (positions pos, ascending) over the layer's cache, which already
// holds these rows' own keys. Scores are computed for blocks of query rows, so memory stays
// [group][block][n_keys] (never n x n); the query heads sharing a cache head go through one sgemm
// (few, large calls: OpenBLAS is slow on small ones). Cache heads run in parallel, each on one
// thread with single-threaded sgemm, so nothing depends on the thread count; the head mean of the
// recent rows is summed after them in head order. att [n][q_dim].
void prefill_attention(const model_config& c, const kv_cache& cache, int layer, const float* q, const int32_t* pos,
                       int64_t n, int64_t n_keys, const attention_sinks& sinks, float* att) {
    const int64_t q_dim = (int64_t)c.n_heads * c.head_dim;
    const int hd = c.head_dim;
    const int group = c.n_heads / cache.n_heads; // query heads per cache head
    const float scale = 1.0f / std::sqrt((float)hd);
    constexpr int64_t block = 128;
    std::vector<float> recent_rows((size_t)(sinks.recent_mean ? c.n_heads * sinks.recent * n_keys : 0));
    blas_single_thread();
    parallel_for(cache.n_heads, [&](int64_t h0, int64_t h1) {
        // Each thread's own, kept between calls: a part is one head, and fresh score buffers for
        // every head of every layer page-faulted (4096-token prefill, 2 layers: 8.42-8.53 s with
        // them, 8.30-8.36 s without).
        static thread_local std::vector<float> qg, scores, out;
        qg.resize((size_t)group * block * hd);         // [group][rows][hd]
        scores.resize((size_t)group * block * n_keys); // [group][rows][visible]
        out.resize((size_t)group * block * hd);        // [group][rows][hd]
        for (int64_t cache_head = h0; cache_head < h1; ++cache_head) {
            const kv_head_cache& ch = cache.at(layer, (int)cache_head);
            for (int64_t i0 = 0; i0 < n; i0 += block) {
                const int64_t i1 = std::min(n, i0 + block), rows = i1 - i0;
                // Keys visible to the block's last row; earlier rows mask their tail.
                const int64_t visible =
                    std::upper_bound(ch.pos.begin(), ch.pos.end(), pos[i1 - 1]) - ch.pos.begin();
                for (int g = 0; g < group; ++g)
                    for (int64_t r = 0; r < rows; ++r) {
                        const float* src = q + (i0 + r) * q_dim + (cache_head * group + g) * hd;
                        std::copy(src, src + hd, qg.data() + (g * rows + r) * hd);
                    }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(group * rows), (int)visible, hd, scale,
                            qg.data(), hd, ch.k.data(), hd, 0.0f, scores.data(), (int)visible);
                for (int g = 0; g < group; ++g) {
                    const int64_t h = cache_head * group + g;
                    for (int64_t r = 0; r < rows; ++r) {
                        const int64_t i = i0 + r;
                        float* row = scores.data() + (g * rows + r) * visible;
                        const int64_t vis = std::upper_bound(ch.pos.begin(), ch.pos.end(), pos[i]) - ch.pos.begin();
                        softmax_inplace(row, vis);
                        std::fill(row + vis, row + visible, 0.0f);
                        if (sinks.column_sums) add_rows(sinks.column_sums + h * n_keys, row, vis);
                        if (sinks.window_attn && i >= n - sinks.window)
                            std::copy(row, row + vis,
                                      sinks.window_attn + (h * sinks.window + i - (n - sinks.window)) * n_keys);
                        if (sinks.recent_mean && i >= n - sinks.recent)
                            std::copy(row, row + vis,
                                      recent_rows.data() + (h * sinks.recent + i - (n - sinks.recent)) * n_keys);
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(group * rows), hd, (int)visible, 1.0f,
                            scores.data(), (int)visible, ch.v.data(), hd, 0.0f, out.data(), hd);
                for (int g = 0; g < group; ++g)
                    for (int64_t r = 0; r < rows; ++r) {
                        const float* src = out.data() + (g * rows + r) * hd;
                        std::copy(src, src + hd, att + (i0 + r) * q_dim + (cache_head * group + g) * hd);
                    }
            }
        }
    });
    if (sinks.recent_mean)
        for (int64_t h = 0; h < c.n_heads; ++h)
            for (int64_t r = 0; r < sinks.recent; ++r) {
                const float* src = recent_rows.data() + (h * sinks.recent + r) * n_keys;
                float* dst = sinks.recent_mean + r * n_keys;
                for (int64_t j = 0; j < n_keys; ++j) dst[j] += src[j] / (float)c.n_heads;
            }
}

// Attention of one new query row per sequence over its own cache (which already holds the row's
// key). One task per (sequence, cache head); the query heads of a cache head run in order, so
// their score additions need no synchronisation and keep a fixed order. att [B][q_dim].
void decode_attention(const model_config& c, std::vector<decode_slot>& batch, int layer, const float* q,
                      const int32_t* pos, float* att) {
    const int hd = c.head_dim;
    const int64_t q_dim = (int64_t)c.n_heads * hd;
    const float scale = 1.0f / std::sqrt((float)hd);
    const int64_t B = (int64_t)batch.size();
    std::vector<int64_t> task_offset(B + 1, 0);
    for (int64_t b = 0; b < B; ++b) task_offset[b + 1] = task_offset[b] + batch[b].cache->n_heads;
    const kv_cache& first = *batch[0].cache;
    const int64_t task_cost = 4 * (int64_t)hd * (c.n_heads / first.n_heads) * (first.size(layer, 0) + 1);
    parallel_for(task_offset[B], task_cost, [&](int64_t t0, int64_t t1) {
        std::vector<float> p;
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = std::upper_bound(task_offset.begin(), task_offset.end(), t) - task_offset.begin() - 1;
            kv_cache& cache = *batch[b].cache;
            const int ch_index = (int)(t - task_offset[b]);
            kv_head_cache& ch = cache.at(layer, ch_index);
            const int queries = c.n_heads / cache.n_heads;
            const int64_t vis = std::upper_bound(ch.pos.begin(), ch.pos.end(), pos[b]) - ch.pos.begin();
            // The query heads sharing this cache head are scored together: its keys are read once
            // for all of them.
            p.resize(queries * vis);
            const int64_t first = b * q_dim + (int64_t)ch_index * queries * hd;
            dot_rows_f32(q + first, hd, queries, ch.k.data(), hd, vis, hd, scale, p.data(), vis);
            for (int h = 0; h < queries; ++h) softmax_inplace(p.data() + h * vis, vis);
            weighted_sum_f32(p.data(), vis, queries, ch.v.data(), hd, vis, hd, att + first, hd);
            if (cache.track_scores)
                for (int h = 0; h < queries; ++h) add_rows(ch.score.data(), p.data() + h * vis, vis);
        }
    });
}

// The kept rows returned by drop_rows must be ascending, in range, and keep the last row (its
// logits are the prefill's output).
void check_kept_rows(const std::vector<int32_t>& kept, int64_t n, int layer) {
    const std::string where = "model_prefill: drop_rows after layer " + std::to_string(layer);
    if (kept.empty() || kept.back() != n - 1)
        throw std::invalid_argument(where + " must keep the last row (" + std::to_string(n - 1) + ")");
    for (size_t i = 0; i < kept.size(); ++i)
        if (kept[i] < 0 || kept[i] >= n || (i > 0 && kept[i] <= kept[i - 1]))
            throw std::invalid_argument(where + ": kept rows not ascending within [0, " + std::to_string(n) + ")");
}

} // namespace

// ---- prefill --------------------------------------------------------------------------------------------

void model_prefill(const model& m, kv_cache& cache, const std::vector<int32_t>& tokens, int32_t start_pos,
                   const prefill_capture_request& request, std::vector<layer_capture>* captures,
                   std::vector<float>& logits) {
    const model_config& c = m.config;
    const char* where = "model_prefill";
    if (tokens.empty()) throw std::invalid_argument("model_prefill: no tokens");
    check_cache(c, cache, where);
    check_position(cache, start_pos, where);
    for (int32_t t : tokens) check_token(c, t, where);
    prepare_scores(cache, where);
    if (request.window_rows < 0 || request.recent_rows < 0)
        throw std::invalid_argument("model_prefill: window_rows and recent_rows must be >= 0");
    const bool capturing = request.window_rows > 0 || request.column_sums;
    if (capturing && !captures) throw std::invalid_argument("model_prefill: captures requested but no output given");
    if (request.drop_rows)
        for (const kv_head_cache& h : cache.heads)
            if (!h.pos.empty()) throw std::invalid_argument("model_prefill: drop_rows needs an empty cache");
    // drop_rows gets a head mean over this rank's heads only; PyramidInfer under TP would need it
    // per head (compressor::select_prefill_rows with recent_rows_view).
    if (request.drop_rows && m.tp_size > 1)
        throw std::invalid_argument("model_prefill: drop_rows (PyramidInfer) is not supported with tensor parallelism");

    const int64_t q_dim = (int64_t)c.n_heads * c.head_dim, kv_dim = (int64_t)c.n_kv_heads * c.head_dim;
    std::vector<int32_t> pos(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) pos[i] = start_pos + (int32_t)i;
    std::vector<float> x = embed(m, tokens.data(), (int64_t)tokens.size()); // [n][dim], n shrinks with drop_rows
    if (captures) captures->assign(capturing ? c.n_layers : 0, layer_capture{});

    layer_buffers buf;
    for (int l = 0; l < c.n_layers; ++l) {
        const layer_weights& L = m.layers[l];
        const int64_t n = (int64_t)pos.size();
        attention_inputs(m, L, x.data(), n, pos.data(), false, buf);
        cache.reserve_rows(l, n);
        for (int64_t i = 0; i < n; ++i)
            append_row(c, cache, l, pos[i], buf.k.data() + i * kv_dim, buf.v.data() + i * kv_dim);

        // Heads of a compressed cache may hold different numbers of entries: buffers are sized
        // for the longest, each head uses its own prefix. Captures need one common length.
        int64_t n_keys = 0;
        for (int h = 0; h < cache.n_heads; ++h) {
            if (capturing && h > 0 && cache.size(l, h) != n_keys)
                throw std::invalid_argument("model_prefill: captures need equal cache lengths across heads");
            n_keys = std::max(n_keys, cache.size(l, h));
        }
        attention_sinks sinks;
        std::vector<float> column_sums, recent_mean;
        if (request.column_sums || cache.track_scores) {
            column_sums.assign((size_t)c.n_heads * n_keys, 0.0f);
            sinks.column_sums = column_sums.data();
        }
        layer_capture* cap = capturing ? &(*captures)[l] : nullptr;
        if (cap) {
            cap->n = (int32_t)n_keys;
            cap->window = (int32_t)std::min<int64_t>(request.window_rows, n);
            cap->window_attn.assign((size_t)c.n_heads * cap->window * n_keys, 0.0f);
            sinks.window = cap->window;
            sinks.window_attn = cap->window ? cap->window_attn.data() : nullptr;
        }
        if (request.drop_rows) {
            sinks.recent = std::min<int64_t>(request.recent_rows, n);
            recent_mean.assign((size_t)sinks.recent * n_keys, 0.0f);
            sinks.recent_mean = recent_mean.data();
        }
        buf.att.assign((size_t)n * q_dim, 0.0f);
        prefill_attention(c, cache, l, buf.q.data(), pos.data(), n, n_keys, sinks, buf.att.data());

        if (cache.track_scores) {
            const int queries_per_cache_head = c.n_heads / cache.n_heads;
            for (int h = 0; h < c.n_heads; ++h) {
                kv_head_cache& ch = cache.at(l, h / queries_per_cache_head);
                add_rows(ch.score.data(), column_sums.data() + (int64_t)h * n_keys, (int64_t)ch.pos.size());
            }
        }
        if (cap && request.column_sums) cap->column_sums = std::move(column_sums);

        attention_output_and_ffn(m, L, x.data(), n, false, buf);

        if (request.drop_rows && l + 1 < c.n_layers) {
            const std::vector<int32_t> kept = request.drop_rows(l, pos, recent_mean.data(), (int32_t)sinks.recent);
            check_kept_rows(kept, n, l);
            std::vector<float> kept_x(kept.size() * c.dim);
            std::vector<int32_t> kept_pos(kept.size());
            for (size_t i = 0; i < kept.size(); ++i) {
                std::copy(x.begin() + (int64_t)kept[i] * c.dim, x.begin() + ((int64_t)kept[i] + 1) * c.dim,
                          kept_x.begin() + (int64_t)i * c.dim);
                kept_pos[i] = pos[kept[i]];
            }
            x = std::move(kept_x);
            pos = std::move(kept_pos);
        }
    }
    output_logits(m, x.data() + (pos.size() - 1) * c.dim, 1, logits);
}

// ---- decode ------------------------------------------------------------------------------------------

void model_decode(const model& m, std::vector<decode_slot>& batch, std::vector<float>& logits) {
    const model_config& c = m.config;
    const char* where = "model_decode";
    const int64_t B = (int64_t)batch.size();
    if (B == 0) {
        logits.clear();
        return;
    }
    std::set<const kv_cache*> seen;
    std::vector<int32_t> tokens(B), pos(B);
    for (int64_t b = 0; b < B; ++b) {
        const decode_slot& s = batch[b];
        if (!s.cache) throw std::invalid_argument("model_decode: slot " + std::to_string(b) + " has no cache");
        if (!seen.insert(s.cache).second)
            throw std::invalid_argument("model_decode: slot " + std::to_string(b) + " shares its cache with another slot");
        check_cache(c, *s.cache, where);
        check_token(c, s.token, where);
        check_position(*s.cache, s.pos, where);
        tokens[b] = s.token;
        pos[b] = s.pos;
    }
    for (decode_slot& s : batch) prepare_scores(*s.cache, where);

    const int64_t q_dim = (int64_t)c.n_heads * c.head_dim, kv_dim = (int64_t)c.n_kv_heads * c.head_dim;
    std::vector<float> x = embed(m, tokens.data(), B); // [B][dim]
    layer_buffers buf;
    buf.att.resize((size_t)B * q_dim);
    for (int l = 0; l < c.n_layers; ++l) {
        const layer_weights& L = m.layers[l];
        attention_inputs(m, L, x.data(), B, pos.data(), true, buf);
        for (int64_t b = 0; b < B; ++b)
            append_row(c, *batch[b].cache, l, pos[b], buf.k.data() + b * kv_dim, buf.v.data() + b * kv_dim);

        decode_attention(c, batch, l, buf.q.data(), pos.data(), buf.att.data());
        attention_output_and_ffn(m, L, x.data(), B, true, buf);
    }
    output_logits(m, x.data(), B, logits);
}
