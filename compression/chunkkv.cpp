// ChunkKV: observation-window scores summed over aligned chunks; whole chunks are kept.
// Paper: Liu et al., "ChunkKV: Semantic-Preserving KV Cache Compression for Efficient Long-Context
// LLM Inference", arXiv 2502.00299. Spec section 6.
// DECISION defaults: scope per_layer (chunk score summed over every query head of the layer, one
// set shared by all KV heads, as kvpress ChunkKVPress), chunk score = sum, chunk 10, window w = 8
// protected, chunks over the past P = [0, n-w) aligned to position 0, k = floor((B-w)/chunk).
// Deviations from kvpress: chunks cover P only (kvpress chunks the window too), k from the KVCF
// budget instead of max(1, int(C*r)), no pooling of the token scores (the paper's formula).
// Under TP, per_layer gathers every head's chunk scores and sums them in global head order.
// protect_question (spec 0.3 VARIANT; false = KVCF): only the context before the question is
// compressed, with budget round(r * context); the observation queries stay the last w prompt rows
// (kvpress, which prefills the question after compressing, scores with the context's end).
#include <algorithm>

#include "compression/budget.h"
#include "compression/params.h"
#include "compression/scoring.h"

namespace {

const std::vector<std::string> chunk_scopes = {"per_layer", "per_head"};
const std::vector<std::string> chunk_aggs = {"sum", "mean"};

struct chunkkv_params {
    window_params win{8, 1, POOL_NONE, GQA_KV_HEAD_MEAN}; // w = 8 (DECISION); gqa_mode for per_head
    int32_t chunk = 10; // c: tokens per chunk (paper: 10, robust for 5-20)
    int32_t scope = 0;  // index into chunk_scopes
    int32_t agg = 0;    // index into chunk_aggs; mean divides by the chunk's own length
    int32_t reuse = 1;  // N_reuse: layers l with l % reuse != 0 copy the previous anchor layer
};

struct chunkkv final : compressor {
    chunkkv_params p;

    std::string name() const override { return "chunkkv"; }
    nlohmann::json params() const override {
        nlohmann::json j;
        params_put_window(j, p.win, false, true, true);
        j["chunk"] = p.chunk;
        j["scope"] = chunk_scopes[p.scope];
        j["agg"] = chunk_aggs[p.agg];
        j["reuse"] = p.reuse;
        return j;
    }
    bool per_head() const { return p.scope == 1; }
    capture_needs needs() const override {
        capture_needs n;
        n.window_rows = p.win.window;
        n.per_query_head = per_head() && p.win.gqa == GQA_QUERY_HEAD;
        return n;
    }
    int32_t cache_heads(const layer_scores& s) const {
        return per_head() ? scoring_cache_heads(s, p.win.gqa) : s.n_kv_heads;
    }

    // [rows][n_past] token scores -> [rows][n_chunks] chunk scores.
    score_matrix chunk_scores(const score_matrix& tok) const {
        const int32_t n_chunks = (tok.cols + p.chunk - 1) / p.chunk;
        score_matrix out{tok.rows, n_chunks, std::vector<float>((size_t)tok.rows * n_chunks, 0.0f)};
        for (int32_t h = 0; h < tok.rows; ++h) {
            for (int32_t c = 0; c < n_chunks; ++c) {
                const int32_t lo = c * p.chunk, hi = std::min(tok.cols, lo + p.chunk);
                float sum = 0.0f;
                for (int32_t j = lo; j < hi; ++j)
                    sum += tok.row(h)[j];
                out.row(h)[c] = p.agg == 1 ? sum / (float)(hi - lo) : sum;
            }
        }
        return out;
    }

    std::vector<int32_t> chunks_to_positions(const std::vector<int32_t>& chunks, int32_t n_past,
                                             int32_t n) const {
        std::vector<int32_t> kept;
        for (int32_t c : chunks) {
            for (int32_t j = c * p.chunk; j < std::min(n_past, (c + 1) * p.chunk); ++j)
                kept.push_back(j);
        }
        for (int32_t j = n_past; j < n; ++j)
            kept.push_back(j);
        return kept;
    }

    head_selection select_prefill(const compress_context& ctx,
                                  const layer_scores& s) const override {
        if (s.layer % p.reuse != 0) {
            throw std::logic_error("chunkkv: reuse=" + std::to_string(p.reuse) + " makes layer " +
                                   std::to_string(s.layer) +
                                   " copy an earlier layer; call select_prefill_layers");
        }
        const int32_t nc = budget_compressible(ctx, s.n, p.win.protect_question, "chunkkv");
        const int32_t b = budget_tokens(ctx.keep_ratio, nc), w = p.win.window;
        return budget_select(nc, s.n, b, w, cache_heads(s), [&] {
            const int32_t n_past = nc - w, k = (b - w) / p.chunk;
            score_matrix tok = scoring_window_sums(s, w, n_past, "chunkkv");
            if (!per_head()) {
                std::vector<double> total =
                    scoring_sum_heads(ctx.tp, chunk_scores(tok), s.head_offset);
                std::vector<int32_t> chunks = scoring_top_k(total.data(), (int32_t)total.size(), k);
                return budget_same_for_heads(cache_heads(s),
                                             chunks_to_positions(chunks, n_past, nc));
            }
            score_matrix cs = chunk_scores(scoring_gqa_reduce(tok, s.n_kv_heads, p.win.gqa));
            head_selection out((size_t)cs.rows);
            for (int32_t h = 0; h < cs.rows; ++h) {
                out[h] = chunks_to_positions(scoring_top_k(cs.row(h), cs.cols, k), n_past, nc);
            }
            return out;
        });
    }

    std::vector<head_selection>
    select_prefill_layers(const compress_context& ctx,
                          const std::vector<layer_scores>& layers) const override {
        std::vector<head_selection> out;
        for (const layer_scores& s : layers) {
            out.push_back(s.layer % p.reuse == 0 ? select_prefill(ctx, s) : out.back());
        }
        return out;
    }

    kept_range expected_prefill_kept(const compress_context& ctx, int32_t layer, int32_t n_layers,
                                     int32_t n) const override {
        (void)layer;
        (void)n_layers;
        const int32_t nc = budget_compressible(ctx, n, p.win.protect_question, "chunkkv");
        const int32_t b = budget_tokens(ctx.keep_ratio, nc), w = p.win.window, suffix = n - nc;
        if (b >= nc || b <= w) return {budget_kept(nc, n, b), budget_kept(nc, n, b)};
        const int32_t n_past = nc - w, k = (b - w) / p.chunk;
        if (k == 0) return {w + suffix, w + suffix};
        const int32_t last = n_past - (n_past - 1) / p.chunk * p.chunk; // the short tail chunk
        return {w + (k - 1) * p.chunk + last + suffix, w + k * p.chunk + suffix};
    }
};

} // namespace

std::unique_ptr<compressor> chunkkv_create(const nlohmann::json& given) {
    auto c = std::make_unique<chunkkv>();
    param_reader r("chunkkv", c->params(), given);
    c->p.win = r.get_window();
    c->p.chunk = r.get_int("chunk", 1, 1 << 20);
    c->p.scope = r.get_choice("scope", chunk_scopes);
    c->p.agg = r.get_choice("agg", chunk_aggs);
    c->p.reuse = r.get_int("reuse", 1, 1 << 10);
    return c;
}
