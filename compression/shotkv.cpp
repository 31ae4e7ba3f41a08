// ShotKV: prefill keeps whole few-shot examples by their mean attention; decoding keeps the top
// ceil(r * |D_t|) generated tokens. The paper's own method.
// Paper: "Can LLMs Maintain Fundamental Abilities under KV Cache Compression?" arXiv 2502.01941
// (ICML version: "Semantic Integrity Matters"). No code was published; spec section 8 fixes the
// open points:
// - shots come from compress_context.spans (shot_id joins Question_i / Answer_i of LongGenBench);
//   all non-shot tokens are mandatory and count against B_p = round(r * n);
// - Score_l(s) = (1/k_s) sum_{t in s} sum_h alpha_l[h][t], alpha from the last w = 8 prompt
//   queries (query_set window; variants question_segment, all_prompt), summed over every query
//   head in global head order (TP-exact), so all KV heads of a layer share one set;
// - scope per_layer (ICML) or global (v1: scores summed over layers, one set for every layer;
//   only through select_prefill_layers, which sees all layers);
// - first-fit by score (fill skip_and_continue) or stop_at_first_misfit;
// - decoding: alpha accumulated from every later decoding query (kv_head_cache::score), the
//   newest decode_recent generated tokens always kept and counted in the ceil(r * t) budget,
//   t = generated tokens so far, prompt entries never evicted; r_p = r_d = keep_ratio.
#include "compression/shotkv.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

shot_layout shotkv_layout(const std::vector<token_span>& spans, int32_t n) {
    std::map<int32_t, size_t> by_id; // shot_id -> index in layout.shots
    std::vector<char> in_shot((size_t)n, 0);
    shot_layout out;
    int32_t prev_end = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
        const token_span& sp = spans[i];
        if (sp.start < prev_end || sp.end < sp.start || sp.end > n) {
            throw std::invalid_argument("shotkv: prompt span " + std::to_string(i) + " [" +
                                        std::to_string(sp.start) + ", " + std::to_string(sp.end) +
                                        ") is out of order, overlapping or outside [0, " +
                                        std::to_string(n) + ")");
        }
        prev_end = sp.end;
        if (sp.kind != SEGMENT_SHOT) continue;
        if (sp.shot_id < 0) {
            throw std::invalid_argument("shotkv: prompt span " + std::to_string(i) +
                                        " is a shot without shot_id");
        }
        auto [it, fresh] = by_id.emplace(sp.shot_id, out.shots.size());
        if (fresh) out.shots.push_back({sp.shot_id, {}});
        for (int32_t p = sp.start; p < sp.end; ++p) {
            out.shots[it->second].positions.push_back(p);
            in_shot[p] = 1;
        }
    }
    std::erase_if(out.shots, [](const shot_info& s) { return s.positions.empty(); });
    // Spans come in position order, so shots already are ordered by their first position.
    for (int32_t p = 0; p < n; ++p) {
        if (!in_shot[p]) out.mandatory.push_back(p);
    }
    return out;
}

std::vector<int32_t> shotkv_choose(const shot_layout& layout, const std::vector<double>& score,
                                   int32_t shot_budget, bool stop_at_first_misfit) {
    std::vector<int32_t> order(layout.shots.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&score](int32_t a, int32_t b) { return score[a] > score[b]; });
    std::vector<int32_t> chosen;
    int32_t remaining = shot_budget;
    for (int32_t i : order) {
        const int32_t k = (int32_t)layout.shots[i].positions.size();
        if (k <= remaining) {
            chosen.push_back(i);
            remaining -= k;
        } else if (stop_at_first_misfit) {
            break;
        }
    }
    std::sort(chosen.begin(), chosen.end());
    return chosen;
}

namespace {

const std::vector<std::string> shot_query_sets = {"window", "question_segment", "all_prompt"};
const std::vector<std::string> shot_scopes = {"per_layer", "global"};
const std::vector<std::string> shot_fills = {"skip_and_continue", "stop_at_first_misfit"};

struct shotkv_params {
    window_params win{8, 1, POOL_NONE, GQA_KV_HEAD_MEAN}; // w = 8 query rows (DECISION)
    int32_t query_set = 0;                                // index into shot_query_sets
    int32_t scope = 0;                                    // index into shot_scopes
    int32_t fill = 0;                                     // index into shot_fills
    bool decode_compression = true; // token-level eviction of generated tokens (part of ShotKV)
    int32_t decode_recent = 8;      // w_d: newest generated tokens always kept
};

struct shotkv final : compressor {
    shotkv_params p;

