// Forward-pass invariants on small random models: batch invariance of decoding, prefill vs
// token-by-token decoding, cache forks, no-op compression, captures and row dropping.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "engine/model.h"
#include "engine/ops.h"

namespace {

model_config tiny_config() {
    model_config c;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 3;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 16;
    c.vocab_size = 40;
    c.max_seq_len = 256;
    c.rope_theta = 500000.0f;
    c.rope_scaling = {"llama3", 8.0f, 1.0f, 4.0f, 32};
    return c;
}

std::vector<int32_t> prompt(int n, int salt) {
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; ++i) t[i] = (i * 7 + salt * 13 + 1) % 40;
    return t;
}

std::vector<float> prefill(const model& m, kv_cache& cache, const std::vector<int32_t>& tokens) {
    std::vector<float> logits;
    model_prefill(m, cache, tokens, 0, {}, nullptr, logits);
    return logits;
}

int argmax(const float* x, int n) { return (int)(std::max_element(x, x + n) - x); }

float max_rel_err(const float* a, const float* b, int n) {
    float scale = 0.0f, err = 0.0f;
    for (int i = 0; i < n; ++i) {
        scale = std::max(scale, std::fabs(b[i]));
        err = std::max(err, std::fabs(a[i] - b[i]));
    }
    return err / scale;
}

class model_test : public ::testing::TestWithParam<weight_type> {};

// Five sequences of different lengths decoded together give bit-identical logits to each decoded
// alone, for several steps (greedy feedback), and with one or two threads.
TEST_P(model_test, decode_batch_is_bitwise_invariant) {
    auto m = model_create_random(tiny_config(), 11, GetParam());
    const int V = 40, S = 5, steps = 6;
    std::vector<std::vector<float>> alone(S);
    for (int threads : {1, 2}) {
        ops_set_n_threads(threads);
        for (int s = 0; s < S; ++s) {
            kv_cache cache = model_new_cache(*m);
            const std::vector<int32_t> p = prompt(3 + 4 * s, s);
            std::vector<float> logits = prefill(*m, cache, p);
            std::vector<float> trace;
            int32_t pos = (int32_t)p.size();
            for (int t = 0; t < steps; ++t) {
                std::vector<decode_slot> one = {{&cache, argmax(logits.data(), V), pos++}};
                model_decode(*m, one, logits);
                trace.insert(trace.end(), logits.begin(), logits.end());
            }
            if (threads == 1) alone[s] = trace;
            else EXPECT_EQ(0, std::memcmp(trace.data(), alone[s].data(), trace.size() * 4)) << "threads " << s;
        }
    }
    std::vector<kv_cache> caches;
    std::vector<std::vector<float>> last(S);
    std::vector<int32_t> pos(S);
    for (int s = 0; s < S; ++s) {
        caches.push_back(model_new_cache(*m));
        const std::vector<int32_t> p = prompt(3 + 4 * s, s);
        last[s] = prefill(*m, caches[s], p);
        pos[s] = (int32_t)p.size();
    }
    for (int t = 0; t < steps; ++t) {
        std::vector<decode_slot> batch;
        for (int s = 0; s < S; ++s) batch.push_back({&caches[s], argmax(last[s].data(), V), pos[s]++});
        std::vector<float> logits;
        model_decode(*m, batch, logits);
        for (int s = 0; s < S; ++s) {
            last[s].assign(logits.begin() + s * V, logits.begin() + (s + 1) * V);
            EXPECT_EQ(0, std::memcmp(last[s].data(), alone[s].data() + t * V, V * 4)) << "seq " << s << " step " << t;
        }
    }
}

