// The interface every KV-cache compression method implements, plus the registry by name.
// Compressors see scores and budgets only; the engine captures the scores and executes the
// selection on the cache (spec: ../docs/compression-methods.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/prompt.h"
#include "engine/collective.h"

// What a method needs the engine to capture.
struct capture_needs {
    int32_t window_rows = 0;          // observation-window rows of attention (SnapKV family)
    bool column_sums = false;         // per-key attention summed over all prompt queries (H2O)
    bool decode_scores = false;       // accumulate attention received during decoding
    bool drops_prefill_rows = false;  // PyramidInfer: needs its own prefill with row dropping
    int32_t recent_rows = 0;          // rows of head-mean attention PyramidInfer scores with
                                      // (depends on n: ask compressor::prefill_recent_rows(n))
    bool per_query_head = false;      // gqa_mode=query_head: the cache keeps one set per query head
    bool column_sums_kvcf_mask = false; // H2O mask=kvcf_ffac160_bug: rows before the window see
                                        // every key (reproduces KVCF@ffac160 numbers only)
};

// One layer's captured prefill scores on this rank.
struct layer_scores {
    int32_t layer = 0;
    int32_t n_layers = 0;
    int32_t n = 0;                       // prompt length (keys)
    int32_t n_heads = 0;                 // query heads held by this rank
    int32_t n_kv_heads = 0;              // KV heads held by this rank
    int32_t head_offset = 0;             // global index of this rank's first query head
    int32_t window = 0;                  // rows in window_attn
    const float* window_attn = nullptr;  // [n_heads][window][n] softmax rows of the last queries
    const float* column_sums = nullptr;  // [n_heads][n] column sums over all queries (H2O)
    const int32_t* positions = nullptr;  // [n] positions of the keys; null = 0..n-1. Only
                                         // PyramidInfer's row-dropping prefill leaves gaps.
};

// One layer of one sequence's cache during decoding.
struct decode_layer_view {
    int32_t layer = 0;
    int32_t n_layers = 0;
    int32_t n_prompt = 0;                // prompt length n (budgets derive from it)
    int32_t n_generated = 0;             // tokens generated so far
    std::vector<const int32_t*> pos;     // [cache head] -> [count] positions, ascending
    std::vector<const float*> score;     // [cache head] -> [count] accumulated attention (or null)
    std::vector<int32_t> count;          // [cache head]
    int32_t head_offset = 0;             // global index of this rank's first cache head (TP)
};

// PyramidInfer's input after one layer of the row-dropping prefill, per query head (so that
// the head mean is summed in canonical global head order under tensor parallelism).
struct recent_rows_view {
    int32_t layer = 0;
    int32_t n_layers = 0;
    int32_t n_prompt = 0;
    const std::vector<int32_t>* positions = nullptr; // [n_cur] rows that entered the layer, ascending
    int32_t n_recent = 0;                // prefill_recent_rows(n_prompt): the last rows
    int32_t n_heads = 0;                 // query heads held by this rank
    int32_t head_offset = 0;             // global index of this rank's first query head
    const float* recent_attn = nullptr;  // [n_heads][n_recent][n_cur] softmax rows of the recent queries
};

// Prompt entries one cache head may hold after prefill compression (the runner's check against
// a silent no-op, spec section 10.3). Exact methods have min == max.
struct kept_range {
    int32_t min = 0;
    int32_t max = 0;
};

struct compress_context {
    double keep_ratio = 1.0;                       // fraction of prompt KV KEPT, in (0, 1]
    const std::vector<token_span>* spans = nullptr; // prompt segments (ShotKV)
    collective* tp = nullptr;                      // cross-head reductions under tensor parallelism;
                                                   // null = single rank
};

using head_selection = std::vector<std::vector<int32_t>>; // [cache head] -> kept positions, ascending

struct compressor {
    virtual ~compressor() = default;
    virtual std::string name() const = 0;
    virtual nlohmann::json params() const = 0;    // resolved hyper-parameters (for run_meta/records)
    virtual capture_needs needs() const = 0;
    // Kept prompt positions per cache head for one layer after prefill.
    virtual head_selection select_prefill(const compress_context& ctx, const layer_scores& s) const = 0;
    // Called after every decoding step; returns true and fills `keep` when entries must go.
    virtual bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                               head_selection& keep) const {
        (void)ctx; (void)v; (void)keep;
        return false;
    }
    // PyramidInfer only: after layer `layer` of the prefill, which of the current rows
    // (`positions`, ascending) go on to the next layer, given the head-mean attention of the
    // `n_recent` most recent query rows over the current rows ([n_recent][positions.size()]).
    // Returns row indices into `positions`, ascending. The default keeps every row.
    // Rank-local: under TP the mean must already be identical on every rank.
    virtual std::vector<int32_t> select_prefill_rows(const compress_context& ctx, int32_t layer,
                                                     int32_t n_layers, int32_t n_prompt,
                                                     const std::vector<int32_t>& positions,
                                                     const float* recent_attn_mean,
                                                     int32_t n_recent) const;

    // ---- additions (compression owner) ----------------------------------------------------------

    // Same as above from per-head attention; sums heads in canonical global order through
    // ctx.tp, so TP=1 and TP=P drop the same rows bit for bit. The default keeps every row.
    virtual std::vector<int32_t> select_prefill_rows(const compress_context& ctx,
                                                     const recent_rows_view& v) const;
    // Rows of recent-query attention select_prefill_rows needs for a prompt of n tokens (0: none).
    virtual int32_t prefill_recent_rows(int32_t n_prompt) const { (void)n_prompt; return 0; }
    // Selections for all layers at once ([layer] -> per cache head). The runner calls this one:
    // methods that look across layers (ShotKV scope=global, ChunkKV index reuse) need every
    // layer's scores before choosing. The default calls select_prefill per layer.
    virtual std::vector<head_selection> select_prefill_layers(const compress_context& ctx,
                                                              const std::vector<layer_scores>& layers) const;
    // Starting kv_head_cache::score of the kept prompt entries when needs().decode_scores:
    // H2O continues its prefill column sums, the others start from 0. [cache head] -> [kept].
    virtual std::vector<std::vector<float>> decode_initial_scores(const compress_context& ctx,
                                                                  const layer_scores& s,
                                                                  const head_selection& kept) const;
    // Prompt entries per cache head after prefill compression of layer `layer` (spec 10.3).
    // The default is the token-budget rule min(n, round(keep_ratio * n)).
    virtual kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer,
                                             int32_t n_layers, int32_t n_prompt) const;
    // The budget for a prompt of n tokens, for run records (requested and planned values side by
    // side): {"keep_ratio", "budget", "kept_per_layer": [[min, max], ...]}; PyramidInfer adds
    // "prefill_decay_ratio" and "achieved_keep_ratio" (its ratio is matched approximately).
    virtual nlohmann::json prefill_plan(const compress_context& ctx, int32_t n_prompt, int32_t n_layers) const;
};

// Creates a method by registry name with hyper-parameters overriding its defaults. Unknown names
// or parameters throw std::invalid_argument listing the valid choices.
std::unique_ptr<compressor> compressor_create(const std::string& name, const nlohmann::json& params);
std::vector<std::string> compressor_names();

// Throws std::runtime_error naming method, ratio, layer and head when a realised prompt-entry
// count ([layer][cache head], read from the cache after prefill compression) is outside
// expected_prefill_kept: catches a compressor that silently did nothing.
void compressor_check_kept(const compressor& c, const compress_context& ctx, int32_t n_prompt,
                           const std::vector<std::vector<int64_t>>& kept);
