// Score helpers shared by the score-based methods: observation-window sums, GQA group reduction,
// 1-D pooling, deterministic top-k, and cross-head sums in canonical global head order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compression/compressor.h"

// Row-major [rows][cols] scores.
struct score_matrix {
    int32_t rows = 0;
    int32_t cols = 0;
    std::vector<float> v; // [rows][cols]
    float* row(int32_t r) { return v.data() + (size_t)r * cols; }
    const float* row(int32_t r) const { return v.data() + (size_t)r * cols; }
};

// How query-head scores become one kept set per cache head (spec 0.4).
enum gqa_mode : int32_t {
    GQA_KV_HEAD_MEAN = 0, // default: one set per KV head from the group mean
    GQA_KV_HEAD_MAX = 1,
    GQA_KV_HEAD_SUM = 2,
    GQA_QUERY_HEAD = 3, // paper-era KVCF: one set per query head (cache holds H heads)
};
const char* gqa_mode_name(gqa_mode m);
extern const std::vector<std::string> gqa_mode_names; // index = enum value

enum pool_kind : int32_t { POOL_NONE = 0, POOL_AVG = 1, POOL_MAX = 2 };
const char* pool_kind_name(pool_kind p);
extern const std::vector<std::string> pool_kind_names; // index = enum value

// s_h[j] = sum over the last w captured window rows of A[h][i][j], j in [0, n_past), rows summed
// in order so the value does not depend on which rank holds head h. -> [n_heads][n_past].
// Throws when fewer than w rows were captured.
score_matrix scoring_window_sums(const layer_scores& s, int32_t w, int32_t n_past,
                                 const std::string& method);

// Column sums over all prompt queries restricted to [0, n_past) (H2O). -> [n_heads][n_past].
score_matrix scoring_column_sums(const layer_scores& s, int32_t n_past, const std::string& method);

// Query-head scores [n_heads][cols] -> cache-head scores ([n_kv_heads][cols], or unchanged for
// GQA_QUERY_HEAD). Mean ranks identically to sum; we rank by the sum for both so the two are
// bit-identical (dividing by g could merge near-ties).
score_matrix scoring_gqa_reduce(const score_matrix& q, int32_t n_kv_heads, gqa_mode mode);

// Cache heads a per-head method's selection has for layer scores `s`.
int32_t scoring_cache_heads(const layer_scores& s, gqa_mode mode);

// Stride-1 pooling with padding kernel/2 and output length = input length (PyTorch semantics):
// avg divides by kernel always (zero padding counts), max treats padding as -inf.
std::vector<float> scoring_pool(const float* x, int32_t len, int32_t kernel, pool_kind kind);

// The k highest scores (equal scores: lower index first), returned as indices ascending.
// Throws on NaN so that a broken capture cannot reach an undefined sort.
std::vector<int32_t> scoring_top_k(const float* score, int32_t len, int32_t k);
std::vector<int32_t> scoring_top_k(const double* score, int32_t len, int32_t k);

// Sum over all heads of the TP group of per-head vectors ([local heads][cols], the rank's heads
// starting at global head `head_offset`), added in global head order 0..H-1 on every rank, so
// TP=1 and TP=P give bit-identical sums (spec 11). tp may be null (single rank). -> [cols].
std::vector<double> scoring_sum_heads(collective* tp, const score_matrix& local,
                                      int32_t head_offset);

// Per-head selection "top past_keep of scores over [0, n_past) + the window [n_past, n)".
head_selection scoring_select_past(const score_matrix& past_scores, int32_t past_keep, int32_t n);

// Hyper-parameters of observation-window scoring (SnapKV family).
struct window_params {
    int32_t window = 8;              // w: observation window, always kept (KVCF paper script: 8)
    int32_t kernel = 7;              // pooling kernel, odd (KVCF paper script: 7)
    pool_kind pooling = POOL_MAX;    // KVCF paper script: maxpool
    gqa_mode gqa = GQA_KV_HEAD_MEAN; // project default (our cache is per KV head)
    bool protect_question = false;   // false: KVCF, the whole prompt is evictable; true: kvpress,
                                     // only the context before the question (spec 0.3)
};

// Window sums -> GQA reduction (before pooling, as KVCF) -> pooling: [cache heads][n_past].
score_matrix scoring_snapkv(const layer_scores& s, const window_params& p, int32_t n_past,
                            const std::string& method);

// ---- decode views ----------------------------------------------------------------------------

// Positions one cache head holds, ascending.
std::vector<int32_t> scoring_view_positions(const decode_layer_view& v, int32_t head);
// The positions every cache head holds; throws (naming the method) when heads differ, which a
// layer-shared method (ShotKV, PyramidInfer) never produces.
std::vector<int32_t> scoring_shared_positions(const decode_layer_view& v,
                                              const std::string& method);
// Accumulated scores of one cache head ([count]); throws when the engine tracked none.
const float* scoring_view_score_row(const decode_layer_view& v, int32_t head,
                                    const std::string& method);
// Accumulated scores of entries [first, first+count) of every cache head: [cache heads][count].
score_matrix scoring_view_scores(const decode_layer_view& v, int32_t first, int32_t count,
                                 const std::string& method);
