// Shared-prefill batch decoding equals per-config decoding token for token, on the bundled
// stories260K model (GQA: 8 query heads, 4 KV heads) with every registered method.
#include <gtest/gtest.h>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"
#include "mpi_runner/fork_decode.h"
#include "mpi_runner/sweep_item.h"

namespace {

struct fixture {
    std::shared_ptr<model> m;
    tokenized_prompt prompt;
    std::vector<std::unique_ptr<compressor>> methods;
};

fixture& shared_fixture() {
    static fixture f = [] {
        fixture x;
        x.m = model_load("data/models/stories260K.gguf", load_options{});
        const tokenizer& tok = model_get_tokenizer(*x.m);
        // Two "shots" and a question so ShotKV has shot spans to choose from.
        std::vector<text_segment> segs = {
            {SEGMENT_SHOT, "Once upon a time there was a little girl named Lily. She liked to play in the park with her red ball. ", 0},
            {SEGMENT_SHOT, "One day a big dog came to the park. The dog was friendly and wanted to play with Lily and her ball. ", 1},
            {SEGMENT_QUESTION, "Lily threw the ball far away and the dog", -1}};
        x.prompt = tokenizer_encode_segments(tok, segs, tokenizer_add_bos(tok));
        for (const auto& name : compressor_names())
            if (name != "full_kv") x.methods.push_back(compressor_create(name, nlohmann::json::object()));
        return x;
    }();
    return f;
}

fork_request request(const fixture& f, bool kl) {
    fork_request r;
    r.m = f.m.get();
    r.tok = &model_get_tokenizer(*f.m);
    r.prompt = &f.prompt;
    r.max_new_tokens = 40; // > 16 so PyramidInfer and ShotKV also compress while decoding
    r.kl = kl;
    return r;
}

} // namespace

TEST(ForkDecode, BatchOfAllConfigsEqualsEachAlone) {
    fixture& f = shared_fixture();
    ASSERT_GT(f.prompt.tokens.size(), 60u);
    std::vector<fork_spec> all = {{nullptr, 1.0, false}};
    for (const auto& c : f.methods)
        for (double r : {0.9, 0.5, 0.1}) all.push_back({c.get(), r, false});
    const auto batched = fork_decode(request(f, false), all);
    ASSERT_EQ(batched.size(), all.size());
    int differ_from_full = 0;
    for (size_t i = 0; i < all.size(); ++i) {
        const auto alone = fork_decode(request(f, false), {all[i]});
        const std::string name = (all[i].method ? all[i].method->name() : "fullkv") + " " + std::to_string(all[i].ratio);
        EXPECT_EQ(batched[i].tokens, alone[0].tokens) << name;
        EXPECT_EQ(batched[i].kept_per_layer, alone[0].kept_per_layer) << name;
        EXPECT_EQ(batched[i].kv_bytes_final, alone[0].kv_bytes_final) << name;
        EXPECT_FALSE(batched[i].tokens.empty()) << name;
        differ_from_full += batched[i].tokens != batched[0].tokens;
    }
    // The comparison is not vacuous: aggressive compression changes some generations.
    EXPECT_GT(differ_from_full, 0);
}

TEST(ForkDecode, KlShadowsLeaveTokensUnchanged) {
    fixture& f = shared_fixture();
    std::vector<fork_spec> forks = {{nullptr, 1.0, false}};
    for (const auto& c : f.methods) forks.push_back({c.get(), 0.3, false});
    const auto plain = fork_decode(request(f, false), forks);
    const auto with_kl = fork_decode(request(f, true), forks);
    EXPECT_EQ(with_kl[0].mean_kl, 0.0);
    bool some_kl = false;
    for (size_t i = 0; i < forks.size(); ++i) {
        EXPECT_EQ(plain[i].tokens, with_kl[i].tokens);
        EXPECT_EQ(plain[i].mean_kl, -1.0); // off
        EXPECT_GE(with_kl[i].mean_kl, 0.0);
        some_kl = some_kl || with_kl[i].mean_kl > 1e-6;
    }
    EXPECT_TRUE(some_kl);
}

