// Decoding phase over a 200-step simulated generation with synthetic accumulated scores:
// budgets hold at every step, protected entries stay, prefill-only methods never evict.
#include <gtest/gtest.h>

#include <cmath>

#include "fixtures.h"

namespace {

constexpr int32_t steps = 200;

// One layer of `heads` cache heads holding `prompt_kept` after prefill; each step appends the
// next position and adds random attention to every held entry.
struct decode_sim {
    fake_decode_layer cache;
    int32_t n;
    std::mt19937 rng{123};

    decode_sim(int32_t n_prompt, int32_t heads, const std::vector<int32_t>& prompt_kept)
        : n(n_prompt) {
        cache.pos.assign(heads, prompt_kept);
        cache.score.assign(heads, std::vector<float>(prompt_kept.size(), 0.0f));
    }
    void append(int32_t t) {
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        for (size_t h = 0; h < cache.pos.size(); ++h) {
            cache.pos[h].push_back(n + t);
            cache.score[h].push_back(0.0f);
            for (float& s : cache.score[h])
                s += u(rng);
        }
    }
    // Appends token t (0-based), lets the compressor evict; returns whether it did.
    bool step(const compressor& c, const compress_context& ctx, int32_t t, int32_t layer = 0,
              int32_t n_layers = 1) {
        append(t);
        head_selection keep;
        const bool evict = c.select_decode(ctx, cache.view(layer, n_layers, n, t + 1), keep);
        if (evict) cache.keep(keep);
        return evict;
    }
    int32_t generated_held(int32_t h) const {
        return (int32_t)std::count_if(cache.pos[h].begin(), cache.pos[h].end(),
                                      [this](int32_t p) { return p >= n; });
    }
};

bool holds(const std::vector<int32_t>& v, int32_t p) {
    return std::binary_search(v.begin(), v.end(), p);
}

} // namespace

TEST(decode, streaming_llm_sliding_window_keeps_b_entries_and_sinks) {
    auto c = compressor_create("streaming_llm", {{"decode_compression", true}});
    const int32_t n = 100, b = 30;
    decode_sim sim(n, 2, concat(range(0, 4), range(74, 100)));
    for (int32_t t = 0; t < steps; ++t) {
        sim.step(*c, ratio_ctx(0.3), t);
        for (int32_t h = 0; h < 2; ++h) {
            ASSERT_EQ((int32_t)sim.cache.pos[h].size(), b) << "step " << t;
            EXPECT_EQ(std::vector<int32_t>(sim.cache.pos[h].begin(), sim.cache.pos[h].begin() + 4),
                      range(0, 4));
            EXPECT_EQ(sim.cache.pos[h].back(), n + t);
            EXPECT_EQ(sim.cache.pos[h][4], n + t - (b - 5)); // the rest is the most recent
        }
    }
}

TEST(decode, h2o_heavy_plus_recent_holds_b_entries) {
    auto c = compressor_create("h2o", {{"decode_compression", true}});
    const int32_t n = 100, b = 40, recent = 20; // w_r = max(8, 40/2)
    decode_sim sim(n, 2, concat(range(0, 32), range(92, 100)));
    for (int32_t t = 0; t < steps; ++t) {
        ASSERT_TRUE(sim.step(*c, ratio_ctx(0.4), t));
        for (int32_t h = 0; h < 2; ++h) {
            const auto& pos = sim.cache.pos[h];
            ASSERT_EQ((int32_t)pos.size(), b) << "step " << t;
            // The newest `recent` sequence positions are all held.
            for (int32_t p = n + t; p > n + t - recent; --p) {
                if (p >= 92) {
                    EXPECT_TRUE(holds(pos, p)) << "step " << t << " pos " << p;
                }
            }
        }
    }
}

TEST(decode, h2o_keeps_the_heaviest_older_entries) {
    auto c = compressor_create("h2o", {{"decode_compression", true}, {"window", 1}});
    // n = 10, r = 0.4 -> B = 4, w_r = max(1, 2) = 2: heavy 2 among the older entries.
    fake_decode_layer cache;
    cache.pos = {{0, 3, 5, 9, 10}};
    cache.score = {{0.5f, 7.0f, 2.0f, 3.0f, 0.0f}};
    head_selection keep;
    ASSERT_TRUE(c->select_decode(ratio_ctx(0.4), cache.view(0, 1, 10, 1), keep));
    EXPECT_EQ(keep, head_selection(1, {3, 5, 9, 10})); // heavy 3 (7.0), 5 (2.0); recent 9, 10
}