// Prefill (sgemm, blocked attention) and token-by-token decoding (own kernels) agree closely: to
// float rounding for F32 and BF16 (~1e-6 here). Q8_0 decoding rounds its inputs to int16 per block
// of 32 (2^-16 of the block's maximum), which over 3 layers of random weights makes ~1e-4 (8e-5 to
// 1.2e-4 for the kernels' summation orders so far).
TEST_P(model_test, prefill_matches_token_by_token_decode) {
    const float tol = GetParam() == WEIGHT_Q8_0 ? 3e-4f : 1e-5f;
    auto m = model_create_random(tiny_config(), 12, GetParam());
    const std::vector<int32_t> p = prompt(150, 3); // > one attention block of 64 rows
    kv_cache a = model_new_cache(*m);
    const std::vector<float> full = prefill(*m, a, p);
    kv_cache b = model_new_cache(*m);
    std::vector<float> logits;
    for (size_t i = 0; i < p.size(); ++i) {
        std::vector<decode_slot> one = {{&b, p[i], (int32_t)i}};
        model_decode(*m, one, logits);
    }
    EXPECT_LT(max_rel_err(full.data(), logits.data(), 40), tol);
    for (int l = 0; l < 3; ++l)
        for (int h = 0; h < 2; ++h) {
            EXPECT_EQ(a.at(l, h).pos, b.at(l, h).pos);
            EXPECT_LT(max_rel_err(a.at(l, h).k.data(), b.at(l, h).k.data(), (int)a.at(l, h).k.size()), tol)
                << "layer " << l << " head " << h;
        }
}

// Prefilling a prompt in two calls (the second at its true start position, attending to the
// cache of the first) gives the logits of one call.
TEST_P(model_test, chunked_prefill_matches_single_prefill) {
    auto m = model_create_random(tiny_config(), 18, GetParam());
    const std::vector<int32_t> p = prompt(90, 6);
    kv_cache whole = model_new_cache(*m);
    const std::vector<float> want = prefill(*m, whole, p);
    kv_cache parts = model_new_cache(*m);
    std::vector<float> logits;
    model_prefill(*m, parts, std::vector<int32_t>(p.begin(), p.begin() + 70), 0, {}, nullptr, logits);
    model_prefill(*m, parts, std::vector<int32_t>(p.begin() + 70, p.end()), 70, {}, nullptr, logits);
    EXPECT_LT(max_rel_err(logits.data(), want.data(), 40), 1e-5f);
    EXPECT_EQ(parts.at(2, 1).pos, whole.at(2, 1).pos);
}

// After uneven compression (heads keep different positions), prefilling more tokens attends to
// what each head kept, exactly as token-by-token decoding over the same cache does.
TEST(model, prefill_over_unevenly_compressed_cache_matches_decode) {
    auto m = model_create_random(tiny_config(), 19, WEIGHT_F32);
    kv_cache base = model_new_cache(*m);
    prefill(*m, base, prompt(30, 7));
    for (int l = 0; l < 3; ++l) {
        base.keep(l, 0, {0, 1, 2, 10, 28, 29});
        base.keep(l, 1, {0, 5, 6, 7, 8, 9, 20, 25, 29});
    }
    base.track_scores = true;
    const std::vector<int32_t> more = prompt(8, 8);
    kv_cache a = base, b = base;
    std::vector<float> la, lb;
    model_prefill(*m, a, more, 30, {}, nullptr, la);
    for (int i = 0; i < 8; ++i) {
        std::vector<decode_slot> one = {{&b, more[i], 30 + i}};
        model_decode(*m, one, lb);
    }
    EXPECT_LT(max_rel_err(la.data(), lb.data(), 40), 1e-5f);
    for (int l = 0; l < 3; ++l)
        for (int h = 0; h < 2; ++h) {
            ASSERT_EQ(a.at(l, h).pos, b.at(l, h).pos);
            for (size_t j = 0; j < a.at(l, h).score.size(); ++j)
                EXPECT_NEAR(a.at(l, h).score[j], b.at(l, h).score[j], 1e-5);
        }
}

