// StreamingLLM: attention sinks + recent window, no scores.
// Paper: Xiao et al., "Efficient Streaming Language Models with Attention Sinks", arXiv 2309.17453.
// Spec section 2. Prefill (KVCF run_longbench.py@ffac160): keep {0..sinks-1} and the last B-sinks
// prompt tokens, B = round(keep_ratio * n). Decoding (decode_compression, the LongGenBench
// DECISION): constant cache of B = sinks + most recent entries over prompt + generated tokens.
// Deviations from the original: positions are never re-assigned inside the cache (no pos_shift);
// the budget is a ratio of the prompt, not a fixed recent_size.
#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

struct streaming_llm_params {
    int32_t sinks = 4;               // first positions always kept (paper and KVCF: 4)
    bool decode_compression = false; // sliding window during decoding (on for LongGenBench)
};

struct streaming_llm final : compressor {
    streaming_llm_params p;

    std::string name() const override { return "streaming_llm"; }
    nlohmann::json params() const override {
        return {{"sinks", p.sinks}, {"decode_compression", p.decode_compression}};
    }
    capture_needs needs() const override { return {}; }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t b = budget_tokens(ctx.keep_ratio, s.n);
        return budget_same_for_heads(s.n_kv_heads, budget_sinks_and_recent(s.n, b, p.sinks));
    }

    bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                       head_selection& keep) const override {
        const int32_t b = budget_tokens(ctx.keep_ratio, v.n_prompt);
        if (!p.decode_compression || b >= v.n_prompt) return false;
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
    return c;
}
