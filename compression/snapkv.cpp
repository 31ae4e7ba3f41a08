// SnapKV: observation-window attention, pooled, top B-w past tokens + the window per head.
// Paper: Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", arXiv
// 2404.14469. Spec section 4. Defaults follow the KVCF paper-era run script (w = 8, kernel 7,
// maxpool), not the SnapKV paper configs (w = 32) or class defaults (w = 64, kernel 5, avgpool).
// Deviations: scores stay fp32 (references sum in bf16/fp16); GQA reduction happens before
// pooling (KVCF@HEAD kv_head mode); prefill-only, decoding appends.
#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

struct snapkv final : compressor {
    window_params p;

    std::string name() const override { return "snapkv"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p, true, true);
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
        const int32_t b = budget_tokens(ctx.keep_ratio, s.n);
        std::vector<int32_t> kept;
        if (budget_shortcut(s.n, b, p.window, kept))
            return budget_same_for_heads(scoring_cache_heads(s, p.gqa), kept);
        return scoring_select_past(scoring_snapkv(s, p, "snapkv"), b - p.window, s.n);
    }
};

} // namespace

std::unique_ptr<compressor> snapkv_create(const nlohmann::json& given) {
    auto c = std::make_unique<snapkv>();
    param_reader r("snapkv", c->params(), given);
    c->p = r.get_window();
    return c;
}
