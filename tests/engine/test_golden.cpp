// Golden tests: our engine against the independent numpy forward pass in reference_forward.py
// (run at test time with /usr/bin/python3; it parses the model files itself), on the converted
// aidreams260K GGUF and on a random Llama-3-shaped Hugging Face folder (GQA, llama3 rope
// scaling, untied head). Also the 64 greedy ids of aidreams260K listed with the staged data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/model_internal.h"
#include "engine/weights.h"
#include "tests/formats/formats_test_util.h"

namespace {

const char* kReference = "tests/engine/reference_forward.py";
const char* kAidreams = "data/models/aidreams260K.gguf";

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("kvsweep_golden_" + std::to_string(getpid()) + "_" + name)).string();
}

void run_python(const std::string& args) {
    const std::string cmd = "/usr/bin/python3 " + std::string(kReference) + " " + args;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// Reference logits of every position: [T][vocab].
std::vector<double> reference_logits(const std::string& model_path, const std::vector<int32_t>& tokens, int vocab) {
    std::string list;
    for (int32_t t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
    const std::string out = temp_path("logits.bin");
    run_python("logits " + model_path + " " + out + " " + list);
    std::vector<double> v(tokens.size() * vocab);
    std::ifstream f(out, std::ios::binary);
    f.read((char*)v.data(), (std::streamsize)(v.size() * sizeof(double)));
    EXPECT_TRUE(f.good()) << out;
    std::filesystem::remove(out);
    return v;
}

double rel_err(const float* got, const double* want, int n) {
    double scale = 0.0, err = 0.0;
    for (int i = 0; i < n; ++i) {
        scale = std::max(scale, std::fabs(want[i]));
        err = std::max(err, std::fabs(got[i] - want[i]));
    }
    return err / scale;
}

// Our logits of every position (decode step by step) and of the last (prefill); returns the
// worst relative error against the reference.
double engine_vs_reference(const model& m, const std::vector<int32_t>& tokens, const std::vector<double>& ref) {
    const int V = model_get_config(m).vocab_size;
    double worst = 0.0;
    kv_cache cache = model_new_cache(m);
    std::vector<float> logits;
    for (size_t i = 0; i < tokens.size(); ++i) {
        std::vector<decode_slot> one = {{&cache, tokens[i], (int32_t)i}};
        model_decode(m, one, logits);
        worst = std::max(worst, rel_err(logits.data(), ref.data() + i * V, V));
    }
    kv_cache fresh = model_new_cache(m);
    model_prefill(m, fresh, tokens, 0, {}, nullptr, logits);
    return std::max(worst, rel_err(logits.data(), ref.data() + (tokens.size() - 1) * V, V));
}

std::vector<int32_t> test_tokens(int n, int vocab) {
    std::vector<int32_t> t = {1};
    for (int i = 1; i < n; ++i) t.push_back((i * 37 + 11) % vocab);
    return t;
}

} // namespace

TEST(golden, aidreams_greedy_reproduces_published_ids) {
    // The first 64 greedy ids after BOS, from the staged data's README (a float64 llama2.c run).
    const std::vector<int32_t> expected = {
        319, 459, 355, 260, 275, 429, 339, 315, 374, 327, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283, 446, 299,
        303, 266, 358, 430, 312, 379, 441, 260, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283, 446, 299, 303, 384,
        467, 407, 360, 266, 291, 443, 435, 295, 448, 429, 465, 265, 434, 317, 431, 434, 289, 408, 326, 446};
    auto m = model_load(kAidreams, {});
    kv_cache cache = model_new_cache(*m);
    std::vector<float> logits;
    model_prefill(*m, cache, {1}, 0, {}, nullptr, logits);
    std::vector<int32_t> got;
    for (int32_t pos = 1; got.size() < expected.size(); ++pos) {
        const int32_t next = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        std::vector<decode_slot> one = {{&cache, next, pos}};
        model_decode(*m, one, logits);
    }
    EXPECT_EQ(got, expected);
}

// aidreams260K (MHA) and stories260K (GQA 8/4; used only as a shape fixture), both interleaved RoPE.
TEST(golden, gguf_logits_match_numpy_reference) {
    for (const char* path : {kAidreams, "data/models/stories260K.gguf"}) {
        auto m = model_load(path, {});
        const int V = model_get_config(*m).vocab_size;
        const std::vector<int32_t> tokens = test_tokens(40, V);
        const std::vector<double> ref = reference_logits(path, tokens, V);
        const double err = engine_vs_reference(*m, tokens, ref);
        std::printf("%s f32: max relative logit error %.3g\n", path, err);
        EXPECT_LE(err, 1e-4) << path;
        for (weight_type t : {WEIGHT_BF16, WEIGHT_Q8_0}) {
            load_options o;
            o.weights = t;
            std::printf("%s %s: max relative logit error %.3g\n", path, weight_type_name(t),
                        engine_vs_reference(*model_load(path, o), tokens, ref));
        }
    }
}

TEST(golden, random_llama3_hf_matches_numpy_reference) {
    const std::string dir = temp_path("hf");
    run_python("make-hf " + dir + " 7");
    auto m = model_load(dir, {});
    const model_config& c = model_get_config(*m);
    ASSERT_EQ(c.rope_scaling.type, "llama3");
    ASSERT_LT(c.n_kv_heads, c.n_heads);
    ASSERT_FALSE(c.tied_output);
    const std::vector<int32_t> tokens = test_tokens(48, c.vocab_size);
    const std::vector<double> ref = reference_logits(dir, tokens, c.vocab_size);
    const double err = engine_vs_reference(*m, tokens, ref);
    std::printf("random llama3 HF f32: max relative logit error %.3g\n", err);
    EXPECT_LE(err, 1e-4);

    // Reduced-precision weights: how far their logits move (reported; loose bounds).
    for (weight_type t : {WEIGHT_BF16, WEIGHT_Q8_0}) {
        load_options o;
        o.weights = t;
        auto q = model_load(dir, o);
        const double e = engine_vs_reference(*q, tokens, ref);
        std::printf("random llama3 HF %s: max relative logit error %.3g\n", weight_type_name(t), e);
        EXPECT_LE(e, t == WEIGHT_BF16 ? 3e-2 : 5e-2);
        EXPECT_GT(e, 1e-5); // really converted
    }
    std::filesystem::remove_all(dir);
}

// A BF16 folder wanted as BF16 is used in place, straight from the mapping (no copy), and matches
// the reference on the stored values as closely as F32 weights do: nothing was rounded on the way.
TEST(golden, bf16_hf_folder_is_used_in_place) {
    const std::string dir = temp_path("hf_bf16");
    const std::string cmd = "/usr/bin/python3 tools/make_random_hf_model.py " + dir + " --dtype bf16 --seed 9";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    load_options o;
    o.weights = WEIGHT_BF16;
    auto m = model_load(dir, o);
    const weight_matrix& wq = m->layers[0].wq;
    EXPECT_EQ(wq.type, WEIGHT_BF16);
    EXPECT_TRUE(wq.storage.empty()) << "BF16 weights were copied";
    const model_config& c = model_get_config(*m);
    const std::vector<int32_t> tokens = test_tokens(32, c.vocab_size);
    const double err = engine_vs_reference(*m, tokens, reference_logits(dir, tokens, c.vocab_size));
    std::printf("random HF folder stored as bf16, run as bf16: max relative logit error %.3g\n", err);
    EXPECT_LE(err, 1e-4);
    std::filesystem::remove_all(dir);
}

// A Q8_0 GGUF wanted as Q8_0 keeps the file's values and scales: every row reads back bitwise as
// the same file loaded as F32 (which dequantizes them). The test file's blocks (scale 1/16, random
// bytes) mostly do not reach |q| = 127, so quantizing their dequantized values again would not
// give them back.
TEST(golden, q8_0_gguf_blocks_are_kept_exactly) {
    const std::string path = temp_path("q8_0.gguf");
    formats_test::write_bytes(path, formats_test::make_llama_gguf(formats_test::tiny_llama{}, 8).build());
    load_options o;
    o.weights = WEIGHT_Q8_0;
    auto q = model_load(path, o), f = model_load(path, {});
    auto same_rows = [](const weight_matrix& a, const weight_matrix& b, const std::string& name) {
        ASSERT_EQ(a.type, WEIGHT_Q8_0) << name;
        std::vector<float> ra(a.rows * a.cols), rb(b.rows * b.cols);
        weight_rows(a, 0, a.rows, ra.data());
        weight_rows(b, 0, b.rows, rb.data());
        EXPECT_EQ(0, std::memcmp(ra.data(), rb.data(), ra.size() * 4)) << name;
    };
    same_rows(q->token_embd, f->token_embd, "token_embd");
    same_rows(q->output, f->output, "output");
    for (size_t l = 0; l < q->layers.size(); ++l) {
        const layer_weights &a = q->layers[l], &b = f->layers[l];
        same_rows(a.wq, b.wq, "wq");
        same_rows(a.wk, b.wk, "wk");
        same_rows(a.w_down, b.w_down, "w_down");
    }
    std::filesystem::remove_all(path);
}
