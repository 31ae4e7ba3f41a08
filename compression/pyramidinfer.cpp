// PyramidInfer: layer-wise dropping of context rows (hidden states) during prefill, nested across
// layers, plus reduction of generated tokens during decoding.
// Paper: Yang et al., "PyramidInfer: Pyramid KV Cache Compression for High-throughput LLM
// Inference", arXiv 2405.12532. Spec section 7 (PInfer-orig modeling_llama_pyramidinfer.py,
// configs/llama3_8b.json).
// Prefill: after layer l, context rows are scored by the distance-weighted mean attention of the
// recent rows (all heads averaged), sinks forced in, and the top int(|ctx| * rho_l) go on.
// Decoding: every gen_block generated tokens that have left the recent block are reduced to
// max(1, int(gen_block * gen_keep_ratio * rho_gen_l)).
// Deviations: only the cosine schedule (the reference's linear branch falls through to a constant);
// ranking uses the head/row sums (the mean divided by H * n_recent, same order) summed in global
// head order so TP = 1 and TP = P agree; decoding scores generated tokens by the attention they
// accumulated (kv_head_cache::score) instead of stored recent-row attention; prefill_decay_ratio
// is matched to keep_ratio (DECISION, results are "ratio-matched approximately").
#include "compression/pyramidinfer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

double pyramidinfer_decay(double d, int32_t layer, int32_t n_layers) {
    return (1.0 - d) * (std::cos(std::numbers::pi * layer / n_layers) + 1.0) / 2.0 + d;
}

int32_t pyramidinfer_context_after(int32_t ctx, int32_t min_ctx, double rho) {
    if (ctx <= min_ctx || rho >= 1.0) return ctx;
    const int32_t keep = (int32_t)(ctx * rho);
    return keep <= min_ctx ? ctx : keep;
}

static pyramidinfer_plan plan_for_decay(int32_t recent, int32_t min_ctx, int32_t n,
                                        int32_t n_layers, double d) {
    pyramidinfer_plan plan;
    plan.decay = d;
    plan.recent = recent;
    plan.min_ctx = min_ctx;
    int32_t ctx = n - recent;
    double total = 0.0;
    for (int32_t l = 0; l < n_layers; ++l) {
        plan.rows.push_back(ctx + recent);
        total += ctx + recent;
        ctx = pyramidinfer_context_after(ctx, min_ctx, pyramidinfer_decay(d, l, n_layers));
    }
    plan.kept_fraction = total / ((double)n * n_layers);
    return plan;
}

pyramidinfer_plan pyramidinfer_make_plan(const pyramidinfer_params& p, int32_t n, int32_t n_layers,
                                         double keep_ratio) {
    budget_check_ratio(keep_ratio);
    if (n < 1 || n_layers < 1) {
        throw std::invalid_argument("pyramidinfer: prompt of " + std::to_string(n) +
                                    " tokens and " + std::to_string(n_layers) +
                                    " layers; both must be >= 1");
    }
    const int32_t recent = std::min(n, (int32_t)(n * p.recent_ratio) + 1);
    const int32_t min_ctx = std::min(p.min_ctx, n - recent);
    if (keep_ratio >= 1.0) return plan_for_decay(recent, min_ctx, n, n_layers, 1.0);
    if (!p.match_ratio) return plan_for_decay(recent, min_ctx, n, n_layers, p.prefill_decay_ratio);
    pyramidinfer_plan best;
    double best_err = std::numeric_limits<double>::infinity();
    for (int32_t k = 1000; k >= 0; --k) { // downwards: ties keep the larger (gentler) decay
        pyramidinfer_plan plan = plan_for_decay(recent, min_ctx, n, n_layers, k / 1000.0);
        const double err = std::fabs(plan.kept_fraction - keep_ratio);
        if (err < best_err) {
            best_err = err;
            best = plan;
        }
    }
    return best;
}

namespace {

struct pyramidinfer final : compressor {
    pyramidinfer_params p;

    std::string name() const override { return "pyramidinfer"; }
    nlohmann::json params() const override {
        return {{"recent_ratio", p.recent_ratio},
                {"distance_weight", p.distance_weight},
                {"sinks", p.sinks},
                {"min_ctx", p.min_ctx},
                {"match_ratio", p.match_ratio},
                {"prefill_decay_ratio", p.prefill_decay_ratio},
                {"decode_compression", p.decode_compression},
                {"gen_block", p.gen_block},
                {"gen_keep_ratio", p.gen_keep_ratio},
                {"gen_decay_ratio", p.gen_decay_ratio}};
    }
    capture_needs needs() const override {
        capture_needs n;
        n.drops_prefill_rows = true;
        n.decode_scores = p.decode_compression;
        return n;
    }
    int32_t prefill_recent_rows(int32_t n_prompt) const override {
        return pyramidinfer_make_plan(p, n_prompt, 1, 1.0).recent;
    }

