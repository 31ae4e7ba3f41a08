// ShotKV: shot layout from prompt spans, whole-shot first-fit selection, scopes and validation.
#include <gtest/gtest.h>

#include "compression/shotkv.h"
#include "fixtures.h"

namespace {

// n = 20: template [0,2) system [2,4) shot 0 [4,8) shot 1 [8,14) shot 2 [14,17) question [17,20).
std::vector<token_span> simple_spans() {
    return {{SEGMENT_TEMPLATE, 0, 2, -1}, {SEGMENT_SYSTEM, 2, 4, -1},
            {SEGMENT_SHOT, 4, 8, 0},      {SEGMENT_SHOT, 8, 14, 1},
            {SEGMENT_SHOT, 14, 17, 2},    {SEGMENT_QUESTION, 17, 20, -1}};
}

// LongGenBench-like: Question_1 [2,4) Question_2 [4,6) Answer_1 [6,9) Answer_2 [9,12), question
// [12,16).
std::vector<token_span> interleaved_spans() {
    return {{SEGMENT_SYSTEM, 0, 2, -1}, {SEGMENT_SHOT, 2, 4, 0},  {SEGMENT_SHOT, 4, 6, 1},
            {SEGMENT_SHOT, 6, 9, 0},    {SEGMENT_SHOT, 9, 12, 1}, {SEGMENT_QUESTION, 12, 16, -1}};
}

// Token scores of the single window row: every token of shot i scores s[i].
fake_layer shot_scores(int32_t n, const std::vector<token_span>& spans, const std::vector<float>& s,
                       int32_t heads = 1, int32_t kv_heads = 1) {
    fake_layer f(n, heads, kv_heads, 1);
    std::vector<float> a((size_t)n, 0.0f);
    for (const token_span& sp : spans) {
        for (int32_t t = sp.start; sp.kind == SEGMENT_SHOT && t < sp.end; ++t)
            a[t] = s[sp.shot_id];
    }
    for (int32_t h = 0; h < heads; ++h)
        f.set_window_sum(h, a);
    return f;
}

std::unique_ptr<compressor> shotkv(nlohmann::json p = nlohmann::json::object()) {
    p["window"] = 1;
    return compressor_create("shotkv", p);
}

} // namespace

TEST(shotkv, layout_joins_non_contiguous_shots_by_id) {
    shot_layout lay = shotkv_layout(interleaved_spans(), 16);
    ASSERT_EQ(lay.shots.size(), 2u);
    EXPECT_EQ(lay.shots[0].positions, (std::vector<int32_t>{2, 3, 6, 7, 8}));
    EXPECT_EQ(lay.shots[1].positions, (std::vector<int32_t>{4, 5, 9, 10, 11}));
    EXPECT_EQ(lay.mandatory, concat(range(0, 2), range(12, 16)));
}

TEST(shotkv, first_fit_skips_a_misfit_and_continues) {
    auto spans = simple_spans();
    // B = 14, |M| = 7 -> 7 shot tokens. By score: shot 0 (4 tokens) fits, shot 1 (6) does not, shot
    // 2 (3) fits.
    fake_layer f = shot_scores(20, spans, {3, 2, 1});
    EXPECT_EQ(shotkv()->select_prefill(ratio_ctx(0.7, &spans), f.view()),
              head_selection(1, concat(range(0, 8), range(14, 20))));
    // stop_at_first_misfit ends the walk at shot 1.
    EXPECT_EQ(shotkv({{"fill", "stop_at_first_misfit"}})
                  ->select_prefill(ratio_ctx(0.7, &spans), f.view()),
              head_selection(1, concat(range(0, 8), range(17, 20))));
}

TEST(shotkv, shot_score_is_the_mean_not_the_sum) {
    auto spans = simple_spans();
    // Shot 0: 4 tokens x 1.2 (sum 4.8); shot 1: 6 tokens x 1.0 (sum 6). B = 13 -> 6 shot tokens.
    fake_layer f = shot_scores(20, spans, {1.2f, 1.0f, 0.5f});
    EXPECT_EQ(shotkv()->select_prefill(ratio_ctx(0.65, &spans), f.view()),
              head_selection(1, concat(range(0, 8), range(17, 20))));
}

TEST(shotkv, swapping_two_shots_swaps_their_selection) {
    auto spans = interleaved_spans(); // |M| = 6, B = round(0.69 * 16) = 11 -> one shot of 5 fits
    fake_layer a = shot_scores(16, spans, {2, 1}), b = shot_scores(16, spans, {1, 2});
    const std::vector<int32_t> m = concat(range(0, 2), range(12, 16));
    std::vector<int32_t> with0 = concat(m, {2, 3, 6, 7, 8}), with1 = concat(m, {4, 5, 9, 10, 11});
    std::sort(with0.begin(), with0.end());
    std::sort(with1.begin(), with1.end());
    EXPECT_EQ(shotkv()->select_prefill(ratio_ctx(0.69, &spans), a.view())[0], with0);
    EXPECT_EQ(shotkv()->select_prefill(ratio_ctx(0.69, &spans), b.view())[0], with1);
    fake_layer tie = shot_scores(16, spans, {1, 1});
    EXPECT_EQ(shotkv()->select_prefill(ratio_ctx(0.69, &spans), tie.view())[0],
              with0); // tie -> earlier shot
}