    std::string name() const override { return "shotkv"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p.win, false, false, false);
        j["query_set"] = shot_query_sets[p.query_set];
        j["scope"] = shot_scopes[p.scope];
        j["fill"] = shot_fills[p.fill];
        j["decode_compression"] = p.decode_compression;
        j["decode_recent"] = p.decode_recent;
        return j;
    }
    capture_needs needs() const override {
        capture_needs n;
        if (p.query_set == 2)
            n.column_sums = true;
        else
            n.window_rows = p.win.window;
        n.decode_scores = p.decode_compression;
        return n;
    }

    shot_layout layout(const compress_context& ctx, int32_t n) const {
        if (ctx.spans == nullptr)
            throw std::invalid_argument("shotkv: compress_context.spans (prompt segments) missing");
        return shotkv_layout(*ctx.spans, n);
    }

    // alpha[h][t] for this rank's query heads over all n prompt keys.
    score_matrix alpha(const compress_context& ctx, const layer_scores& s) const {
        if (p.query_set == 2) return scoring_column_sums(s, s.n, "shotkv");
        if (p.query_set == 0) // prompts shorter than w have only n query rows
            return scoring_window_sums(s, std::min(p.win.window, s.n), s.n, "shotkv");
        // question_segment: the captured window rows that are question tokens.
        std::vector<char> question((size_t)s.n, 0);
        for (const token_span& sp : *ctx.spans) {
            for (int32_t t = sp.start; sp.kind == SEGMENT_QUESTION && t < sp.end; ++t)
                question[t] = 1;
        }
        const int32_t first_row = s.n - s.window;
        for (int32_t t = 0; t < first_row; ++t) {
            if (question[t]) {
                throw std::invalid_argument(
                    "shotkv: query_set=question_segment needs rows from position " +
                    std::to_string(t) + " but layer " + std::to_string(s.layer) +
                    " captured the last " + std::to_string(s.window) + " (raise window)");
            }
        }
        score_matrix out{s.n_heads, s.n, std::vector<float>((size_t)s.n_heads * s.n, 0.0f)};
        for (int32_t h = 0; h < s.n_heads; ++h) {
            for (int32_t i = 0; i < s.window; ++i) {
                if (!question[first_row + i]) continue;
                const float* a = s.window_attn + ((size_t)h * s.window + i) * s.n;
                for (int32_t j = 0; j < s.n; ++j)
                    out.row(h)[j] += a[j];
            }
        }
        return out;
    }

    // Sum over every query head (global order) of each shot's token scores: [n_shots], not yet /
    // k_i.
    std::vector<double> shot_sums(const compress_context& ctx, const layer_scores& s,
                                  const shot_layout& lay) const {
        score_matrix a = alpha(ctx, s);
        score_matrix per_head{a.rows, (int32_t)lay.shots.size(),
                              std::vector<float>(a.rows * lay.shots.size(), 0.0f)};
        for (int32_t h = 0; h < a.rows; ++h) {
            for (size_t i = 0; i < lay.shots.size(); ++i) {
                float sum = 0.0f;
                for (int32_t t : lay.shots[i].positions)
                    sum += a.row(h)[t];
                per_head.row(h)[i] = sum;
            }
        }
        return scoring_sum_heads(ctx.tp, per_head, s.head_offset);
    }

