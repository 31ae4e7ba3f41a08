// Registry names and parameter validation, and the matrix of every method x keep ratio with
// the general invariants of spec section 10 (sorted, unique, in range, expected counts, window,
// identity at 1.0, determinism) plus the runner's silent-no-op check.
#include <gtest/gtest.h>

#include "fixtures.h"

namespace {

const std::vector<std::string> all_methods = {
    "full_kv", "streaming_llm", "h2o", "snapkv", "pyramidkv", "chunkkv", "pyramidinfer", "shotkv"};

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(registry, lists_the_eight_methods) {
    EXPECT_EQ(compressor_names(), all_methods);
}

TEST(registry, unknown_method_lists_valid_names) {
    const std::string e = error_of([] { compressor_create("snap_kv", {}); });
    EXPECT_NE(e.find("snap_kv"), std::string::npos) << e;
    EXPECT_NE(e.find("valid: full_kv, streaming_llm"), std::string::npos) << e;
}

TEST(registry, unknown_parameter_lists_valid_ones) {
    const std::string e = error_of([] { compressor_create("snapkv", {{"kernel_size", 5}}); });
    EXPECT_NE(e.find("'kernel_size'"), std::string::npos) << e;
    EXPECT_NE(e.find("gqa_mode"), std::string::npos) << e;
    EXPECT_NE(error_of([] { compressor_create("full_kv", {{"window", 8}}); }), "");
    EXPECT_NE(error_of([] { compressor_create("snapkv", nlohmann::json::array({1})); }), "");
}

TEST(registry, bad_values_are_rejected_by_name) {
    const std::vector<std::pair<std::string, nlohmann::json>> bad = {
        {"snapkv", {{"window", 0}}},
        {"snapkv", {{"kernel", 4}}},
        {"snapkv", {{"pooling", "median"}}},
        {"snapkv", {{"gqa_mode", "kv_head_min"}}},
        {"snapkv", {{"window", 7.5}}},
        {"snapkv", {{"window", "8"}}},
        {"h2o", {{"mask", "none"}}},
        {"pyramidkv", {{"schedule", "linear"}}},
        {"pyramidkv", {{"beta", 0}}},
        {"chunkkv", {{"chunk", 0}}},
        {"chunkkv", {{"scope", "global"}}},
        {"shotkv", {{"fill", "greedy"}}},
        {"shotkv", {{"decode_compression", 1}}},
        {"pyramidinfer", {{"recent_ratio", 1.5}}},
        {"streaming_llm", {{"sinks", -1}}}};
    for (const auto& [method, p] : bad) {
        const std::string key = p.begin().key();
        const std::string e = error_of([&] { compressor_create(method, p); });
        EXPECT_NE(e.find(key), std::string::npos) << method << " " << p.dump() << ": " << e;
    }
}

TEST(registry, params_show_paper_defaults_and_the_decode_phase) {
    EXPECT_EQ(compressor_create("snapkv", {})->params(),
              (nlohmann::json{{"window", 8},
                              {"kernel", 7},
                              {"pooling", "maxpool"},
                              {"gqa_mode", "kv_head_mean"},
                              {"protect_question", false}}));
    EXPECT_EQ(compressor_create("pyramidkv", {})->params()["beta"], 20);
    EXPECT_EQ(compressor_create("chunkkv", {})->params()["chunk"], 10);
    EXPECT_EQ(compressor_create("chunkkv", {})->params()["scope"], "per_layer");
    EXPECT_EQ(compressor_create("streaming_llm", {})->params()["decode_compression"], false);
    EXPECT_EQ(compressor_create("h2o", {})->params()["decode_compression"], false);
    EXPECT_EQ(compressor_create("shotkv", {})->params()["decode_compression"], true);
    EXPECT_EQ(compressor_create("pyramidinfer", {})->params()["decode_compression"], true);
    EXPECT_EQ(
        compressor_create("h2o", {{"decode_compression", true}})->params()["decode_compression"],
        true);
    EXPECT_EQ(compressor_create("snapkv", {{"window", 16}})->needs().window_rows, 16);
    EXPECT_TRUE(compressor_create("h2o", {})->needs().column_sums);
}

TEST(registry, every_method_rejects_bad_keep_ratios) {
    fake_layer f(64, 2, 1, 8);
    f.fill_random(1);
    std::vector<token_span> spans = {{SEGMENT_QUESTION, 0, 64, -1}};
    for (const std::string& m : all_methods) {
        for (double r : {0.0, 1.5, -1.0}) {
            const std::string e = error_of(
                [&] { compressor_create(m, {})->select_prefill(ratio_ctx(r, &spans), f.view()); });
            EXPECT_NE(e.find("keep_ratio"), std::string::npos) << m << " " << r << ": " << e;
        }
    }
}

namespace {

// A 4-layer prompt of n = 300 with 10 shots of 25 tokens, as every method sees it.
struct matrix_case {
    static constexpr int32_t n = 300, L = 4, H = 4, G = 2;
    std::vector<token_span> spans;
    std::vector<fake_layer> layers;

