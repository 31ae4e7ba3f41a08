// PyramidInfer: hand-checked schedules, the ratio mapping, and the row-dropping prefill
// (weighted recent rows, sinks, nesting, identical sets across heads).
#include <gtest/gtest.h>

#include <cmath>

#include "compression/pyramidinfer.h"
#include "fixtures.h"

static pyramidinfer_params fixed_decay(double d) {
    pyramidinfer_params p;
    p.match_ratio = false;
    p.prefill_decay_ratio = d;
    return p;
}

TEST(pyramidinfer, cosine_decay_endpoints) {
    EXPECT_DOUBLE_EQ(pyramidinfer_decay(0.9, 0, 32), 1.0);
    EXPECT_NEAR(pyramidinfer_decay(0.9, 31, 32), 0.9 + 0.1 * (1 - std::cos(M_PI / 32)) / 2, 1e-12);
    EXPECT_DOUBLE_EQ(pyramidinfer_decay(0.5, 2, 4), 0.75);
}

TEST(pyramidinfer, plan_hand_checked) {
    // n=400: R=80, recent block 81, context 319. d=0.5, L=4: rho = 1, 0.92678, 0.75, 0.57322.
    // After layer 1: int(319 * 0.92678) = 295; after layer 2: int(295 * 0.75) = 221.
    pyramidinfer_plan plan = pyramidinfer_make_plan(fixed_decay(0.5), 400, 4, 0.5);
    EXPECT_EQ(plan.recent, 81);
    EXPECT_EQ(plan.min_ctx, 64);
    EXPECT_EQ(plan.rows, (std::vector<int32_t>{400, 400, 376, 302}));
    EXPECT_DOUBLE_EQ(plan.kept_fraction, 1478.0 / 1600.0);
}

TEST(pyramidinfer, min_ctx_rule_and_short_prompts) {
    // n=100: context 79, min_ctx 64. d=0.1: after layer 1 int(79 * 0.86820) = 68; after layer 2
    // int(68 * 0.55) = 37 <= 64, so all 68 stay.
    EXPECT_EQ(pyramidinfer_make_plan(fixed_decay(0.1), 100, 4, 0.5).rows,
              (std::vector<int32_t>{100, 100, 89, 89}));
    // n=50: context 39 <= min_ctx: never reduced.
    EXPECT_EQ(pyramidinfer_make_plan(fixed_decay(0.1), 50, 4, 0.5).rows,
              (std::vector<int32_t>(4, 50)));
    EXPECT_EQ(pyramidinfer_context_after(100, 64, 0.5), 100); // int(50) <= 64: keep all
    EXPECT_EQ(pyramidinfer_context_after(100, 64, 0.7), 70);
}

TEST(pyramidinfer, ratio_mapping_picks_the_closest_achievable_fraction) {
    pyramidinfer_params p;
    pyramidinfer_plan plan = pyramidinfer_make_plan(p, 1000, 32, 0.8);
    EXPECT_NEAR(plan.kept_fraction, 0.8, 1e-3);
    EXPECT_LT(plan.decay, 1.0);
    pyramidinfer_plan id = pyramidinfer_make_plan(p, 1000, 32, 1.0);
    EXPECT_EQ(id.decay, 1.0);
    EXPECT_EQ(id.rows, std::vector<int32_t>(32, 1000));
    // The schedule cannot go below about half of the prompt for n=1000, L=32: the closest is
    // reported.
    EXPECT_GT(pyramidinfer_make_plan(p, 1000, 32, 0.1).kept_fraction, 0.45);
}

