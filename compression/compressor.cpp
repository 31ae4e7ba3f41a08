// Default behaviour of the optional compressor hooks and the runner's kept-count check.
#include "compression/compressor.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "compression/budget.h"

std::vector<int32_t> compressor::select_prefill_rows(const compress_context& ctx, int32_t layer,
                                                     int32_t n_layers, int32_t n_prompt,
                                                     const std::vector<int32_t>& positions,
                                                     const float* recent_attn_mean,
                                                     int32_t n_recent) const {
    (void)ctx;
    (void)layer;
    (void)n_layers;
    (void)n_prompt;
    (void)recent_attn_mean;
    (void)n_recent;
    return budget_range(0, (int32_t)positions.size());
}

std::vector<int32_t> compressor::select_prefill_rows(const compress_context& ctx,
                                                     const recent_rows_view& v) const {
    (void)ctx;
    return budget_range(0, (int32_t)v.positions->size());
}

std::vector<head_selection>
compressor::select_prefill_layers(const compress_context& ctx,
                                  const std::vector<layer_scores>& layers) const {
    std::vector<head_selection> out;
    out.reserve(layers.size());
    for (const layer_scores& s : layers)
        out.push_back(select_prefill(ctx, s));
    return out;
}

std::vector<std::vector<float>>
compressor::decode_initial_scores(const compress_context& ctx, const layer_scores& s,
                                  const head_selection& kept) const {
    (void)ctx;
    (void)s;
    std::vector<std::vector<float>> out;
    for (const std::vector<int32_t>& head : kept)
        out.emplace_back(head.size(), 0.0f);
    return out;
}

kept_range compressor::expected_prefill_kept(const compress_context& ctx, int32_t layer,
                                             int32_t n_layers, int32_t n_prompt) const {
    (void)layer;
    (void)n_layers;
    const int32_t b = std::min(n_prompt, budget_tokens(ctx.keep_ratio, n_prompt));
    return {b, b};
}

nlohmann::json compressor::prefill_plan(const compress_context& ctx, int32_t n_prompt,
                                        int32_t n_layers) const {
    nlohmann::json layers = nlohmann::json::array();
    for (int32_t l = 0; l < n_layers; ++l) {
        const kept_range k = expected_prefill_kept(ctx, l, n_layers, n_prompt);
        layers.push_back({k.min, k.max});
    }
    return {{"keep_ratio", ctx.keep_ratio},
            {"budget", budget_tokens(ctx.keep_ratio, n_prompt)},
            {"kept_per_layer", layers}};
}

void compressor_check_kept(const compressor& c, const compress_context& ctx, int32_t n_prompt,
                           const std::vector<std::vector<int64_t>>& kept) {
    const int32_t n_layers = (int32_t)kept.size();
    for (int32_t l = 0; l < n_layers; ++l) {
        const kept_range want = c.expected_prefill_kept(ctx, l, n_layers, n_prompt);
        for (size_t h = 0; h < kept[l].size(); ++h) {
            if (kept[l][h] < want.min || kept[l][h] > want.max) {
                std::ostringstream msg;
                msg << "compression check: method " << c.name() << " keep_ratio " << ctx.keep_ratio
                    << " n " << n_prompt << " layer " << l << " head " << h << " holds "
                    << kept[l][h] << " prompt entries, expected ";
                if (want.min == want.max)
                    msg << want.min;
                else
                    msg << "[" << want.min << ", " << want.max << "]";
                throw std::runtime_error(msg.str());
            }
        }
    }
}