    std::vector<int32_t> kept_positions(const compress_context& ctx, int32_t n,
                                        const shot_layout& lay,
                                        const std::vector<double>& sums) const {
        const int32_t b = budget_tokens(ctx.keep_ratio, n);
        if (b >= n) return budget_range(0, n);
        std::vector<double> score(sums.size());
        for (size_t i = 0; i < sums.size(); ++i)
            score[i] = sums[i] / (double)lay.shots[i].positions.size();
        std::vector<int32_t> kept = lay.mandatory;
        const int32_t shot_budget = b - (int32_t)lay.mandatory.size();
        if (shot_budget > 0) {
            for (int32_t i : shotkv_choose(lay, score, shot_budget, p.fill == 1)) {
                kept.insert(kept.end(), lay.shots[i].positions.begin(),
                            lay.shots[i].positions.end());
            }
        }
        std::sort(kept.begin(), kept.end());
        return kept;
    }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        if (p.scope == 1) {
            throw std::logic_error(
                "shotkv: scope=global selects all layers at once; call select_prefill_layers");
        }
        const shot_layout lay = layout(ctx, s.n);
        if (budget_tokens(ctx.keep_ratio, s.n) >= s.n)
            return budget_same_for_heads(s.n_kv_heads, budget_range(0, s.n));
        return budget_same_for_heads(s.n_kv_heads,
                                     kept_positions(ctx, s.n, lay, shot_sums(ctx, s, lay)));
    }

    std::vector<head_selection>
    select_prefill_layers(const compress_context& ctx,
                          const std::vector<layer_scores>& layers) const override {
        if (p.scope == 0) return compressor::select_prefill_layers(ctx, layers);
        if (layers.empty()) return {};
        const int32_t n = layers[0].n;
        const shot_layout lay = layout(ctx, n);
        std::vector<int32_t> kept;
        if (budget_tokens(ctx.keep_ratio, n) >= n) {
            kept = budget_range(0, n);
        } else {
            // Per-layer canonical head sums, then layers in order: the same for any TP size.
            std::vector<double> total(lay.shots.size(), 0.0);
            for (const layer_scores& s : layers) {
                std::vector<double> sums = shot_sums(ctx, s, lay);
                for (size_t i = 0; i < total.size(); ++i)
                    total[i] += sums[i];
            }
            kept = kept_positions(ctx, n, lay, total);
        }
        std::vector<head_selection> out;
        for (const layer_scores& s : layers)
            out.push_back(budget_same_for_heads(s.n_kv_heads, kept));
        return out;
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        (void)layer;
        (void)n_layers;
        const int32_t b = budget_tokens(ctx.keep_ratio, n);
        if (b >= n) return {n, n};
        const int32_t m = (int32_t)layout(ctx, n).mandatory.size();
        return m >= b ? kept_range{m, m} : kept_range{m, b};
    }

    bool select_decode(const compress_context& ctx, const decode_layer_view& v,
                       head_selection& keep) const override {
        budget_check_ratio(ctx.keep_ratio);
        if (!p.decode_compression || ctx.keep_ratio >= 1.0) return false;
        std::vector<int32_t> held = scoring_shared_positions(v, "shotkv");
        if (held.empty() || held.back() < v.n_prompt) return false;
        const int32_t t =
            held.back() + 1 - v.n_prompt; // generated tokens so far (the newest is never evicted)
        const int32_t first_gen =
            (int32_t)(std::lower_bound(held.begin(), held.end(), v.n_prompt) - held.begin());
        const int32_t n_gen = (int32_t)held.size() - first_gen;
        // The epsilon absorbs representation error (0.3 * 10 = 3.0000000000000004 must give 3).
        const int32_t budget =
            std::max(std::min(p.decode_recent, t), (int32_t)std::ceil(ctx.keep_ratio * t - 1e-9));
        if (n_gen <= budget) return false;
        const int32_t recent = std::min(p.decode_recent, n_gen);
        const int32_t n_old = n_gen - recent;
        std::vector<double> score = scoring_sum_heads(
            ctx.tp, scoring_view_scores(v, first_gen, n_old, "shotkv"), v.head_offset);
        std::vector<int32_t> survivors(held.begin(), held.begin() + first_gen);
        for (int32_t i : scoring_top_k(score.data(), n_old, budget - recent))
            survivors.push_back(held[first_gen + i]);
        survivors.insert(survivors.end(), held.end() - recent, held.end());
        keep = budget_same_for_heads((int32_t)v.count.size(), survivors);
        return true;
    }
};

} // namespace

std::unique_ptr<compressor> shotkv_create(const nlohmann::json& given) {
    auto c = std::make_unique<shotkv>();
    param_reader r("shotkv", c->params(), given);
    c->p.win = r.get_window();
    c->p.query_set = r.get_choice("query_set", shot_query_sets);
    c->p.scope = r.get_choice("scope", shot_scopes);
    c->p.fill = r.get_choice("fill", shot_fills);
    c->p.decode_compression = r.get_bool("decode_compression");
    c->p.decode_recent = r.get_int("decode_recent", 1, 1 << 20);
    return c;
}
