// Budget rounding, ratio validation, pooling, top-k and GQA reduction on hand-checked arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "compression/budget.h"
#include "compression/scoring.h"
#include "fixtures.h"

TEST(budget, rounds_half_to_even_like_python) {
    EXPECT_EQ(budget_tokens(0.1, 25), 2);  // spec 0.2 worked example: 2.5 -> 2 (std::round gives 3)
    EXPECT_EQ(budget_tokens(0.5, 7), 4);   // 3.5 -> 4
    EXPECT_EQ(budget_tokens(0.25, 10), 2); // 2.5 -> 2
    EXPECT_EQ(budget_tokens(0.25, 6), 2);  // 1.5 -> 2
    EXPECT_EQ(budget_tokens(0.3, 1000), 300);
    EXPECT_EQ(budget_tokens(1.0, 17), 17);
}

TEST(budget, rejects_ratios_outside_zero_one_naming_the_value) {
    for (double bad : {0.0, -0.1, 1.5, std::nan("")}) {
        try {
            budget_tokens(bad, 100);
            FAIL() << "accepted keep_ratio " << bad;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("keep_ratio"), std::string::npos) << e.what();
        }
    }
    try {
        budget_check_ratio(1.5);
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
    }
}

TEST(budget, small_budget_keeps_last_tokens_and_identity_keeps_all) {
    std::vector<int32_t> kept;
    ASSERT_TRUE(budget_shortcut(20, 5, 8, kept));
    EXPECT_EQ(kept, range(15, 20));
    ASSERT_TRUE(budget_shortcut(20, 20, 8, kept));
    EXPECT_EQ(kept, range(0, 20));
    EXPECT_FALSE(budget_shortcut(20, 9, 8, kept));
}

TEST(budget, sinks_and_recent_sets) {
    EXPECT_EQ(budget_sinks_and_recent(20, 10, 4), concat(range(0, 4), range(14, 20)));
    EXPECT_EQ(budget_sinks_and_recent(20, 5, 4), concat(range(0, 4), {19}));
    EXPECT_EQ(budget_sinks_and_recent(20, 2, 4), range(0, 2)); // min(4, B) sinks, nothing recent
    EXPECT_EQ(budget_sinks_and_recent(20, 20, 4), range(0, 20));
}

TEST(pooling, avg_counts_zero_padding_and_keeps_length) {
    const float x[] = {3, 0, 0, 0, 0, 0, 0, 6};
    std::vector<float> out = scoring_pool(x, 8, 3, POOL_AVG);
    const std::vector<float> want = {1, 1, 0, 0, 0, 0, 2, 2}; // edges divide by 3, not by 2
    ASSERT_EQ(out.size(), 8u);
    for (int i = 0; i < 8; ++i)
        EXPECT_FLOAT_EQ(out[i], want[i]) << i;
}

TEST(pooling, max_pads_with_minus_infinity) {
    const float x[] = {-1, -2, -3};
    std::vector<float> out = scoring_pool(x, 3, 3, POOL_MAX);
    EXPECT_EQ(out, (std::vector<float>{-1, -1, -2})); // zero padding would give {0, -1, 0}
    const float y[] = {0, 0, 5, 0, 0, 0, 1, 0};
    EXPECT_EQ(scoring_pool(y, 8, 3, POOL_MAX), (std::vector<float>{0, 5, 5, 5, 0, 1, 1, 1}));
    EXPECT_EQ(scoring_pool(y, 8, 5, POOL_MAX), (std::vector<float>{5, 5, 5, 5, 5, 1, 1, 1}));
}

TEST(top_k, ties_go_to_lower_positions_and_output_is_sorted) {
    const float s[] = {1, 9, 9, 3, 9, 0};
    EXPECT_EQ(scoring_top_k(s, 6, 2), (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(scoring_top_k(s, 6, 4), (std::vector<int32_t>{1, 2, 3, 4}));
    EXPECT_EQ(scoring_top_k(s, 6, 0), (std::vector<int32_t>{}));
    const float nan_s[] = {1, std::numeric_limits<float>::quiet_NaN()};
    EXPECT_THROW(scoring_top_k(nan_s, 2, 1), std::invalid_argument);
}

TEST(window_sums, use_only_the_last_w_rows_over_the_past) {
    fake_layer f(6, 1, 1, 3);
    f.attn(0, 0, 0) = 100; // outside the last 2 rows: ignored with w = 2
    f.attn(0, 1, 1) = 2;
    f.attn(0, 2, 1) = 3;
    f.attn(0, 2, 4) = 50; // window column: outside P = [0, 4)
    score_matrix s = scoring_window_sums(f.view(), 2, 4, "test");
    EXPECT_EQ(s.v, (std::vector<float>{0, 5, 0, 0}));
    EXPECT_THROW(scoring_window_sums(f.view(), 4, 2, "test"),
                 std::invalid_argument); // only 3 rows captured
}

TEST(gqa, max_and_sum_rank_differently_mean_equals_sum) {
    score_matrix q{2, 3, {5, 3, 0, 0, 3, 4}}; // two query heads of one KV head
    score_matrix sum = scoring_gqa_reduce(q, 1, GQA_KV_HEAD_SUM);
    score_matrix mean = scoring_gqa_reduce(q, 1, GQA_KV_HEAD_MEAN);
    score_matrix mx = scoring_gqa_reduce(q, 1, GQA_KV_HEAD_MAX);
    EXPECT_EQ(sum.v, (std::vector<float>{5, 6, 4}));
    EXPECT_EQ(mx.v, (std::vector<float>{5, 3, 4}));
    EXPECT_EQ(mean.v, sum.v);
    EXPECT_EQ(scoring_top_k(sum.row(0), 3, 1), (std::vector<int32_t>{1}));
    EXPECT_EQ(scoring_top_k(mx.row(0), 3, 1), (std::vector<int32_t>{0}));
    EXPECT_EQ(scoring_gqa_reduce(q, 2, GQA_KV_HEAD_MAX).v,
              q.v); // g = 1: every mode is the identity
    EXPECT_EQ(scoring_gqa_reduce(q, 1, GQA_QUERY_HEAD).v, q.v);
    EXPECT_THROW(scoring_gqa_reduce(score_matrix{3, 1, {1, 2, 3}}, 2, GQA_KV_HEAD_SUM),
                 std::invalid_argument);
}

TEST(sum_heads, adds_heads_in_order_and_checks_blocks) {
    score_matrix local{3, 2, {1, 2, 3, 4, 5, 6}};
    std::vector<double> s = scoring_sum_heads(nullptr, local, 0);
    EXPECT_EQ(s, (std::vector<double>{9, 12}));
}
