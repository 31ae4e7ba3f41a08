// Our engine on the bundled kvsweep-tiny (F32 compute) against the training script's own PyTorch
// forward (fixture written by tools/tinymodel/reference_logits.py from the exported folder):
// relative logit error <= 1e-4 at every listed position, through prefill and step-by-step decode.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/model.h"

static const char* MODEL_DIR = "data/models/kvsweep-tiny";
static const char* FIXTURE = "tests/synthetic/fixtures/logits.json";

static double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
    double scale = 0.0, err = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::fabs(want[i]));
        err = std::max(err, std::fabs(got[i] - want[i]));
    }
    return err / scale;
}

TEST(tinymodel_logits, engine_matches_pytorch_reference) {
    std::ifstream in(FIXTURE);
    ASSERT_TRUE(in) << FIXTURE;
    const nlohmann::json ref = nlohmann::json::parse(in);
    auto m = model_load(MODEL_DIR, {});
    ASSERT_EQ(model_get_config(*m).vocab_size, static_cast<int32_t>(ref.at("cases")[0].at("logits")[0].size()));
    double worst = 0.0;
    for (const nlohmann::json& c : ref.at("cases")) {
        const std::vector<int32_t> tokens = c.at("tokens");
        const std::vector<int32_t> positions = c.at("positions");
        const std::vector<std::vector<double>> want = c.at("logits");
        // step-by-step decode gives every position
        kv_cache cache = model_new_cache(*m);
        std::vector<float> logits;
        size_t next = 0;
        for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()) && next < positions.size(); ++i) {
            std::vector<decode_slot> one = {{&cache, tokens[i], i}};
            model_decode(*m, one, logits);
            if (positions[next] == i) worst = std::max(worst, rel_err(logits, want[next++]));
        }
        EXPECT_EQ(next, positions.size()) << c.at("name");
        // prefill gives the last position
        if (positions.back() == static_cast<int32_t>(tokens.size()) - 1) {
            kv_cache fresh = model_new_cache(*m);
            model_prefill(*m, fresh, tokens, 0, {}, nullptr, logits);
            worst = std::max(worst, rel_err(logits, want.back()));
        }
    }
    std::printf("kvsweep-tiny f32: max relative logit error %.3g\n", worst);
    EXPECT_LE(worst, 1e-4);
}