    using compressor::select_prefill_rows;

    std::vector<int32_t> select_prefill_rows(const compress_context& ctx,
                                             const recent_rows_view& v) const override {
        const pyramidinfer_plan plan =
            pyramidinfer_make_plan(p, v.n_prompt, v.n_layers, ctx.keep_ratio);
        if (v.positions == nullptr || v.recent_attn == nullptr) {
            throw std::invalid_argument("pyramidinfer: layer " + std::to_string(v.layer) +
                                        " has no rows or attention");
        }
        const std::vector<int32_t>& pos = *v.positions;
        const int32_t n_cur = (int32_t)pos.size();
        if (v.layer < 0 || v.layer >= v.n_layers || n_cur != plan.rows[v.layer] ||
            v.n_recent != plan.recent || pos.back() != v.n_prompt - 1) {
            throw std::invalid_argument(
                "pyramidinfer: layer " + std::to_string(v.layer) + " received " +
                std::to_string(n_cur) + " rows ending at position " +
                std::to_string(pos.empty() ? -1 : pos.back()) + " with " +
                std::to_string(v.n_recent) +
                " recent rows; the plan for n=" + std::to_string(v.n_prompt) + " expects " +
                std::to_string(v.layer >= 0 && v.layer < v.n_layers ? plan.rows[v.layer] : -1) +
                " rows and " + std::to_string(plan.recent) + " recent rows");
        }
        const int32_t ctx_n = n_cur - plan.recent;
        const int32_t keep = pyramidinfer_context_after(
            ctx_n, plan.min_ctx, pyramidinfer_decay(plan.decay, v.layer, v.n_layers));
        if (keep == ctx_n) return budget_range(0, n_cur);
        // Per head: sum_i weight_i * A[h][i][j] over the recent rows, context columns only.
        score_matrix per_head{v.n_heads, ctx_n,
                              std::vector<float>((size_t)v.n_heads * ctx_n, 0.0f)};
        for (int32_t h = 0; h < v.n_heads; ++h) {
            for (int32_t i = 0; i < v.n_recent; ++i) {
                const float wt =
                    v.n_recent == 1
                        ? 1.0f
                        : (float)(1.0 + (p.distance_weight - 1.0) * i / (v.n_recent - 1));
                const float* a = v.recent_attn + ((size_t)h * v.n_recent + i) * n_cur;
                for (int32_t j = 0; j < ctx_n; ++j)
                    per_head.row(h)[j] += wt * a[j];
            }
        }
        std::vector<double> score = scoring_sum_heads(ctx.tp, per_head, v.head_offset);
        for (int32_t j = 0; j < std::min(p.sinks, ctx_n); ++j)
            score[j] = std::numeric_limits<double>::infinity();
        std::vector<int32_t> rows = scoring_top_k(score.data(), ctx_n, keep);
        for (int32_t j = ctx_n; j < n_cur; ++j)
            rows.push_back(j);
        return rows;
    }

    std::vector<int32_t> select_prefill_rows(const compress_context& ctx, int32_t layer,
                                             int32_t n_layers, int32_t n_prompt,
                                             const std::vector<int32_t>& positions,
                                             const float* recent_attn_mean,
                                             int32_t n_recent) const override {
        // The mean is already one "head"; rank-local by contract, so no collective.
        compress_context local = ctx;
        local.tp = nullptr;
        recent_rows_view v{layer, n_layers, n_prompt, &positions, n_recent, 1, 0, recent_attn_mean};
        return select_prefill_rows(local, v);
    }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        const int32_t n_prompt = s.positions ? s.positions[s.n - 1] + 1 : s.n;
        const pyramidinfer_plan plan =
            pyramidinfer_make_plan(p, n_prompt, s.n_layers, ctx.keep_ratio);
        if (s.n != plan.rows.at(s.layer)) {
            throw std::invalid_argument(
                "pyramidinfer: layer " + std::to_string(s.layer) + " holds " + std::to_string(s.n) +
                " prompt rows, its plan " + std::to_string(plan.rows[s.layer]) +
                " (run the row-dropping prefill with select_prefill_rows)");
        }
        std::vector<int32_t> kept = s.positions
                                        ? std::vector<int32_t>(s.positions, s.positions + s.n)
                                        : budget_range(0, s.n);
        return budget_same_for_heads(s.n_kv_heads, kept);
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n_prompt) const override {
        const int32_t rows =
            pyramidinfer_make_plan(p, n_prompt, n_layers, ctx.keep_ratio).rows.at(layer);
        return {rows, rows};
    }

