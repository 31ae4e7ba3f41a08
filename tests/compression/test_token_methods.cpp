// StreamingLLM, H2O, SnapKV, PyramidKV and ChunkKV prefill selections on hand-checked scores.
#include <gtest/gtest.h>

#include <numeric>

#include "compression/pyramidkv.h"
#include "fixtures.h"

static head_selection select(const std::string& method, const nlohmann::json& params, double r,
                             const fake_layer& f, int32_t layer = 0, int32_t n_layers = 1) {
    return compressor_create(method, params)->select_prefill(ratio_ctx(r), f.view(layer, n_layers));
}

TEST(streaming_llm, exact_sets) {
    fake_layer f(20, 4, 2, 0);
    EXPECT_EQ(select("streaming_llm", {}, 0.5, f),
              head_selection(2, concat(range(0, 4), range(14, 20))));
    EXPECT_EQ(select("streaming_llm", {}, 0.25, f), head_selection(2, concat(range(0, 4), {19})));
    EXPECT_EQ(select("streaming_llm", {}, 0.1, f), head_selection(2, range(0, 2)));
    EXPECT_EQ(select("streaming_llm", {{"sinks", 2}}, 0.5, f),
              head_selection(2, concat(range(0, 2), range(12, 20))));
}

TEST(h2o, keeps_top_column_sums_plus_window) {
    fake_layer f(10, 1, 1, 0);
    f.set_column_sums(0, {5, 1, 9, 3, 9, 0, 7, 2, 0, 0});
    // B = 5, window 2 -> the 3 best of P = [0, 8): 9@2, 9@4, 7@6.
    EXPECT_EQ(select("h2o", {{"window", 2}}, 0.5, f), head_selection(1, {2, 4, 6, 8, 9}));
    f.set_column_sums(0, {9, 9, 9, 1, 0, 0, 0, 0, 0, 0});
    EXPECT_EQ(select("h2o", {{"window", 2}}, 0.4, f),
              head_selection(1, {0, 1, 8, 9})); // tie -> lower
}

TEST(protect_question, hand_checked_snapkv_and_streaming_llm) {
    // system [0, 10), question [10, 16), template [16, 18): the context is [0, 10).
    const std::vector<token_span> spans = {{SEGMENT_SYSTEM, 0, 10, -1},
                                           {SEGMENT_QUESTION, 10, 16, -1},
                                           {SEGMENT_TEMPLATE, 16, 18, -1}};
    fake_layer f(18, 1, 1, 2);
    f.set_window_sum(0, {5, 1, 9, 3, 9, 0, 7, 2, 100, 100, 100, 100});
    const nlohmann::json p = {{"window", 2}, {"pooling", "none"}, {"protect_question", true}};
    // B = round(0.5 * 10) = 5: 3 of [0, 8) + context window {8, 9}, then the suffix [10, 18).
    EXPECT_EQ(compressor_create("snapkv", p)->select_prefill(ratio_ctx(0.5, &spans), f.view()),
              head_selection(1, concat({2, 4, 6, 8, 9}, range(10, 18))));
    EXPECT_EQ(compressor_create("streaming_llm", {{"protect_question", true}})
                  ->select_prefill(ratio_ctx(0.5, &spans), f.view()),
              head_selection(1, concat({0, 1, 2, 3, 9}, range(10, 18))));
}

TEST(h2o, decode_initial_scores_are_group_sums_at_kept_positions) {
    fake_layer f(4, 2, 1, 0);
    f.set_column_sums(0, {1, 2, 3, 4});
    f.set_column_sums(1, {10, 20, 30, 40});
    auto c = compressor_create("h2o", {{"window", 1}});
    auto init = c->decode_initial_scores(ratio_ctx(0.5), f.view(), head_selection(1, {1, 3}));
    EXPECT_EQ(init, (std::vector<std::vector<float>>{{22, 44}}));
}

TEST(snapkv, pooling_changes_the_choice) {
    fake_layer f(10, 1, 1, 2);
    f.set_window_sum(0, {0, 0, 5, 0, 0, 0, 1, 0});
    // B = 5: 3 past tokens + window {8, 9}. Maxpool k=3 -> {0,5,5,5,0,1,1,1}.
    EXPECT_EQ(select("snapkv", {{"window", 2}, {"kernel", 3}}, 0.5, f),
              head_selection(1, {1, 2, 3, 8, 9}));
    // No pooling: 5@2, 1@6, then the lowest of the zeros.
    EXPECT_EQ(select("snapkv", {{"window", 2}, {"pooling", "none"}}, 0.5, f),
              head_selection(1, {0, 2, 6, 8, 9}));
}