    matrix_case() {
        spans.push_back({SEGMENT_SYSTEM, 0, 20, -1});
        for (int32_t s = 0; s < 10; ++s)
            spans.push_back({SEGMENT_SHOT, 20 + 25 * s, 45 + 25 * s, s});
        spans.push_back({SEGMENT_QUESTION, 270, 300, -1});
        for (int32_t l = 0; l < L; ++l) {
            layers.emplace_back(n, H, G, 8);
            layers.back().fill_random(100 + l);
        }
    }

    // PyramidInfer's layers hold only the rows that entered them: run the row-dropping prefill.
    void drop_rows(const compressor& c, const compress_context& ctx) {
        std::vector<int32_t> cur = range(0, n);
        const int32_t recent = c.prefill_recent_rows(n);
        std::mt19937 rng(9);
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        for (int32_t l = 0; l < L; ++l) {
            fake_layer f((int32_t)cur.size(), H, G, 0);
            f.fill_random(200 + l);
            f.positions = cur;
            layers[l] = f;
            std::vector<float> attn((size_t)H * recent * cur.size());
            for (float& x : attn)
                x = u(rng);
            recent_rows_view v{l, L, n, &cur, recent, H, 0, attn.data()};
            std::vector<int32_t> next;
            for (int32_t i : c.select_prefill_rows(ctx, v))
                next.push_back(cur[i]);
            cur = next;
        }
    }