// Large enough that the kernels and attention really split across threads: one and two threads
// give the same bits (each output is computed by one thread in a fixed order).
TEST_P(model_test, thread_count_does_not_change_results) {
    model_config c = tiny_config();
    c.dim = 512;
    c.hidden_dim = 1024;
    c.n_layers = 1;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_dim = 64;
    auto m = model_create_random(c, 20, GetParam());
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2}) {
        ops_set_n_threads(threads);
        std::vector<kv_cache> caches(3, model_new_cache(*m));
        std::vector<float> logits;
        for (int s = 0; s < 3; ++s) prefill(*m, caches[s], prompt(100 + s, s));
        std::vector<float> trace;
        for (int step = 0; step < 3; ++step) {
            std::vector<decode_slot> batch;
            for (int s = 0; s < 3; ++s) batch.push_back({&caches[s], (step * 5 + s) % 40, 110 + step});
            model_decode(*m, batch, logits);
            trace.insert(trace.end(), logits.begin(), logits.end());
        }
        runs.push_back(trace);
    }
    ops_set_n_threads(2);
    EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * 4));
}

INSTANTIATE_TEST_SUITE_P(weights, model_test, ::testing::Values(WEIGHT_F32, WEIGHT_BF16, WEIGHT_Q8_0),
                         [](const auto& info) { return std::string(weight_type_name(info.param)); });

TEST(model, fork_is_independent_and_keep_all_is_a_no_op) {
    auto m = model_create_random(tiny_config(), 13, WEIGHT_F32);
    kv_cache base = model_new_cache(*m);
    const std::vector<int32_t> p = prompt(20, 1);
    prefill(*m, base, p);
    const kv_cache snapshot = base;

    kv_cache fork = base;
    std::vector<float> fork_logits;
    std::vector<decode_slot> s1 = {{&fork, 5, 20}};
    model_decode(*m, s1, fork_logits);
    // Dropping entries in the fork leaves the base alone.
    for (int l = 0; l < 3; ++l)
        for (int h = 0; h < 2; ++h) fork.keep(l, h, {0, 1, 19, 20});
    EXPECT_EQ(base.at(1, 1).pos, snapshot.at(1, 1).pos);
    EXPECT_EQ(base.at(1, 1).k, snapshot.at(1, 1).k);

    // A fork "compressed" to every position decodes exactly like the uncompressed cache.
    kv_cache same = base;
    for (int l = 0; l < 3; ++l)
        for (int h = 0; h < 2; ++h) same.keep(l, h, std::vector<int32_t>(same.at(l, h).pos));
    std::vector<float> same_logits;
    std::vector<decode_slot> s2 = {{&same, 5, 20}};
    model_decode(*m, s2, same_logits);
    EXPECT_EQ(0, std::memcmp(same_logits.data(), fork_logits.data(), 40 * 4));

    // Decoding at a true position far past the cache length is allowed and differs from pos 20.
    kv_cache gap = base;
    std::vector<float> gap_logits;
    std::vector<decode_slot> s3 = {{&gap, 5, 90}};
    model_decode(*m, s3, gap_logits);
    EXPECT_NE(0, std::memcmp(gap_logits.data(), fork_logits.data(), 40 * 4));
    EXPECT_EQ(gap.at(0, 0).pos.back(), 90);
}

// An expanded (per-query-head) cache with every entry kept decodes exactly like the shared one.
TEST(model, expanded_cache_matches_shared_cache) {
    auto m = model_create_random(tiny_config(), 14, WEIGHT_F32);
    kv_cache shared = model_new_cache(*m);
    prefill(*m, shared, prompt(12, 2));
    kv_cache expanded = shared;
    expanded.expand_heads(2);
    std::vector<float> a, b;
    std::vector<decode_slot> sa = {{&shared, 7, 12}}, sb = {{&expanded, 7, 12}};
    model_decode(*m, sa, a);
    model_decode(*m, sb, b);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), 40 * 4));
    EXPECT_EQ(expanded.size(2, 3), 13);
}

