// PyramidKV: SnapKV scoring with a per-layer budget that shrinks linearly with depth.
// Paper: Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information
// Funneling", arXiv 2406.02069. Spec section 5 (KVCF PyramidKVCluster.update_kv; kvpress
// PyramidKVPress as the schedule=kvpress variant).
// KVCF schedule with m = B - w: min = m // beta, max = 2m - min (clamped to n - w),
// step = (max - min) // (L - 1), C_l = max - l * step; n < 2m keeps m per layer (SnapKV regime).
// Deviations: with a single layer (L = 1, a division by zero in KVCF) the layer keeps the SnapKV
// budget; scoring as our SnapKV (fp32, GQA reduction before pooling).
// protect_question (spec 0.3 VARIANT; false = KVCF): only the context before the question is
// compressed, with budget round(r * context); the observation queries stay the last w prompt rows
// (kvpress, which prefills the question after compressing, scores with the context's end).
#include "compression/pyramidkv.h"

#include <algorithm>
#include <cmath>

#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

const std::vector<std::string> pyramid_schedule_names = {"kvcf", "kvpress"};

static int32_t budget_kvcf(double keep_ratio, int32_t n, int32_t w, int32_t beta, int32_t n_layers,
                           int32_t layer) {
    const int32_t b = budget_tokens(keep_ratio, n);
    const int32_t m = b - w;
    if (b >= n) return n;
    if (m <= 0 || n < 2 * m || n_layers == 1) return b;
    int32_t min_num = m / beta;
    int32_t max_num = 2 * m - min_num;
    if (max_num >= n - w) {
        max_num = n - w;
        min_num = 2 * m - max_num;
    }
    const int32_t step = (max_num - min_num) / (n_layers - 1);
    return max_num - layer * step + w;
}

static int32_t budget_kvpress(double keep_ratio, int32_t n, int32_t w, int32_t beta,
                              int32_t n_layers, int32_t layer) {
    if (budget_tokens(keep_ratio, n) >= n) return n;
    // kvpress: max_capacity_prompt = w + n * r, so its past budget is n * r (unrounded).
    const double m = (double)n * keep_ratio;
    double min_num = m / beta;
    double max_num = 2.0 * m - min_num;
    if (max_num >= n - w) {
        max_num = n - w;
        min_num = 2.0 * m - max_num;
    }
    if (!(n >= max_num && max_num >= min_num && min_num >= w) || n_layers == 1)
        return budget_tokens(keep_ratio, n);
    const double steps = (max_num - min_num) / (n_layers - 1);
    return (int32_t)std::nearbyint(max_num - layer * steps); // Python round: half to even
}

int32_t pyramidkv_layer_budget(pyramid_schedule schedule, double keep_ratio, int32_t n, int32_t w,
                               int32_t beta, int32_t n_layers, int32_t layer) {
    const int32_t total = schedule == PYRAMID_KVCF
                              ? budget_kvcf(keep_ratio, n, w, beta, n_layers, layer)
                              : budget_kvpress(keep_ratio, n, w, beta, n_layers, layer);
    return std::min(total, n);
}

namespace {

struct pyramidkv_params {
    window_params win; // as SnapKV: w 8, kernel 7, maxpool (KVCF script)
    int32_t beta = 20; // pyramid steepness (paper default 20)
    pyramid_schedule schedule = PYRAMID_KVCF;
};

struct pyramidkv final : compressor {
    pyramidkv_params p;

    std::string name() const override { return "pyramidkv"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p.win, true, true, true);
        j["beta"] = p.beta;
        j["schedule"] = pyramid_schedule_names[p.schedule];
        return j;
    }
    capture_needs needs() const override {
        capture_needs n;
        n.window_rows = p.win.window;
        n.per_query_head = p.win.gqa == GQA_QUERY_HEAD;
        return n;
    }

    int32_t layer_total(double keep_ratio, int32_t n, int32_t layer, int32_t n_layers) const {
        return pyramidkv_layer_budget(p.schedule, keep_ratio, n, p.win.window, p.beta, n_layers,
                                      layer);
    }

    // The schedule runs on the compressible prefix (the whole prompt unless protect_question).
    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t nc = budget_compressible(ctx, s.n, p.win.protect_question, "pyramidkv");
        const int32_t total = layer_total(ctx.keep_ratio, nc, s.layer, s.n_layers);
        const int32_t w = p.win.window;
        return budget_select(nc, s.n, total, w, scoring_cache_heads(s, p.win.gqa), [&] {
            return scoring_select_past(scoring_snapkv(s, p.win, nc - w, "pyramidkv"), total - w,
                                       nc);
        });
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        const int32_t nc = budget_compressible(ctx, n, p.win.protect_question, "pyramidkv");
        const int32_t k = budget_kept(nc, n, layer_total(ctx.keep_ratio, nc, layer, n_layers));
        return {k, k};
    }
};

} // namespace

std::unique_ptr<compressor> pyramidkv_create(const nlohmann::json& given) {
    auto c = std::make_unique<pyramidkv>();
    param_reader r("pyramidkv", c->params(), given);
    c->p.win = r.get_window();
    c->p.beta = r.get_int("beta", 1, 1 << 20);
    c->p.schedule = (pyramid_schedule)r.get_choice("schedule", pyramid_schedule_names);
    return c;
}