    std::vector<layer_scores> views() const {
        std::vector<layer_scores> out;
        for (int32_t l = 0; l < L; ++l)
            out.push_back(layers[l].view(l, L));
        return out;
    }
};

} // namespace

class method_ratio : public ::testing::TestWithParam<std::tuple<std::string, double>> {};

TEST_P(method_ratio, selection_invariants) {
    const auto& [method, r] = GetParam();
    auto c = compressor_create(method, {});
    matrix_case mc;
    const compress_context ctx = ratio_ctx(r, &mc.spans);
    if (c->needs().drops_prefill_rows) mc.drop_rows(*c, ctx);
    std::vector<head_selection> sel = c->select_prefill_layers(ctx, mc.views());
    ASSERT_EQ((int32_t)sel.size(), matrix_case::L);
    std::vector<std::vector<int64_t>> kept;
    for (int32_t l = 0; l < matrix_case::L; ++l) {
        ASSERT_EQ((int32_t)sel[l].size(), matrix_case::G) << "layer " << l;
        kept.emplace_back();
        for (const std::vector<int32_t>& head : sel[l]) {
            EXPECT_TRUE(std::is_sorted(head.begin(), head.end()));
            EXPECT_EQ(std::adjacent_find(head.begin(), head.end()), head.end())
                << "duplicate position";
            ASSERT_FALSE(head.empty());
            EXPECT_GE(head.front(), 0);
            EXPECT_LT(head.back(), matrix_case::n);
            if (r == 1.0) {
                EXPECT_EQ(head, range(0, matrix_case::n)) << "identity at ratio 1.0";
            }
            if (method == "h2o" || method == "snapkv" || method == "pyramidkv" ||
                method == "chunkkv") {
                const std::vector<int32_t> window = range(matrix_case::n - 8, matrix_case::n);
                EXPECT_TRUE(std::includes(head.begin(), head.end(), window.begin(), window.end()))
                    << "window kept";
            }
            if (method == "chunkkv") {
                // Past positions form whole chunks [10j, min(10j + 10, n - w)).
                for (int32_t p : head) {
                    const int32_t lo = p / 10 * 10, hi = std::min(lo + 10, matrix_case::n - 8);
                    for (int32_t q = lo; p < matrix_case::n - 8 && q < hi; ++q) {
                        EXPECT_TRUE(std::binary_search(head.begin(), head.end(), q))
                            << "chunk of " << p;
                    }
                }
            }
            if (method == "shotkv") {
                // Non-shot tokens all kept; every shot all in or all out.
                for (const token_span& sp : mc.spans) {
                    int32_t in = 0;
                    for (int32_t q = sp.start; q < sp.end; ++q)
                        in += std::binary_search(head.begin(), head.end(), q);
                    if (sp.kind == SEGMENT_SHOT) {
                        EXPECT_TRUE(in == 0 || in == sp.end - sp.start) << "shot " << sp.shot_id;
                    } else {
                        EXPECT_EQ(in, sp.end - sp.start);
                    }
                }
                EXPECT_EQ(head, sel[l][0]) << "one set per layer";
            }
            kept.back().push_back((int64_t)head.size());
        }
    }
    EXPECT_NO_THROW(compressor_check_kept(*c, ctx, matrix_case::n, kept));
    EXPECT_EQ(c->select_prefill_layers(ctx, mc.views()), sel) << "deterministic";
    if (r < 1.0 && method != "full_kv") {
        // A compressor that silently kept everything is caught.
        std::vector<std::vector<int64_t>> all(matrix_case::L,
                                              std::vector<int64_t>(matrix_case::G, matrix_case::n));
        EXPECT_THROW(compressor_check_kept(*c, ctx, matrix_case::n, all), std::runtime_error);
    }
}

INSTANTIATE_TEST_SUITE_P(all, method_ratio,
                         ::testing::Combine(::testing::ValuesIn(compressor_names()),
                                            ::testing::Values(1.0, 0.5, 0.25, 0.1)),
                         [](const auto& info) {
                             return std::get<0>(info.param) + "_" +
                                    std::to_string((int)(std::get<1>(info.param) * 100));
                         });

TEST(protect_question, keeps_question_and_template_suffix_and_budgets_the_context) {
    matrix_case mc; // question [270, 300)
    const std::vector<int32_t> suffix = range(270, 300);
    for (const char* m : {"streaming_llm", "h2o", "snapkv", "pyramidkv", "chunkkv"}) {
        auto c = compressor_create(m, {{"protect_question", true}});
        const compress_context ctx = ratio_ctx(0.25, &mc.spans);
        std::vector<head_selection> sel = c->select_prefill_layers(ctx, mc.views());
        std::vector<std::vector<int64_t>> kept;
        for (const head_selection& layer : sel) {
            kept.emplace_back();
            for (const std::vector<int32_t>& head : layer) {
                EXPECT_TRUE(std::includes(head.begin(), head.end(), suffix.begin(), suffix.end()))
                    << m;
                kept.back().push_back((int64_t)head.size());
            }
        }
        EXPECT_NO_THROW(compressor_check_kept(*c, ctx, matrix_case::n, kept)) << m;
        // round(0.25 * 270) = 68 (67.5 -> 68) of the context + the 30 protected tokens; PyramidKV
        // layer 0 of 4 on the context: m = 60, max = 117, so 117 + 8 + 30.
        EXPECT_EQ(c->expected_prefill_kept(ctx, 0, 4, matrix_case::n).max,
                  std::string(m) == "pyramidkv" ? 155 : 98)
            << m;
        EXPECT_THROW(c->select_prefill(ratio_ctx(0.25), mc.layers[0].view(0, 4)),
                     std::invalid_argument)
            << m << ": no spans";
    }
}

TEST(prefill_plan, records_budget_and_pyramidinfer_achieved_ratio) {
    nlohmann::json snap = compressor_create("snapkv", {})->prefill_plan(ratio_ctx(0.1), 25, 2);
    EXPECT_EQ(snap["budget"], 2);
    EXPECT_EQ(snap["kept_per_layer"], nlohmann::json::parse("[[2, 2], [2, 2]]"));
    nlohmann::json pyr = compressor_create("pyramidkv", {})->prefill_plan(ratio_ctx(0.3), 1000, 32);
    EXPECT_EQ(pyr["kept_per_layer"][0], nlohmann::json::parse("[578, 578]"));
    EXPECT_EQ(pyr["kept_per_layer"][31], nlohmann::json::parse("[51, 51]"));
    nlohmann::json inf =
        compressor_create("pyramidinfer", {})->prefill_plan(ratio_ctx(0.8), 1000, 32);
    EXPECT_NEAR(inf["achieved_keep_ratio"].get<double>(), 0.8, 1e-3);
    EXPECT_LT(inf["prefill_decay_ratio"].get<double>(), 1.0);
}

TEST(check_kept, names_layer_head_and_expected_count) {
    auto c = compressor_create("snapkv", {});
    try {
        compressor_check_kept(*c, ratio_ctx(0.5), 100, {{50, 50}, {50, 100}});
        FAIL();
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("layer 1 head 1 holds 100"), std::string::npos) << m;
        EXPECT_NE(m.find("expected 50"), std::string::npos) << m;
    }
}
