// Tensor-parallel invariance (spec 10.17, 11): heads split over 2 and 4 in-process ranks choose
// exactly what one rank holding every head chooses, for every cross-head method.
#include <gtest/gtest.h>

#include "compression/scoring.h"
#include "fixtures.h"

namespace {

constexpr int32_t n = 240, H = 8, G = 4;

std::vector<token_span> spans() {
    std::vector<token_span> s = {{SEGMENT_SYSTEM, 0, 10, -1}};
    for (int32_t i = 0; i < 8; ++i)
        s.push_back({SEGMENT_SHOT, 10 + 25 * i, 35 + 25 * i, i});
    s.push_back({SEGMENT_QUESTION, 210, 240, -1});
    return s;
}

// Selections of every layer on `ranks` ranks, concatenated over ranks (rank order = head order).
std::vector<head_selection> split_select(const compressor& c, const std::vector<fake_layer>& layers,
                                         int ranks, const std::vector<token_span>& sp, double r) {
    std::vector<std::vector<head_selection>> per_rank((size_t)ranks);
    run_ranks(ranks, [&](int rank, collective& tp) {
        std::vector<fake_layer> mine;
        std::vector<layer_scores> views;
        for (const fake_layer& f : layers)
            mine.push_back(f.heads(rank * H / ranks, H / ranks));
        for (size_t l = 0; l < mine.size(); ++l) {
            views.push_back(mine[l].view((int32_t)l, (int32_t)layers.size()));
            views.back().head_offset = rank * H / ranks;
        }
        per_rank[rank] = c.select_prefill_layers(ratio_ctx(r, &sp, &tp), views);
    });
    std::vector<head_selection> out(layers.size());
    for (int rank = 0; rank < ranks; ++rank) {
        for (size_t l = 0; l < layers.size(); ++l) {
            out[l].insert(out[l].end(), per_rank[rank][l].begin(), per_rank[rank][l].end());
        }
    }
    return out;
}

} // namespace

TEST(tp, cross_head_prefill_selections_match_one_rank) {
    std::vector<fake_layer> layers;
    for (int l = 0; l < 3; ++l) {
        layers.emplace_back(n, H, G, 8);
        layers.back().fill_random(500 + l);
    }
    const std::vector<token_span> sp = spans();
    const std::vector<std::pair<std::string, nlohmann::json>> methods = {
        {"chunkkv", {}}, {"chunkkv", {{"scope", "per_head"}}},
        {"shotkv", {}},  {"shotkv", {{"scope", "global"}}},
        {"snapkv", {}},  {"h2o", {}}};
    for (const auto& [m, p] : methods) {
        auto c = compressor_create(m, p);
        for (double r : {0.5, 0.25}) {
            std::vector<layer_scores> views;
            for (size_t l = 0; l < layers.size(); ++l)
                views.push_back(layers[l].view((int32_t)l, 3));
            const std::vector<head_selection> one =
                c->select_prefill_layers(ratio_ctx(r, &sp), views);
            for (int ranks : {2, 4})
                EXPECT_EQ(split_select(*c, layers, ranks, sp, r), one)
                    << m << " " << p.dump() << " " << ranks;
        }
    }
}

TEST(tp, pyramidinfer_rows_match_one_rank) {
    auto c = compressor_create("pyramidinfer", {});
    const int32_t recent = c->prefill_recent_rows(n), L = 8;
    const compress_context one_ctx = ratio_ctx(0.8);
    int32_t layer = 0; // the first layer after which the plan drops rows
    while (c->expected_prefill_kept(one_ctx, layer + 1, L, n).min ==
           c->expected_prefill_kept(one_ctx, layer, L, n).min)
        ++layer;
    const int32_t n_cur = c->expected_prefill_kept(one_ctx, layer, L, n).min;
    std::vector<int32_t> positions = range(n - n_cur, n);
    std::vector<float> attn((size_t)H * recent * n_cur);
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (float& x : attn)
        x = u(rng);
    recent_rows_view all{layer, L, n, &positions, recent, H, 0, attn.data()};
    const std::vector<int32_t> want = c->select_prefill_rows(one_ctx, all);
    ASSERT_LT((int32_t)want.size(), n_cur);
    run_ranks(2, [&](int rank, collective& tp) {
        recent_rows_view mine = all;
        mine.n_heads = H / 2;
        mine.head_offset = rank * H / 2;
        mine.recent_attn = attn.data() + (size_t)rank * (H / 2) * recent * n_cur;
        EXPECT_EQ(c->select_prefill_rows(ratio_ctx(0.8, nullptr, &tp), mine), want)
            << "rank " << rank;
    });
}

TEST(tp, shotkv_decode_matches_one_rank) {
    auto c = compressor_create("shotkv", {});
    fake_decode_layer cache;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (int h = 0; h < G; ++h) {
        cache.pos.push_back(concat(range(0, 50), range(100, 160)));
        cache.score.emplace_back();
        for (size_t i = 0; i < cache.pos.back().size(); ++i)
            cache.score.back().push_back(u(rng));
    }
    head_selection want;
    ASSERT_TRUE(c->select_decode(ratio_ctx(0.3), cache.view(0, 1, 100, 60), want));
    run_ranks(2, [&](int rank, collective& tp) {
        fake_decode_layer mine;
        mine.pos.assign(cache.pos.begin() + rank * 2, cache.pos.begin() + rank * 2 + 2);
        mine.score.assign(cache.score.begin() + rank * 2, cache.score.begin() + rank * 2 + 2);
        decode_layer_view v = mine.view(0, 1, 100, 60);
        v.head_offset = rank * 2;
        head_selection got;
        ASSERT_TRUE(c->select_decode(ratio_ctx(0.3, nullptr, &tp), v, got));
        EXPECT_EQ(got, head_selection(want.begin() + rank * 2, want.begin() + rank * 2 + 2));
    });
}

TEST(tp, head_sums_follow_global_head_order_not_rank_partials) {
    // Column 0 in double: ((1e17 + 1) - 1e17) + 1 = 1 in head order; per-rank partial sums
    // (1e17 + 1) + (-1e17 + 1) would give 0. Column 1 is harmless.
    const std::vector<float> heads = {1e17f, 1, 1, 2, -1e17f, 3, 1, 4}; // [4 heads][2 columns]
    const std::vector<double> one = scoring_sum_heads(nullptr, score_matrix{4, 2, heads}, 0);
    EXPECT_EQ(one, (std::vector<double>{1, 10}));
    run_ranks(2, [&](int rank, collective& tp) {
        score_matrix mine{
            2, 2, std::vector<float>(heads.begin() + rank * 4, heads.begin() + rank * 4 + 4)};
        EXPECT_EQ(scoring_sum_heads(&tp, mine, rank * 2), one) << "rank " << rank;
    });
    run_ranks(2, [&](int rank, collective& tp) { // a rank claiming the wrong heads is refused
        score_matrix mine{2, 2, std::vector<float>(4, 0.0f)};
        EXPECT_THROW(scoring_sum_heads(&tp, mine, rank == 0 ? 0 : 3), std::runtime_error);
    });
}
