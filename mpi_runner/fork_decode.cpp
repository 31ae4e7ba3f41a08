#include "mpi_runner/fork_decode.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "engine/tokenizer.h"

using json = nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string fork_name(const fork_spec& f) {
    return (f.method ? f.method->name() : std::string("fullkv")) + " ratio " +
           std::to_string(f.ratio);
}

// Kept positions of every layer and cache head, as the --dump-selection event format has them.
json selection_event(const kv_cache& cache, const char* phase, int32_t step) {
    json layers = json::array();
    for (int l = 0; l < cache.n_layers; ++l) {
        json heads = json::array();
        for (int h = 0; h < cache.n_heads; ++h) heads.push_back(cache.at(l, h).pos);
        layers.push_back({{"layer", l}, {"heads", heads}});
    }
    return {{"phase", phase}, {"step", step}, {"layers", layers}};
}

// One sequence of the decode batch: a fork generating its own tokens, or (for KL) a "shadow"
// copy of a compressed fork that is fed FullKV's tokens instead.
struct sequence {
    int fork = 0;
    bool shadow = false;
    kv_cache cache;
    std::vector<float> first_logits; // [vocab] logits after the prefill
    int32_t feed = -1;               // token to feed at the next step
    bool active = true;
    double kl_sum = 0;
    int64_t kl_steps = 0;
};

// Global index of a cache's first head on this rank: caches expanded per query head
// (gqa_mode=query_head) count query heads.
int32_t cache_head_offset(const kv_cache& cache, const model_shard& shard) {
    return cache.n_heads == shard.n_kv_heads ? shard.kv_head_offset : shard.head_offset;
}

// Sums non-negative counts over the tensor-parallel group exactly: the collective moves floats,
// so each value travels as four 16-bit pieces and is summed in int64.
void group_sum_counts(collective* tp, std::vector<int64_t>& v) {
    if (!tp || tp->size() == 1) return;
    constexpr int pieces = 4;
    const int64_t count = (int64_t)v.size() * pieces;
    std::vector<float> mine((size_t)count), all((size_t)(count * tp->size()));
    for (size_t i = 0; i < v.size(); ++i)
        for (int p = 0; p < pieces; ++p)
            mine[i * pieces + p] = (float)(((uint64_t)v[i] >> (16 * p)) & 0xffff);
    tp->all_gather(mine.data(), count, all.data());
    for (size_t i = 0; i < v.size(); ++i) {
        uint64_t sum = 0;
        for (int r = 0; r < tp->size(); ++r)
            for (int p = 0; p < pieces; ++p)
                sum += (uint64_t)all[(size_t)r * count + i * pieces + p] << (16 * p);
        v[i] = (int64_t)sum;
    }
}

// Applies a decode-phase method after one step: the method sees each layer's entries and scores.
bool compress_after_step(const compressor& c, const compress_context& ctx, kv_cache& cache,
                         int32_t head_offset, int32_t n_prompt, int32_t n_generated) {
    bool changed = false;
    for (int l = 0; l < cache.n_layers; ++l) {
        decode_layer_view v;
        v.head_offset = head_offset;
        v.layer = l;
        v.n_layers = cache.n_layers;
        v.n_prompt = n_prompt;
        v.n_generated = n_generated;
        for (int h = 0; h < cache.n_heads; ++h) {
            const kv_head_cache& hc = cache.at(l, h);
            v.pos.push_back(hc.pos.data());
            v.score.push_back(hc.score.empty() ? nullptr : hc.score.data());
            v.count.push_back((int32_t)hc.pos.size());
        }
        head_selection keep;
        if (!c.select_decode(ctx, v, keep)) continue;
        if ((int)keep.size() != cache.n_heads)
            throw std::runtime_error(c.name() + ": select_decode returned " +
                                     std::to_string(keep.size()) + " heads for layer " +
                                     std::to_string(l) + ", cache has " +
                                     std::to_string(cache.n_heads));
        for (int h = 0; h < cache.n_heads; ++h) cache.keep(l, h, keep[h]);
        changed = true;
    }
    return changed;
}

} // namespace