TEST(snapkv, small_budget_keeps_last_b_and_ratio_one_is_identity) {
    fake_layer f(25, 2, 2, 8);
    f.fill_random(1);
    EXPECT_EQ(select("snapkv", {}, 0.1, f), head_selection(2, {23, 24})); // B = 2 <= w
    EXPECT_EQ(select("snapkv", {}, 1.0, f), head_selection(2, range(0, 25)));
}

TEST(gqa_modes, query_head_mode_selects_per_query_head) {
    fake_layer f(6, 2, 1, 1);
    f.set_window_sum(0, {5, 0, 0, 0, 0});
    f.set_window_sum(1, {0, 0, 0, 5, 0});
    const nlohmann::json p = {{"window", 1}, {"pooling", "none"}, {"gqa_mode", "query_head"}};
    EXPECT_EQ(select("snapkv", p, 0.34, f),
              (head_selection{{0, 5}, {3, 5}})); // B = round(2.04) = 2
    EXPECT_TRUE(compressor_create("snapkv", p)->needs().per_query_head);
}

TEST(gqa_modes, mha_makes_every_mode_identical_and_mean_equals_sum) {
    fake_layer mha(64, 4, 4, 8), gqa(64, 8, 2, 8);
    mha.fill_random(7);
    gqa.fill_random(8);
    for (const char* method : {"snapkv", "h2o", "pyramidkv"}) {
        for (double r : {0.5, 0.25}) {
            const head_selection base = select(method, {{"gqa_mode", "kv_head_mean"}}, r, mha);
            for (const char* mode : {"kv_head_max", "kv_head_sum", "query_head"}) {
                EXPECT_EQ(select(method, {{"gqa_mode", mode}}, r, mha), base)
                    << method << " " << mode;
            }
            EXPECT_EQ(select(method, {{"gqa_mode", "kv_head_mean"}}, r, gqa),
                      select(method, {{"gqa_mode", "kv_head_sum"}}, r, gqa))
                << method;
        }
    }
}

TEST(token_methods, monotone_in_ratio_for_fixed_scores) {
    fake_layer f(200, 2, 2, 8);
    f.fill_random(3);
    for (const char* method : {"snapkv", "h2o", "streaming_llm"}) {
        head_selection lo = select(method, {}, 0.2, f), hi = select(method, {}, 0.6, f);
        for (size_t h = 0; h < lo.size(); ++h) {
            EXPECT_TRUE(std::includes(hi[h].begin(), hi[h].end(), lo[h].begin(), lo[h].end()))
                << method;
        }
    }
}

TEST(pyramidkv, kvcf_schedule_worked_example) {
    // Spec 5: n=1000, r=0.3, w=8, L=32 -> m=292, min=14, max=570, step=17.
    int32_t sum = 0, prev = 1 << 30;
    for (int32_t l = 0; l < 32; ++l) {
        const int32_t c = pyramidkv_layer_budget(PYRAMID_KVCF, 0.3, 1000, 8, 20, 32, l) - 8;
        EXPECT_LE(c, prev);
        prev = c;
        sum += c;
    }
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVCF, 0.3, 1000, 8, 20, 32, 0) - 8, 570);
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVCF, 0.3, 1000, 8, 20, 32, 1) - 8, 553);
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVCF, 0.3, 1000, 8, 20, 32, 31) - 8, 43);
    EXPECT_EQ(sum, 9808); // vs L*m = 9344: the floored step overshoots
}

TEST(pyramidkv, snapkv_regime_and_clamped_top_layer) {
    // n < 2(B-w): n=100, r=0.6 -> B=60, m=52, 100 < 104 -> every layer keeps B.
    for (int32_t l = 0; l < 4; ++l)
        EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVCF, 0.6, 100, 8, 20, 4, l), 60);
    // n=100, r=0.58 -> B=58, m=50; max=98 >= n-w=92 -> max=92, min=8, step=28: C = 92, 64, 36, 8.
    const int32_t want[] = {100, 72, 44, 16};
    for (int32_t l = 0; l < 4; ++l)
        EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVCF, 0.58, 100, 8, 20, 4, l), want[l]);
}