TEST(pyramidinfer, distance_weights_and_sinks_decide_rows) {
    // n=10, recent_ratio 0.2 -> recent block {7,8,9} (weights 1.0, 1.1, 1.2), context 0..6,
    // min_ctx 0, sinks 1; L=2, d=0.1: rho_1 = 0.55 -> keep int(7 * 0.55) = 3 context rows.
    auto c = compressor_create(
        "pyramidinfer",
        {{"min_ctx", 0}, {"sinks", 1}, {"match_ratio", false}, {"prefill_decay_ratio", 0.1}});
    ASSERT_EQ(c->prefill_recent_rows(10), 3);
    std::vector<float> attn(3 * 10, 0.0f); // [recent row][column]
    attn[0 * 10 + 5] = 1.0f;               // oldest row: weighted 1.0
    attn[1 * 10 + 1] = 1.05f;              // weighted 1.155
    attn[2 * 10 + 6] = 0.9f; // newest row: weighted 1.08 (unweighted it would lose to column 5)
    attn[0 * 10 + 2] = 0.1f;
    const std::vector<int32_t> positions = range(0, 10);
    recent_rows_view v{1, 2, 10, &positions, 3, 1, 0, attn.data()};
    const std::vector<int32_t> want = {0, 1, 6, 7, 8, 9}; // sink 0 has no attention but stays
    EXPECT_EQ(c->select_prefill_rows(ratio_ctx(0.5), v), want);
    EXPECT_EQ(c->select_prefill_rows(ratio_ctx(0.5), 1, 2, 10, positions, attn.data(), 3), want);
    v.layer = 0; // rho_0 = 1: nothing dropped after layer 0
    EXPECT_EQ(c->select_prefill_rows(ratio_ctx(0.5), v), range(0, 10));
    EXPECT_EQ(c->select_prefill_rows(ratio_ctx(1.0), v), range(0, 10));
}

TEST(pyramidinfer, row_dropping_prefill_is_nested_with_sinks_and_planned_counts) {
    const int32_t n = 400, L = 8, H = 4;
    auto c = compressor_create("pyramidinfer", {});
    const compress_context ctx = ratio_ctx(0.7);
    const int32_t recent = c->prefill_recent_rows(n);
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<std::vector<int32_t>> rows_in = {range(0, n)}; // rows entering layer l
    for (int32_t l = 0; l < L; ++l) {
        const std::vector<int32_t>& cur = rows_in.back();
        std::vector<float> attn((size_t)H * recent * cur.size());
        for (float& x : attn)
            x = u(rng);
        for (int32_t h = 0; h < H; ++h) {
            for (int32_t i = 0; i < recent; ++i) {
                for (int32_t j = 0; j < 4; ++j)
                    attn[((size_t)h * recent + i) * cur.size() + j] = 0.0f; // sinks unattended
            }
        }
        recent_rows_view v{l, L, n, &cur, recent, H, 0, attn.data()};
        std::vector<int32_t> idx = c->select_prefill_rows(ctx, v);
        ASSERT_TRUE(std::is_sorted(idx.begin(), idx.end()));
        std::vector<int32_t> next;
        for (int32_t i : idx)
            next.push_back(cur.at(i));
        EXPECT_TRUE(std::includes(cur.begin(), cur.end(), next.begin(), next.end())); // nested
        for (int32_t s = 0; s < 4; ++s)
            EXPECT_EQ(next[s], s) << "sink " << s << " after layer " << l;
        EXPECT_EQ(std::vector<int32_t>(next.end() - recent, next.end()), range(n - recent, n));
        rows_in.push_back(next);
    }
    for (int32_t l = 0; l < L; ++l) {
        EXPECT_EQ((int32_t)rows_in[l].size(), c->expected_prefill_kept(ctx, l, L, n).min);
        fake_layer f((int32_t)rows_in[l].size(), H, 2, 0);
        f.positions = rows_in[l];
        head_selection sel = c->select_prefill(ctx, f.view(l, L));
        EXPECT_EQ(sel, head_selection(2, rows_in[l])); // identical across heads
    }
    EXPECT_LT(rows_in[L - 1].size(), (size_t)n); // the schedule did drop rows
}

TEST(pyramidinfer, select_prefill_rejects_a_layer_that_skipped_row_dropping) {
    auto c = compressor_create("pyramidinfer", {});
    fake_layer f(400, 2, 1, 0);
    EXPECT_THROW(c->select_prefill(ratio_ctx(0.7), f.view(7, 8)), std::invalid_argument);
    EXPECT_NO_THROW(c->select_prefill(ratio_ctx(1.0), f.view(7, 8)));
}