TEST(decode, shotkv_keeps_ceil_r_t_generated_tokens_and_the_prompt) {
    auto c = compressor_create("shotkv", {});
    const int32_t n = 50;
    const std::vector<int32_t> prompt = concat(range(0, 10), range(30, 50));
    decode_sim sim(n, 2, prompt);
    for (int32_t t = 0; t < steps; ++t) {
        sim.step(*c, ratio_ctx(0.3), t);
        const int32_t gen = t + 1;
        const int32_t want = std::max(std::min(8, gen), (int32_t)std::ceil(0.3 * gen - 1e-9));
        for (int32_t h = 0; h < 2; ++h) {
            ASSERT_EQ(sim.generated_held(h), want) << "step " << t;
            EXPECT_EQ(std::vector<int32_t>(sim.cache.pos[h].begin(),
                                           sim.cache.pos[h].begin() + prompt.size()),
                      prompt);
            for (int32_t p = n + t; p > n + t - 8 && p >= n; --p)
                EXPECT_TRUE(holds(sim.cache.pos[h], p));
        }
        EXPECT_EQ(sim.cache.pos[0], sim.cache.pos[1]); // one set per layer
    }
    EXPECT_EQ(sim.generated_held(0), 60); // ceil(0.3 * 200)
}

TEST(decode, shotkv_evicts_the_least_attended_generated_token) {
    auto c = compressor_create("shotkv", {{"decode_recent", 1}});
    fake_decode_layer cache;
    cache.pos = {{0, 1, 10, 11, 12},
                 {0, 1, 10, 11, 12}}; // n = 10, t = 3, r = 0.5 -> keep ceil(1.5) = 2
    cache.score = {{9, 9, 1.0f, 0.5f, 0}, {9, 9, 0.0f, 0.6f, 0}}; // head sums: 10 -> 1.0, 11 -> 1.1
    head_selection keep;
    ASSERT_TRUE(c->select_decode(ratio_ctx(0.5), cache.view(0, 1, 10, 3), keep));
    EXPECT_EQ(keep, head_selection(2, {0, 1, 11, 12}));
}

TEST(decode, pyramidinfer_reduces_each_block_outside_the_recent_window) {
    auto c = compressor_create("pyramidinfer", {});
    const int32_t n = 100, recent = 21, layer = 3, L = 4;
    // rho_gen at layer 3 of 4 = 0.9 * (cos(3 pi / 4) + 1) / 2 + 0.1 = 0.2318 -> int(16 * 0.9 *
    // 0.2318) = 3.
    const int32_t block_keep = 3;
    decode_sim sim(n, 2, range(0, n));
    for (int32_t t = 0; t < steps; ++t) {
        sim.step(*c, ratio_ctx(0.5), t, layer, L);
        const int32_t seq_end = n + t + 1;
        const auto& pos = sim.cache.pos[0];
        EXPECT_EQ(std::vector<int32_t>(pos.begin(), pos.begin() + n),
                  range(0, n)); // prompt untouched
        for (int32_t b = 0; n + b * 16 < seq_end; ++b) {
            const int32_t lo = n + b * 16, hi = std::min(lo + 16, seq_end);
            const int32_t held = (int32_t)(std::lower_bound(pos.begin(), pos.end(), hi) -
                                           std::lower_bound(pos.begin(), pos.end(), lo));
            const bool reduced = n + (b + 1) * 16 < seq_end - recent;
            ASSERT_EQ(held, reduced ? block_keep : hi - lo) << "step " << t << " block " << b;
        }
        EXPECT_EQ(sim.cache.pos[0], sim.cache.pos[1]);
    }
}

TEST(decode, prefill_only_methods_never_evict) {
    const char* methods[] = {"full_kv", "snapkv", "pyramidkv", "chunkkv", "h2o", "streaming_llm"};
    for (const char* m : methods) {
        auto c = compressor_create(m, {});
        decode_sim sim(100, 2, range(50, 100));
        for (int32_t t = 0; t < steps; ++t)
            ASSERT_FALSE(sim.step(*c, ratio_ctx(0.5), t)) << m;
        EXPECT_EQ(sim.cache.pos[0].size(), 50u + steps) << m; // kept + t
    }
}

TEST(decode, ratio_one_never_evicts) {
    const std::vector<std::pair<const char*, nlohmann::json>> methods = {
        {"streaming_llm", {{"decode_compression", true}}},
        {"h2o", {{"decode_compression", true}}},
        {"shotkv", {}},
        {"pyramidinfer", {}}};
    for (const auto& [m, p] : methods) {
        auto c = compressor_create(m, p);
        decode_sim sim(100, 2, range(0, 100));
        for (int32_t t = 0; t < steps; ++t)
            ASSERT_FALSE(sim.step(*c, ratio_ctx(1.0), t)) << m;
    }
}

TEST(decode, protected_question_sets_the_decoding_window_size) {
    // Context [0, 10) with B = 5, question + template [10, 18) protected: 13 entries held.
    const std::vector<token_span> spans = {{SEGMENT_SYSTEM, 0, 10, -1},
                                           {SEGMENT_QUESTION, 10, 18, -1}};
    auto c = compressor_create("streaming_llm",
                               {{"decode_compression", true}, {"protect_question", true}});
    decode_sim sim(18, 1, concat({0, 1, 2, 3, 9}, range(10, 18)));
    for (int32_t t = 0; t < 50; ++t) {
        sim.step(*c, ratio_ctx(0.5, &spans), t);
        ASSERT_EQ(sim.cache.pos[0].size(), 13u) << "step " << t;
    }
}