TEST(model, captures_are_consistent) {
    auto m = model_create_random(tiny_config(), 15, WEIGHT_F32);
    const int n = 70, H = 4;
    kv_cache cache = model_new_cache(*m);
    cache.track_scores = true;
    prefill_capture_request req;
    req.window_rows = n; // the whole matrix, to check the column sums against it
    req.column_sums = true;
    std::vector<layer_capture> caps;
    std::vector<float> logits;
    model_prefill(*m, cache, prompt(n, 4), 0, req, &caps, logits);
    ASSERT_EQ(caps.size(), 3u);
    for (int l = 0; l < 3; ++l) {
        const layer_capture& c = caps[l];
        ASSERT_EQ(c.n, n);
        ASSERT_EQ(c.window, n);
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < n; ++i) {
                const float* row = c.window_attn.data() + ((size_t)h * n + i) * n;
                EXPECT_NEAR(std::accumulate(row, row + n, 0.0), 1.0, 1e-5);
                for (int j = i + 1; j < n; ++j) EXPECT_EQ(row[j], 0.0f); // causal
            }
        for (int h = 0; h < H; ++h)
            for (int j = 0; j < n; ++j) {
                double s = 0;
                for (int i = 0; i < n; ++i) s += c.window_attn[((size_t)h * n + i) * n + j];
                EXPECT_NEAR(c.column_sums[(size_t)h * n + j], s, 1e-4);
            }
        // Tracked scores of KV head 0 = column sums of its query heads 0 and 1.
        for (int j = 0; j < n; ++j)
            EXPECT_NEAR(cache.at(l, 0).score[j], c.column_sums[j] + c.column_sums[n + j], 1e-4);
    }
    // A decode step adds one probability row per query head: total score grows by H per layer.
    double before = 0, after = 0;
    for (int h = 0; h < 2; ++h) before += std::accumulate(cache.at(1, h).score.begin(), cache.at(1, h).score.end(), 0.0);
    std::vector<decode_slot> s = {{&cache, 3, n}};
    model_decode(*m, s, logits);
    for (int h = 0; h < 2; ++h) after += std::accumulate(cache.at(1, h).score.begin(), cache.at(1, h).score.end(), 0.0);
    EXPECT_NEAR(after - before, H, 1e-4);

    // Tracking switched on after the prefill starts from zero scores; a mismatched vector is refused.
    kv_cache late = model_new_cache(*m);
    prefill(*m, late, prompt(10, 4));
    late.track_scores = true;
    std::vector<decode_slot> s_late = {{&late, 3, 10}};
    model_decode(*m, s_late, logits);
    EXPECT_EQ(late.at(0, 1).score.size(), 11u);
    EXPECT_NEAR(std::accumulate(late.at(0, 1).score.begin(), late.at(0, 1).score.end(), 0.0), 2.0, 1e-5);
    late.at(0, 1).score.resize(3);
    s_late = {{&late, 3, 11}};
    EXPECT_THROW(model_decode(*m, s_late, logits), std::invalid_argument);

    // A short window captures the last rows of the same matrix.
    kv_cache c2 = model_new_cache(*m);
    prefill_capture_request small;
    small.window_rows = 8;
    std::vector<layer_capture> caps2;
    model_prefill(*m, c2, prompt(n, 4), 0, small, &caps2, logits);
    for (int h = 0; h < H; ++h)
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < n; ++j)
                EXPECT_EQ(caps2[2].window_attn[((size_t)h * 8 + i) * n + j],
                          caps[2].window_attn[((size_t)h * n + n - 8 + i) * n + j]);
    EXPECT_TRUE(caps2[2].column_sums.empty());
}