TEST(ForkDecode, FullRatioIsFullKvAndDumpIsSorted) {
    fixture& f = shared_fixture();
    const compressor* snap = nullptr;
    for (const auto& c : f.methods)
        if (c->name() == "snapkv") snap = c.get();
    ASSERT_NE(snap, nullptr);
    const auto res = fork_decode(request(f, false), {{nullptr, 1.0, false}, {snap, 1.0, false}, {snap, 0.5, true}});
    EXPECT_EQ(res[1].tokens, res[0].tokens); // ratio 1.0 keeps everything (spec 10.1)
    EXPECT_DOUBLE_EQ(res[1].kept_fraction, 1.0);
    const int64_t n = (int64_t)f.prompt.tokens.size(); // budget = round half to even (spec 0.2)
    EXPECT_NEAR(res[2].kept_fraction, (double)(int64_t)std::nearbyint(0.5 * n) / n, 1e-9);
    ASSERT_FALSE(res[2].selection.empty());
    const auto& ev = res[2].selection[0];
    EXPECT_EQ(ev["phase"], "prefill");
    EXPECT_EQ(ev["step"], 0);
    for (const auto& layer : ev["layers"])
        for (const auto& head : layer["heads"]) {
            const auto pos = head.get<std::vector<int32_t>>();
            EXPECT_TRUE(std::is_sorted(pos.begin(), pos.end()));
            EXPECT_EQ((int64_t)pos.size(), (int64_t)std::nearbyint(0.5 * n));
        }
}

TEST(ForkDecode, Helpers) {
    const float tie[] = {1, 3, 3, 2};
    EXPECT_EQ(argmax_token(tie, 4), 1); // ties go to the lowest id
    const float p[] = {0, 0}, q[] = {0, std::log(3.0f)};
    // KL([1/2, 1/2] || [1/4, 3/4]) = 0.5 ln 2 + 0.5 ln(2/3)
    EXPECT_NEAR(kl_divergence(p, q, 2), 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-6);
    EXPECT_NEAR(kl_divergence(p, p, 2), 0.0, 1e-12);
}

// parallel.tp against the real registry on stories260K (4 KV heads, q_dim 64, hidden_dim 172),
// and the engine's chat template names.
TEST(SweepRegistry, TensorParallelChecksAndChatTemplates) {
    auto config = [](int tp, const std::string& method, const std::string& weights) {
        return nlohmann::json{
            {"name", "t"},
            {"models", {{{"name", "s"}, {"path", "data/models/stories260K.gguf"},
                         {"chat_template", "llama3-nodate"}, {"weights", weights}}}},
            {"tasks", {{{"name", "synth_recall"}}}},
            {"methods", {{{"name", method}}}},
            {"ratios", {0.5}},
            {"parallel", {{"tp", tp}}}};
    };
    auto error = [&](int tp, const std::string& method, const std::string& weights) {
        try {
            config_parse(config(tp, method, weights), "c.json", sweep_registry());
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_EQ(error(2, "snapkv", "f32"), "");
    EXPECT_EQ(error(4, "snapkv", "f32"), "");
    EXPECT_EQ(error(2, "snapkv", "q8_0"), ""); // 64 columns -> slices of 32: whole blocks
    EXPECT_EQ(error(3, "snapkv", "f32"),
              "c.json: parallel.tp: model s (models[0]): tp = 3 must divide n_kv_heads = 4 (a GQA "
              "group never splits across ranks)");
    EXPECT_EQ(error(4, "snapkv", "q8_0"),
              "c.json: parallel.tp: model s (models[0]): tp = 4 splits 64 columns into slices of "
              "16, which q8_0 cannot hold (blocks of 32)");
    EXPECT_NE(error(2, "pyramidinfer", "f32").find("c.json: parallel.tp: tp = 2: method pyramidinfer "
                                                   "(methods[0], pyramidinfer) drops prompt rows"),
              std::string::npos);
    EXPECT_EQ(error(1, "pyramidinfer", "f32"), "");
    for (const std::string& name : chat_template_names()) {
        nlohmann::json j = config(1, "snapkv", "f32");
        j["models"][0]["chat_template"] = name;
        EXPECT_EQ(config_parse(j, "c.json", sweep_registry()).models[0].chat_template, name);
    }
}
