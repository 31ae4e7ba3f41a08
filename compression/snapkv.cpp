// SnapKV: observation-window attention, pooled, top B-w past tokens + the window per head.
// Paper: Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", arXiv
// 2404.14469. Spec section 4. Defaults follow the KVCF paper-era run script (w = 8, kernel 7,
// maxpool), not the SnapKV paper configs (w = 32) or class defaults (w = 64, kernel 5, avgpool).
// Deviations: scores stay fp32 (references sum in bf16/fp16); GQA reduction happens before
// pooling (KVCF@HEAD kv_head mode); prefill-only, decoding appends.
// protect_question (spec 0.3 VARIANT; false = KVCF): only the context before the question is
// compressed, with budget round(r * context); the observation queries stay the last w prompt rows
// (kvpress, which prefills the question after compressing, scores with the context's end).
#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

struct snapkv final : compressor {
    window_params p;

    std::string name() const override { return "snapkv"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p, true, true, true);
        return j;
    }
    capture_needs needs() const override {
        capture_needs n;
        n.window_rows = p.window;
        n.per_query_head = p.gqa == GQA_QUERY_HEAD;
        return n;
    }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t nc = budget_compressible(ctx, s.n, p.protect_question, "snapkv");
        const int32_t b = budget_tokens(ctx.keep_ratio, nc);
        return budget_select(nc, s.n, b, p.window, scoring_cache_heads(s, p.gqa), [&] {
            return scoring_select_past(scoring_snapkv(s, p, nc - p.window, "snapkv"), b - p.window,
                                       nc);
        });
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        (void)layer;
        (void)n_layers;
        const int32_t k = budget_prompt_kept(ctx, n, p.protect_question, "snapkv");
        return {k, k};
    }
};

} // namespace

std::unique_ptr<compressor> snapkv_create(const nlohmann::json& given) {
    auto c = std::make_unique<snapkv>();
    param_reader r("snapkv", c->params(), given);
    c->p = r.get_window();
    return c;
}