TEST(model, drop_rows_keeps_nested_rows_and_positions) {
    auto m = model_create_random(tiny_config(), 16, WEIGHT_F32);
    const int n = 40;
    const std::vector<int32_t> p = prompt(n, 5);
    kv_cache plain = model_new_cache(*m);
    const std::vector<float> plain_logits = prefill(*m, plain, p);

    // Keeping every row is exactly a plain prefill.
    prefill_capture_request keep_all;
    keep_all.recent_rows = 4;
    keep_all.drop_rows = [](int32_t, const std::vector<int32_t>& pos, const float* attn, int32_t recent) {
        EXPECT_EQ(recent, 4);
        for (int i = 0; i < recent; ++i) // head means of softmax rows sum to 1
            EXPECT_NEAR(std::accumulate(attn + (size_t)i * pos.size(), attn + (size_t)(i + 1) * pos.size(), 0.0), 1.0, 1e-5);
        std::vector<int32_t> all(pos.size());
        std::iota(all.begin(), all.end(), 0);
        return all;
    };
    kv_cache c1 = model_new_cache(*m);
    std::vector<float> logits;
    model_prefill(*m, c1, p, 0, keep_all, nullptr, logits);
    EXPECT_EQ(0, std::memcmp(logits.data(), plain_logits.data(), 40 * 4));

    // Dropping every other early row: layer l+1 holds only the rows kept after layer l, at their
    // original positions.
    prefill_capture_request drop;
    drop.recent_rows = 4;
    drop.drop_rows = [](int32_t, const std::vector<int32_t>& pos, const float*, int32_t) {
        std::vector<int32_t> kept;
        for (int i = 0; i < (int)pos.size(); ++i)
            if (i % 2 == 0 || i + 8 >= (int)pos.size()) kept.push_back(i);
        return kept;
    };
    kv_cache c2 = model_new_cache(*m);
    model_prefill(*m, c2, p, 0, drop, nullptr, logits);
    EXPECT_EQ(c2.size(0, 0), n);
    EXPECT_LT(c2.size(1, 0), n);
    EXPECT_LT(c2.size(2, 0), c2.size(1, 0));
    for (int32_t q : c2.at(2, 1).pos)
        EXPECT_NE(std::find(c2.at(1, 1).pos.begin(), c2.at(1, 1).pos.end(), q), c2.at(1, 1).pos.end());
    EXPECT_EQ(c2.at(2, 0).pos.back(), n - 1);
    EXPECT_EQ(c2.at(2, 0).pos[1], 4); // rows 0,2,4 after layer 0, then 0,4 after layer 1

    // Forgetting the last row is refused.
    prefill_capture_request bad;
    bad.drop_rows = [](int32_t, const std::vector<int32_t>&, const float*, int32_t) { return std::vector<int32_t>{0}; };
    kv_cache c3 = model_new_cache(*m);
    EXPECT_THROW(model_prefill(*m, c3, p, 0, bad, nullptr, logits), std::invalid_argument);
}

TEST(model, bad_inputs_fail_clearly) {
    auto m = model_create_random(tiny_config(), 17, WEIGHT_F32);
    kv_cache cache = model_new_cache(*m);
    std::vector<float> logits;
    EXPECT_THROW(model_prefill(*m, cache, {1, 40}, 0, {}, nullptr, logits), std::invalid_argument);
    EXPECT_THROW(model_prefill(*m, cache, {}, 0, {}, nullptr, logits), std::invalid_argument);
    prefill(*m, cache, {1, 2, 3});
    std::vector<decode_slot> stale = {{&cache, 1, 2}};
    EXPECT_THROW(model_decode(*m, stale, logits), std::invalid_argument);
    EXPECT_EQ(cache.size(0, 0), 3); // nothing appended by the refused call
    std::vector<decode_slot> twice = {{&cache, 1, 3}, {&cache, 1, 4}};
    EXPECT_THROW(model_decode(*m, twice, logits), std::invalid_argument);
    kv_cache wrong(3, 3, 16);
    std::vector<decode_slot> shape = {{&wrong, 1, 0}};
    EXPECT_THROW(model_decode(*m, shape, logits), std::invalid_argument);
    model_config odd = tiny_config();
    odd.n_kv_heads = 3;
    EXPECT_THROW(model_create_random(odd, 1, WEIGHT_F32), std::invalid_argument);
    EXPECT_THROW(weight_type_from_name("q4"), std::invalid_argument);
}

} // namespace