TEST(shotkv, mandatory_tokens_over_budget_keep_exactly_the_mandatory_set) {
    auto spans = simple_spans();
    fake_layer f = shot_scores(20, spans, {3, 2, 1});
    auto c = shotkv();
    EXPECT_EQ(c->select_prefill(ratio_ctx(0.1, &spans), f.view()),
              head_selection(1, concat(range(0, 4), range(17, 20))));
    kept_range over = c->expected_prefill_kept(ratio_ctx(0.1, &spans), 0, 1, 20);
    EXPECT_EQ(over.min, 7);
    EXPECT_EQ(over.max, 7);
    kept_range under = c->expected_prefill_kept(ratio_ctx(0.7, &spans), 0, 1, 20);
    EXPECT_EQ(under.min, 7);
    EXPECT_EQ(under.max, 14);
}

TEST(shotkv, heads_are_summed_and_all_kv_heads_share_one_set) {
    auto spans = interleaved_spans();
    fake_layer f(16, 4, 2, 1);
    std::vector<float> h0(16, 0.0f), h1(16, 0.0f);
    for (int t : {2, 3, 6, 7, 8})
        h0[t] = 1.0f; // heads 0, 2 favour shot 0 a little
    for (int t : {4, 5, 9, 10, 11})
        h1[t] = 3.0f; // heads 1, 3 favour shot 1 a lot
    f.set_window_sum(0, h0);
    f.set_window_sum(2, h0);
    f.set_window_sum(1, h1);
    f.set_window_sum(3, h1);
    head_selection sel = shotkv()->select_prefill(ratio_ctx(0.69, &spans), f.view());
    ASSERT_EQ(sel.size(), 2u);
    EXPECT_EQ(sel[0], sel[1]);
    EXPECT_TRUE(std::binary_search(sel[0].begin(), sel[0].end(), 9));
    EXPECT_FALSE(std::binary_search(sel[0].begin(), sel[0].end(), 6));
}

TEST(shotkv, global_scope_sums_layers_into_one_selection) {
    auto spans = interleaved_spans();
    fake_layer l0 = shot_scores(16, spans, {2, 1}), l1 = shot_scores(16, spans, {0, 3});
    std::vector<layer_scores> layers = {l0.view(0, 2), l1.view(1, 2)};
    auto per_layer = shotkv()->select_prefill_layers(ratio_ctx(0.69, &spans), layers);
    EXPECT_TRUE(
        std::binary_search(per_layer[0][0].begin(), per_layer[0][0].end(), 2)); // layer 0: shot 0
    EXPECT_TRUE(
        std::binary_search(per_layer[1][0].begin(), per_layer[1][0].end(), 4)); // layer 1: shot 1
    auto global = shotkv({{"scope", "global"}});
    auto g = global->select_prefill_layers(ratio_ctx(0.69, &spans),
                                           layers); // sums: shot 0 = 2, shot 1 = 4
    EXPECT_EQ(g[0], g[1]);
    EXPECT_EQ(g[0], per_layer[1]);
    EXPECT_THROW(global->select_prefill(ratio_ctx(0.69, &spans), l0.view()), std::logic_error);
}

TEST(shotkv, all_prompt_query_set_uses_column_sums) {
    auto spans = interleaved_spans();
    fake_layer f = shot_scores(16, spans, {2, 1}); // window favours shot 0
    std::vector<float> cs(16, 0.0f);
    for (int t : {4, 5, 9, 10, 11})
        cs[t] = 1.0f; // column sums favour shot 1
    f.set_column_sums(0, cs);
    auto sel =
        shotkv({{"query_set", "all_prompt"}})->select_prefill(ratio_ctx(0.69, &spans), f.view());
    EXPECT_TRUE(std::binary_search(sel[0].begin(), sel[0].end(), 4));
    EXPECT_TRUE(shotkv({{"query_set", "all_prompt"}})->needs().column_sums);
}

TEST(shotkv, bad_spans_are_rejected_by_index) {
    fake_layer f(20, 1, 1, 1);
    std::vector<token_span> overlap = {{SEGMENT_SHOT, 0, 5, 0}, {SEGMENT_SHOT, 4, 8, 1}};
    std::vector<token_span> no_id = {{SEGMENT_SHOT, 0, 5, -1}};
    std::vector<token_span> outside = {{SEGMENT_SHOT, 0, 25, 0}};
    for (auto* spans : {&overlap, &no_id, &outside}) {
        try {
            shotkv()->select_prefill(ratio_ctx(0.5, spans), f.view());
            FAIL();
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("span"), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(shotkv()->select_prefill(ratio_ctx(0.5), f.view()),
                 std::invalid_argument); // no spans at all
}

TEST(shotkv, prompt_shorter_than_the_window_uses_every_row) {
    // n = 6 < w = 8: the engine captures 6 rows. Shots [1,3) and [3,5); B = round(0.67 * 6) = 4,
    // mandatory {0, 5} -> one shot fits; head sums favour shot 1.
    const std::vector<token_span> spans = {{SEGMENT_SYSTEM, 0, 1, -1},
                                           {SEGMENT_SHOT, 1, 3, 0},
                                           {SEGMENT_SHOT, 3, 5, 1},
                                           {SEGMENT_QUESTION, 5, 6, -1}};
    fake_layer f(6, 1, 1, 6);
    f.attn(0, 0, 1) = 1.0f;
    f.attn(0, 5, 3) = 2.0f;
    auto c = compressor_create("shotkv", {});
    EXPECT_EQ(c->select_prefill(ratio_ctx(0.67, &spans), f.view()),
              head_selection(1, {0, 3, 4, 5}));
}
