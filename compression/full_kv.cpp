// FullKV: no eviction in prefill or decoding; the reference every delta is measured against
// (spec section 1). Validates keep_ratio like every method but ignores it.
#include "compression/budget.h"
#include "compression/params.h"

namespace {

struct full_kv final : compressor {
    std::string name() const override { return "full_kv"; }
    nlohmann::json params() const override { return nlohmann::json::object(); }
    capture_needs needs() const override { return {}; }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        budget_check_ratio(ctx.keep_ratio);
        return budget_same_for_heads(s.n_kv_heads, budget_range(0, s.n));
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n_prompt) const override {
        (void)layer;
        (void)n_layers;
        budget_check_ratio(ctx.keep_ratio);
        return {n_prompt, n_prompt};
    }
};

} // namespace

std::unique_ptr<compressor> full_kv_create(const nlohmann::json& given) {
    param_reader("full_kv", nlohmann::json::object(), given);
    return std::make_unique<full_kv>();
}