int32_t argmax_token(const float* logits, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

double kl_divergence(const float* p, const float* q, int32_t n) {
    const double mp = *std::max_element(p, p + n), mq = *std::max_element(q, q + n);
    double zp = 0, zq = 0;
    for (int32_t i = 0; i < n; ++i) {
        zp += std::exp(p[i] - mp);
        zq += std::exp(q[i] - mq);
    }
    const double lzp = std::log(zp) + mp, lzq = std::log(zq) + mq;
    double kl = 0;
    for (int32_t i = 0; i < n; ++i) {
        const double lp = p[i] - lzp, lq = q[i] - lzq;
        kl += std::exp(lp) * (lp - lq);
    }
    return std::max(0.0, kl);
}

std::vector<layer_scores> layer_scores_from_captures(const model_config& cfg, int32_t n,
                                                     const std::vector<layer_capture>& captures,
                                                     const model_shard* shard) {
    // Without a capture request the engine returns no captures; methods still get n.
    const bool captured = (int)captures.size() == cfg.n_layers;
    std::vector<layer_scores> scores;
    for (int l = 0; l < cfg.n_layers; ++l) {
        layer_scores s;
        s.layer = l;
        s.n_layers = cfg.n_layers;
        s.n = n;
        s.n_heads = shard ? shard->n_heads : cfg.n_heads;
        s.n_kv_heads = shard ? shard->n_kv_heads : cfg.n_kv_heads;
        s.head_offset = shard ? shard->head_offset : 0;
        if (captured) {
            const layer_capture& c = captures[l];
            s.window = c.window;
            s.window_attn = c.window_attn.empty() ? nullptr : c.window_attn.data();
            s.column_sums = c.column_sums.empty() ? nullptr : c.column_sums.data();
        }
        scores.push_back(s);
    }
    return scores;
}

std::vector<fork_result> fork_decode(const fork_request& req, const std::vector<fork_spec>& forks) {
    const model& m = *req.m;
    const model_config& cfg = model_get_config(m);
    const model_shard shard = model_get_shard(m);
    const int group_size = req.tp ? req.tp->size() : 1;
    if (shard.size != group_size)
        throw std::invalid_argument("fork_decode: the model is split over " +
                                    std::to_string(shard.size) + " ranks, the request's group has " +
                                    std::to_string(group_size));
    const std::vector<int32_t>& tokens = req.prompt->tokens;
    const int32_t n = (int32_t)tokens.size(), vocab = cfg.vocab_size;
    if (n == 0) throw std::invalid_argument("fork_decode: empty prompt");
    if (req.max_new_tokens < 1) throw std::invalid_argument("fork_decode: max_new_tokens < 1");
    if (n + req.max_new_tokens > cfg.max_seq_len)
        throw std::invalid_argument("prompt of " + std::to_string(n) + " tokens + " +
                                    std::to_string(req.max_new_tokens) +
                                    " new tokens exceeds the model's context of " +
                                    std::to_string(cfg.max_seq_len));
    int reference = -1; // the FullKV fork (KL reference)
    for (size_t i = 0; i < forks.size(); ++i)
        if (!forks[i].method && reference < 0) reference = (int)i;
    if (req.kl && reference < 0) throw std::invalid_argument("fork_decode: KL needs a FullKV fork");

    // ---- one shared prefill with the union of the capture needs ----
    prefill_capture_request shared;
    int n_shared = 0;
    for (const auto& f : forks) {
        if (f.method && f.method->needs().drops_prefill_rows) continue;
        ++n_shared;
        if (!f.method) continue;
        const capture_needs nd = f.method->needs();
        if (nd.column_sums_kvcf_mask)
            throw std::invalid_argument(fork_name(f) + ": the kvcf_ffac160_bug column-sum mask "
                                        "is not captured by the engine");
        shared.window_rows = std::max(shared.window_rows, std::min(nd.window_rows, n));
        shared.column_sums = shared.column_sums || nd.column_sums;
    }
    std::vector<fork_result> results(forks.size());
    kv_cache base = model_new_cache(m);
    std::vector<layer_capture> captures;
    std::vector<float> base_logits;
    std::vector<layer_scores> scores;
    if (n_shared > 0) {
        const auto t0 = std::chrono::steady_clock::now();
        model_prefill(m, base, tokens, 0, shared, &captures, base_logits);
        const double share = seconds_since(t0) / n_shared;
        for (size_t i = 0; i < forks.size(); ++i)
            if (!forks[i].method || !forks[i].method->needs().drops_prefill_rows)
                results[i].prefill_s = share;
        scores = layer_scores_from_captures(cfg, n, captures, &shard);
    }

    // ---- fork and compress ----
    std::vector<sequence> seqs;
    for (size_t i = 0; i < forks.size(); ++i) {
        const fork_spec& f = forks[i];
        fork_result& r = results[i];
        const auto t0 = std::chrono::steady_clock::now();
        sequence s;
        s.fork = (int)i;
        const compress_context ctx{f.ratio, &req.prompt->spans, req.tp};
        if (!f.method) {
            s.cache = base;
            s.first_logits = base_logits;
        } else if (f.method->needs().drops_prefill_rows) {
            // PyramidInfer drops hidden-state rows inside the prefill: its own prefill.
            prefill_capture_request own;
            own.recent_rows = f.method->prefill_recent_rows(n);
            const compressor* c = f.method;
            own.drop_rows = [&, c](int32_t layer, const std::vector<int32_t>& positions,
                                   const float* mean, int32_t n_recent) {
                return c->select_prefill_rows(ctx, layer, cfg.n_layers, n, positions, mean,
                                              n_recent);
            };
            s.cache = model_new_cache(m);
            if (f.method->needs().decode_scores) s.cache.track_scores = true;
            model_prefill(m, s.cache, tokens, 0, own, nullptr, s.first_logits);
        } else {
            const capture_needs nd = f.method->needs();
            s.cache = base;
            if (nd.per_query_head) s.cache.expand_heads(cfg.n_heads / cfg.n_kv_heads);
            const std::vector<head_selection> sel = f.method->select_prefill_layers(ctx, scores);
            if ((int)sel.size() != cfg.n_layers)
                throw std::runtime_error(fork_name(f) + ": selection for " +
                                         std::to_string(sel.size()) + " layers, model has " +
                                         std::to_string(cfg.n_layers));
            for (int l = 0; l < cfg.n_layers; ++l) {
                if ((int)sel[l].size() != s.cache.n_heads)
                    throw std::runtime_error(fork_name(f) + ": layer " + std::to_string(l) +
                                             " selects for " + std::to_string(sel[l].size()) +
                                             " heads, cache has " +
                                             std::to_string(s.cache.n_heads));
                for (int h = 0; h < s.cache.n_heads; ++h) s.cache.keep(l, h, sel[l][h]);
            }
            if (nd.decode_scores) {
                s.cache.track_scores = true;
                for (int l = 0; l < cfg.n_layers; ++l) {
                    auto init = f.method->decode_initial_scores(ctx, scores[l], sel[l]);
                    for (int h = 0; h < s.cache.n_heads; ++h)
                        s.cache.at(l, h).score = std::move(init[h]);
                }
            }
            s.first_logits = base_logits;
        }
        if (f.method) {
            std::vector<std::vector<int64_t>> kept(cfg.n_layers);
            for (int l = 0; l < cfg.n_layers; ++l)
                for (int h = 0; h < s.cache.n_heads; ++h) kept[l].push_back(s.cache.size(l, h));
            compressor_check_kept(*f.method, ctx, n, kept);
        }
        r.kept_per_layer = s.cache.entries_per_layer(); // this rank's heads until the group sum
        r.kv_bytes_prefill = s.cache.bytes();
        if (f.dump_selection) r.selection.push_back(selection_event(s.cache, "prefill", 0));
        r.prefill_s += seconds_since(t0);
        // The first token comes from the prefill logits (spec section 12).
        s.feed = argmax_token(s.first_logits.data(), vocab);
        if (req.kl && f.method) {
            sequence shadow;
            shadow.fork = (int)i;
            shadow.shadow = true;
            shadow.cache = s.cache;
            shadow.first_logits = s.first_logits;
            seqs.push_back(std::move(s));
            seqs.push_back(std::move(shadow));
        } else {
            seqs.push_back(std::move(s));
        }
    }
    base = kv_cache(); // free the shared prefill cache before decoding
    captures.clear();

    int ref_seq = -1;
    for (size_t k = 0; k < seqs.size(); ++k)
        if (seqs[k].fork == reference && !seqs[k].shadow) ref_seq = (int)k;
    if (req.kl) {
        // Step 0 of the KL: the prefill logits (zero except for PyramidInfer's own prefill).
        for (auto& s : seqs)
            if (s.shadow) {
                s.kl_sum += kl_divergence(seqs[ref_seq].first_logits.data(), s.first_logits.data(), vocab);
                s.kl_steps = 1;
                s.feed = seqs[ref_seq].feed;
            }
    }

    // ---- batched greedy decoding, each fork stopping on its own ----
    // Stop check after a token is appended: end-of-generation token, stop string, length.
    auto accept = [&](sequence& s, int32_t token) {
        fork_result& r = results[s.fork];
        if (!req.tok) { // benchmarks on tokenizer-less random models: length only
            r.tokens.push_back(token);
            if ((int32_t)r.tokens.size() >= req.max_new_tokens) r.stop_reason = "length", s.active = false;
            return;
        }
        if (tokenizer_is_eog(*req.tok, token)) {
            r.stop_reason = "eog";
            s.active = false;
            return;
        }
        r.tokens.push_back(token);
        r.text = tokenizer_decode(*req.tok, r.tokens);
        for (const auto& stop : req.stop) {
            const size_t at = r.text.find(stop);
            if (at != std::string::npos) {
                r.text.resize(at);
                r.stop_reason = "stop";
                s.active = false;
                return;
            }
        }
        if ((int32_t)r.tokens.size() >= req.max_new_tokens) {
            r.stop_reason = "length";
            s.active = false;
        }
    };
    for (auto& s : seqs)
        if (!s.shadow) accept(s, s.feed);
    if (req.kl)
        for (auto& s : seqs)
            if (s.shadow) s.active = seqs[ref_seq].active;

    std::vector<decode_slot> batch;
    std::vector<int> batch_seq;
    std::vector<float> logits;
    for (int32_t step = 1;; ++step) {
        batch.clear();
        batch_seq.clear();
        for (size_t k = 0; k < seqs.size(); ++k) {
            if (!seqs[k].active) continue;
            // Every sequence feeds its previous token at position n + step - 1: kept entries
            // keep their original positions whatever was evicted.
            batch.push_back({&seqs[k].cache, seqs[k].feed, n + step - 1});
            batch_seq.push_back((int)k);
        }
        if (batch.empty()) break;
        const auto t0 = std::chrono::steady_clock::now();
        model_decode(m, batch, logits);
        const double share = seconds_since(t0) / (double)batch.size();
        const float* ref_row = nullptr;
        for (size_t b = 0; b < batch.size(); ++b)
            if (batch_seq[b] == ref_seq) ref_row = logits.data() + b * vocab;
        for (size_t b = 0; b < batch.size(); ++b) {
            sequence& s = seqs[batch_seq[b]];
            const auto tc = std::chrono::steady_clock::now();
            const fork_spec& f = forks[s.fork];
            const float* row = logits.data() + b * vocab;
            if (s.shadow) {
                s.kl_sum += kl_divergence(ref_row, row, vocab);
                s.kl_steps += 1;
            } else {
                s.feed = argmax_token(row, vocab);
            }
            if (f.method) {
                const compress_context ctx{f.ratio, &req.prompt->spans, req.tp};
                const bool evicted = compress_after_step(*f.method, ctx, s.cache,
                                                         cache_head_offset(s.cache, shard), n, step);
                if (evicted && f.dump_selection && !s.shadow)
                    results[s.fork].selection.push_back(selection_event(s.cache, "decode", step));
            }
            results[s.fork].decode_s += share + seconds_since(tc);
        }
        // Accept tokens after all rows are read: shadows follow the reference's new token.
        for (int k : batch_seq)
            if (!seqs[k].shadow) accept(seqs[k], seqs[k].feed);
        if (req.kl)
            for (int k : batch_seq)
                if (seqs[k].shadow) {
                    seqs[k].feed = seqs[ref_seq].feed;
                    seqs[k].active = seqs[ref_seq].active;
                }
    }
    std::vector<int> cache_heads(forks.size()); // per rank
    for (auto& s : seqs) {
        if (s.shadow) {
            results[s.fork].mean_kl = s.kl_steps ? s.kl_sum / (double)s.kl_steps : 0.0;
        } else {
            results[s.fork].kv_bytes_final = s.cache.bytes();
            cache_heads[s.fork] = s.cache.n_heads;
            if (req.kl && !forks[s.fork].method) results[s.fork].mean_kl = 0;
        }
    }
    // Cache sizes over the whole group, in one collective: [fork][kept_per_layer..., bytes x2].
    std::vector<int64_t> sizes;
    for (const fork_result& r : results) {
        sizes.insert(sizes.end(), r.kept_per_layer.begin(), r.kept_per_layer.end());
        sizes.push_back(r.kv_bytes_prefill);
        sizes.push_back(r.kv_bytes_final);
    }
    group_sum_counts(req.tp, sizes);
    auto at = sizes.begin();
    for (size_t i = 0; i < results.size(); ++i) {
        fork_result& r = results[i];
        std::copy(at, at + cfg.n_layers, r.kept_per_layer.begin());
        r.kv_bytes_prefill = at[cfg.n_layers];
        r.kv_bytes_final = at[cfg.n_layers + 1];
        at += cfg.n_layers + 2;
        int64_t kept_total = 0;
        for (int64_t k : r.kept_per_layer) kept_total += k;
        r.kept_fraction =
            (double)kept_total / ((double)cfg.n_layers * cache_heads[i] * shard.size * n);
    }
    return results;
}