TEST(pyramidkv, kvpress_schedule_variant) {
    // m = 300, min = 15, max = 585, steps = 570/31 = 18.387...
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVPRESS, 0.3, 1000, 8, 20, 32, 0), 585);
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVPRESS, 0.3, 1000, 8, 20, 32, 1), 567);
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVPRESS, 0.3, 1000, 8, 20, 32, 31), 15);
    // min = 0.5 < w: falls back to round(n r) = 10 for every layer.
    EXPECT_EQ(pyramidkv_layer_budget(PYRAMID_KVPRESS, 0.1, 100, 8, 20, 32, 5), 10);
}

TEST(pyramidkv, layer_selection_matches_schedule_and_keeps_window) {
    fake_layer f(1000, 2, 1, 8);
    f.fill_random(5);
    for (int32_t l : {0, 17, 31}) {
        head_selection sel = select("pyramidkv", {}, 0.3, f, l, 32);
        const int32_t want = pyramidkv_layer_budget(PYRAMID_KVCF, 0.3, 1000, 8, 20, 32, l);
        ASSERT_EQ((int32_t)sel[0].size(), want);
        const std::vector<int32_t> window = range(992, 1000);
        EXPECT_TRUE(std::includes(sel[0].begin(), sel[0].end(), window.begin(), window.end()));
    }
}

TEST(chunkkv, whole_aligned_chunks_and_the_short_tail_competes_with_its_sum) {
    fake_layer f(12, 1, 1, 2);
    // P = [0, 10), chunk 3: [0,3) [3,6) [6,9) [9,10). B = 6 -> k = 1 chunk.
    f.set_window_sum(0, {1, 1, 1, 0, 0, 0, 0, 0, 0, 2.5f});
    const nlohmann::json p = {{"window", 2}, {"chunk", 3}};
    EXPECT_EQ(select("chunkkv", p, 0.5, f), head_selection(1, {0, 1, 2, 10, 11})); // sums 3,0,0,2.5
    nlohmann::json mean = p;
    mean["agg"] = "mean";
    EXPECT_EQ(select("chunkkv", mean, 0.5, f), head_selection(1, {9, 10, 11})); // means 1,0,0,2.5
    EXPECT_EQ(select("chunkkv", p, 0.75, f),
              head_selection(1, {0, 1, 2, 9, 10, 11}));                   // B = 9 -> k = 2
    EXPECT_EQ(select("chunkkv", p, 0.3, f), head_selection(1, {10, 11})); // B = 4 -> k = 0
}

TEST(chunkkv, per_layer_sums_heads_per_head_does_not) {
    fake_layer f(12, 2, 2, 2);
    f.set_window_sum(0, {3, 3, 3, 0, 0, 0, 0, 0, 0, 0});
    f.set_window_sum(1, {0, 0, 0, 0, 0, 0, 4, 4, 0, 0});
    const nlohmann::json p = {{"window", 2}, {"chunk", 3}};
    // Layer sums per chunk: 9, 0, 8, 0 -> chunk 0 for both heads.
    EXPECT_EQ(select("chunkkv", p, 0.5, f), head_selection(2, {0, 1, 2, 10, 11}));
    nlohmann::json ph = p;
    ph["scope"] = "per_head";
    EXPECT_EQ(select("chunkkv", ph, 0.5, f),
              (head_selection{{0, 1, 2, 10, 11}, {6, 7, 8, 10, 11}}));
}

TEST(chunkkv, index_reuse_copies_the_anchor_layer) {
    fake_layer a(40, 1, 1, 8), b(40, 1, 1, 8);
    a.fill_random(11);
    b.fill_random(12);
    auto c = compressor_create("chunkkv", {{"reuse", 2}});
    std::vector<layer_scores> layers = {a.view(0, 3), b.view(1, 3), b.view(2, 3)};
    auto sel = c->select_prefill_layers(ratio_ctx(0.5), layers);
    EXPECT_EQ(sel[1], sel[0]);
    EXPECT_EQ(sel[2],
              compressor_create("chunkkv", {})->select_prefill(ratio_ctx(0.5), b.view(2, 3)));
    EXPECT_THROW(c->select_prefill(ratio_ctx(0.5), b.view(1, 3)), std::logic_error);
}