    nlohmann::json prefill_plan(const compress_context& ctx, int32_t n_prompt,
                                int32_t n_layers) const override {
        const pyramidinfer_plan plan =
            pyramidinfer_make_plan(p, n_prompt, n_layers, ctx.keep_ratio);
        nlohmann::json j = compressor::prefill_plan(ctx, n_prompt, n_layers);
        j["prefill_decay_ratio"] = plan.decay;
        j["achieved_keep_ratio"] = plan.kept_fraction;
        return j;
    }

    bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                       head_selection& keep) const override {
        budget_check_ratio(ctx.keep_ratio);
        if (!p.decode_compression || ctx.keep_ratio >= 1.0) return false;
        std::vector<int32_t> held = scoring_shared_positions(v, "pyramidinfer");
        if (held.empty() || held.back() < v.n_prompt) return false;
        const int32_t recent = prefill_recent_rows(v.n_prompt);
        const int32_t recent_start = held.back() + 1 - recent;
        const double rho = pyramidinfer_decay(p.gen_decay_ratio, v.layer, v.n_layers);
        const int32_t block_keep = std::max(1, (int32_t)(p.gen_block * p.gen_keep_ratio * rho));
        std::vector<int32_t> drop; // positions evicted this step
        // Block b = generated positions [n + b*gen_block, n + (b+1)*gen_block); it is reduced once
        // more than gen_block uncompressed generated tokens lie before the recent block.
        for (int32_t b = 0; v.n_prompt + (b + 1) * p.gen_block < recent_start; ++b) {
            const int32_t lo = v.n_prompt + b * p.gen_block;
            const auto first = std::lower_bound(held.begin(), held.end(), lo);
            const auto last = std::lower_bound(held.begin(), held.end(), lo + p.gen_block);
            if (last - first != p.gen_block || block_keep >= p.gen_block)
                continue; // already reduced
            const int32_t offset = (int32_t)(first - held.begin());
            std::vector<double> score = scoring_sum_heads(
                ctx.tp, scoring_view_scores(v, offset, p.gen_block, "pyramidinfer"), v.head_offset);
            std::vector<int32_t> kept = scoring_top_k(score.data(), p.gen_block, block_keep);
            for (int32_t i = 0, k = 0; i < p.gen_block; ++i) {
                if (k < (int32_t)kept.size() && kept[k] == i)
                    ++k;
                else
                    drop.push_back(held[offset + i]);
            }
        }
        if (drop.empty()) return false;
        std::sort(drop.begin(), drop.end());
        std::vector<int32_t> survivors;
        std::set_difference(held.begin(), held.end(), drop.begin(), drop.end(),
                            std::back_inserter(survivors));
        keep = budget_same_for_heads((int32_t)v.count.size(), survivors);
        return true;
    }
};

} // namespace

std::unique_ptr<compressor> pyramidinfer_create(const nlohmann::json& given) {
    auto c = std::make_unique<pyramidinfer>();
    param_reader r("pyramidinfer", c->params(), given);
    c->p.recent_ratio = r.get_double("recent_ratio", 0.0, 1.0);
    c->p.distance_weight = r.get_double("distance_weight", 0.0, 100.0);
    c->p.sinks = r.get_int("sinks", 0, 1 << 20);
    c->p.min_ctx = r.get_int("min_ctx", 0, 1 << 30);
    c->p.match_ratio = r.get_bool("match_ratio");
    c->p.prefill_decay_ratio = r.get_double("prefill_decay_ratio", 0.0, 1.0);
    c->p.decode_compression = r.get_bool("decode_compression");
    c->p.gen_block = r.get_int("gen_block", 1, 1 << 20);
    c->p.gen_keep_ratio = r.get_double("gen_keep_ratio", 0.0, 1.0);
    c->p.gen_decay_ratio = r.get_double("gen_decay_ratio", 0.0, 1.0);
    return c;
}
