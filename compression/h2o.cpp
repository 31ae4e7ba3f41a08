// H2O: heavy hitters (accumulated attention) + recent tokens.
// Paper: Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of LLMs",
// arXiv 2306.14048. Spec section 3.
// Prefill (KVCF H2OKVCluster): scores = column sums of the prompt attention over all queries,
// keep the top B-w past tokens per cache head + the last w (no pooling).
// Decoding (decode_compression, the LongGenBench DECISION): constant cache of B entries =
// w_r recent + B-w_r heavy, w_r = max(window, B/2), scores accumulated over every decoding query.
// Deviations: mask=causal by default (KVCF@ffac160 masked only the last w x w block; selectable as
// kvcf_ffac160_bug, which the engine realises when computing the column sums); the engine streams
// column sums instead of materialising the n x n matrix; decoding scores are summed over the
// query heads of a group (our cache convention) whatever gqa_mode the prefill used.
// protect_question (spec 0.3 VARIANT; false = KVCF): only the context before the question is
// compressed, with budget round(r * context); the observation queries stay the last w prompt rows
// (kvpress, which prefills the question after compressing, scores with the context's end).
#include <algorithm>

#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

const std::vector<std::string> h2o_masks = {"causal", "kvcf_ffac160_bug"};

struct h2o_params {
    window_params win{8, 1, POOL_NONE, GQA_KV_HEAD_MEAN}; // w = 8 (KVCF), no pooling
    int32_t mask = 0;                                     // index into h2o_masks
    bool decode_compression = false; // heavy+recent eviction during decoding (on for LongGenBench)
};

struct h2o final : compressor {
    h2o_params p;

    std::string name() const override { return "h2o"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p.win, false, true, true);
        j["mask"] = h2o_masks[p.mask];
        j["decode_compression"] = p.decode_compression;
        return j;
    }
    capture_needs needs() const override {
        capture_needs n;
        n.column_sums = true;
        n.column_sums_kvcf_mask = p.mask == 1;
        n.per_query_head = p.win.gqa == GQA_QUERY_HEAD;
        n.decode_scores = p.decode_compression;
        return n;
    }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t nc = budget_compressible(ctx, s.n, p.win.protect_question, "h2o");
        const int32_t b = budget_tokens(ctx.keep_ratio, nc), w = p.win.window;
        return budget_select(nc, s.n, b, w, scoring_cache_heads(s, p.win.gqa), [&] {
            score_matrix sc =
                scoring_gqa_reduce(scoring_column_sums(s, nc - w, "h2o"), s.n_kv_heads, p.win.gqa);
            return scoring_select_past(sc, b - w, nc);
        });
    }

    // Prompt entries kept after prefill; decoding holds the cache at this size.
    int32_t prompt_kept(const compress_context& ctx, int32_t n) const {
        return budget_prompt_kept(ctx, n, p.win.protect_question, "h2o");
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        (void)layer;
        (void)n_layers;
        const int32_t k = prompt_kept(ctx, n);
        return {k, k};
    }

    std::vector<std::vector<float>>
    decode_initial_scores(const compress_context& ctx, const layer_scores& s,
                          const head_selection& kept) const override {
        (void)ctx;
        const int32_t heads = scoring_cache_heads(s, p.win.gqa);
        const int32_t g = heads == s.n_heads ? 1 : s.n_heads / s.n_kv_heads;
        score_matrix all = scoring_column_sums(s, s.n, "h2o");
        std::vector<std::vector<float>> out(kept.size());
        for (int32_t h = 0; h < (int32_t)kept.size(); ++h) {
            for (int32_t pos : kept[h]) {
                float sum = 0.0f;
                for (int32_t m = 0; m < g; ++m)
                    sum += all.row(h * g + m)[pos];
                out[h].push_back(sum);
            }
        }
        return out;
    }

    bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                       head_selection& keep) const override {
        budget_check_ratio(ctx.keep_ratio);
        if (!p.decode_compression) return false;
        const int32_t b = prompt_kept(ctx, v.n_prompt);
        if (b >= v.n_prompt) return false;
        const int32_t recent = std::min(b, std::max(p.win.window, b / 2));
        bool evict = false;
        keep.assign(v.count.size(), {});
        for (int32_t h = 0; h < (int32_t)v.count.size(); ++h) {
            std::vector<int32_t> held = scoring_view_positions(v, h);
            const int32_t count = (int32_t)held.size();
            if (count <= b) {
                keep[h] = held;
                continue;
            }
            evict = true;
            const int32_t old = count - recent;
            for (int32_t i : scoring_top_k(scoring_view_score_row(v, h, "h2o"), old, b - recent)) {
                keep[h].push_back(held[i]);
            }
            for (int32_t i = old; i < count; ++i)
                keep[h].push_back(held[i]);
        }
        return evict;
    }
};

} // namespace

std::unique_ptr<compressor> h2o_create(const nlohmann::json& given) {
    auto c = std::make_unique<h2o>();
    param_reader r("h2o", c->params(), given);
    c->p.win = r.get_window();
    c->p.mask = r.get_choice("mask", h2o_masks);
    c->p.decode_compression = r.get_bool("decode_compression");
    return c;
}
