// StreamingLLM: attention sinks + recent window, no scores.
// Paper: Xiao et al., "Efficient Streaming Language Models with Attention Sinks", arXiv 2309.17453.
// Spec section 2. Prefill (KVCF run_longbench.py@ffac160): keep {0..sinks-1} and the last B-sinks
// prompt tokens, B = round(keep_ratio * n). Decoding (decode_compression, the LongGenBench
// DECISION): constant cache of B = sinks + most recent entries over prompt + generated tokens.
// Deviations from the original: positions are never re-assigned inside the cache (no pos_shift);
// the budget is a ratio of the prompt, not a fixed recent_size.
// protect_question (spec 0.3 VARIANT; false = KVCF): only the context before the question is
// compressed, with budget round(r * context); the observation queries stay the last w prompt rows
// (kvpress, which prefills the question after compressing, scores with the context's end).
#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

struct streaming_llm_params {
    int32_t sinks = 4;               // first positions always kept (paper and KVCF: 4)
    bool decode_compression = false; // sliding window during decoding (on for LongGenBench)
    bool protect_question = false;   // kvpress: question and template suffix never evicted
};

struct streaming_llm final : compressor {
    streaming_llm_params p;

    std::string name() const override { return "streaming_llm"; }
    nlohmann::json params() const override {
        return {{"sinks", p.sinks},
                {"decode_compression", p.decode_compression},
                {"protect_question", p.protect_question}};
    }
    capture_needs needs() const override { return {}; }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t nc = budget_compressible(ctx, s.n, p.protect_question, "streaming_llm");
        std::vector<int32_t> kept =
            budget_sinks_and_recent(nc, budget_tokens(ctx.keep_ratio, nc), p.sinks);
        for (int32_t q = nc; q < s.n; ++q)
            kept.push_back(q);
        return budget_same_for_heads(s.n_kv_heads, kept);
    }

    // Prompt entries kept after prefill; the decoding window keeps this many entries.
    int32_t prompt_kept(const compress_context& ctx, int32_t n) const {
        return budget_prompt_kept(ctx, n, p.protect_question, "streaming_llm");
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        (void)layer;
        (void)n_layers;
        const int32_t k = prompt_kept(ctx, n);
        return {k, k};
    }

    bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                       head_selection& keep) const override {
        budget_check_ratio(ctx.keep_ratio);
        if (!p.decode_compression) return false;
        const int32_t b = prompt_kept(ctx, v.n_prompt);
        if (b >= v.n_prompt) return false;
        bool evict = false;
        keep.assign(v.count.size(), {});
        for (int32_t h = 0; h < (int32_t)v.count.size(); ++h) {
            std::vector<int32_t> held = scoring_view_positions(v, h);
            if ((int32_t)held.size() > b) {
                evict = true;
                std::vector<int32_t> idx =
                    budget_sinks_and_recent((int32_t)held.size(), b, p.sinks);
                for (int32_t i : idx)
                    keep[h].push_back(held[i]);
            } else {
                keep[h] = held;
            }
        }
        return evict;
    }
};

} // namespace

std::unique_ptr<compressor> streaming_llm_create(const nlohmann::json& given) {
    auto c = std::make_unique<streaming_llm>();
    param_reader r("streaming_llm", c->params(), given);
    c->p.sinks = r.get_int("sinks", 0, 1 << 20);
    c->p.decode_compression = r.get_bool("decode_compression");
    c->p.protect_question = r.get_bool("protect_question");
    return c;
}
