// Hugging Face folders written at test time by tools/make_random_hf_model.py (F32, BF16, F16,
// sharded, tied), checked against the values the tool reports for what it stored.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/hf_model.h"
#include "engine/model_file.h"
#include "engine/tokenizer.h"
#include "tests/formats/formats_test_util.h"

using namespace formats_test;

namespace {

float stored_value(const tensor_view& t, size_t i) {
    if (t.dtype == DTYPE_F32) {
        float f;
        std::memcpy(&f, t.data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    if (t.dtype == DTYPE_BF16) return bf16_to_f32(h);
    // F16 -> F32 (normal numbers only: the tool's weights never underflow)
    uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    uint32_t u = (sign << 31) | ((exp - 15 + 127) << 23) | (man << 13);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Every tensor of the reference (HF names) is present under its canonical name with the same
// shape and the same first values.
void expect_matches_reference(const model_file& mf, const std::string& reference_path,
                              tensor_dtype dtype) {
    nlohmann::json ref = nlohmann::json::parse(read_bytes(reference_path));
    size_t checked = 0;
    for (const auto& [hf_name, r] : ref.items()) {
        std::string name = hf_canonical_name(hf_name);
        ASSERT_FALSE(name.empty()) << hf_name;
        const tensor_view& t = mf.get(name);
        EXPECT_EQ(t.dtype, dtype) << name;
        EXPECT_EQ(t.shape, r["shape"].get<std::vector<int64_t>>()) << name;
        std::vector<float> first = r["first"].get<std::vector<float>>();
        for (size_t i = 0; i < first.size(); ++i) {
            EXPECT_EQ(stored_value(t, i), first[i]) << name << " element " << i;
        }
        ++checked;
    }
    EXPECT_EQ(checked, mf.tensors.size());
}

void expect_tool_config(const model_config& c) {
    EXPECT_EQ(c.arch, "llama");
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 128);
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.head_dim, 16);
    EXPECT_EQ(c.vocab_size, 256);
    EXPECT_EQ(c.max_seq_len, 131072);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
    EXPECT_EQ(c.rope_scaling.type, "llama3");
    EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
    EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
    EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
    EXPECT_EQ(c.rope_scaling.original_max_position, 8192);
    EXPECT_FALSE(c.rope_interleaved);
}

} // namespace

struct hf_case {
    const char* args;
    tensor_dtype dtype;
    size_t n_files;
};

class hf_folders : public ::testing::TestWithParam<hf_case> {};

TEST_P(hf_folders, load_and_match_tool_reference) {
    const hf_case& p = GetParam();
    scratch_dir dir;
    make_random_hf_model(dir / "m",
                         std::string(p.args) + " --dump-reference " + (dir / "ref.json"));
    model_file mf = model_file_open(dir / "m");
    expect_tool_config(mf.config);
    EXPECT_FALSE(mf.config.tied_output);
    EXPECT_EQ(mf.mappings.size(), p.n_files);
    EXPECT_EQ(mf.tensors.size(), 3u + 2u * 9u);
    EXPECT_EQ(mf.get("blk.1.attn_k").shape, (std::vector<int64_t>{32, 64}));
    EXPECT_EQ(mf.get("blk.0.ffn_down").shape, (std::vector<int64_t>{64, 128}));
    expect_matches_reference(mf, dir / "ref.json", p.dtype);
    EXPECT_FALSE(mf.tok); // the tool writes no tokenizer
    EXPECT_EQ(mf.chat_template_name, "plain");
}

INSTANTIATE_TEST_SUITE_P(all, hf_folders,
                         ::testing::Values(hf_case{"--dtype f32 --seed 1", DTYPE_F32, 1},
                                           hf_case{"--dtype bf16 --seed 2", DTYPE_BF16, 1},
                                           hf_case{"--dtype f16 --seed 3", DTYPE_F16, 1},
                                           hf_case{"--dtype bf16 --seed 4 --shards 3", DTYPE_BF16,
                                                   3}));

TEST(hf, tied_embeddings_have_no_output) {
    scratch_dir dir;
    make_random_hf_model(dir / "m", "--tied --seed 5");
    model_file mf = model_file_open(dir / "m");
    EXPECT_TRUE(mf.config.tied_output);
    EXPECT_EQ(mf.tensors.count("output"), 0u);
}

TEST(hf, config_or_weight_file_path_opens_the_folder) {
    scratch_dir dir;
    make_random_hf_model(dir / "m", "--seed 6");
    EXPECT_EQ(model_file_open(dir / "m/").config.dim, 64);
    EXPECT_EQ(model_file_open(dir / "m/config.json").config.dim, 64);
    EXPECT_EQ(model_file_open(dir / "m/model.safetensors").path, dir / "m");
}

TEST(hf, canonical_names) {
    EXPECT_EQ(hf_canonical_name("model.embed_tokens.weight"), "token_embd");
    EXPECT_EQ(hf_canonical_name("model.norm.weight"), "output_norm");
    EXPECT_EQ(hf_canonical_name("lm_head.weight"), "output");
    EXPECT_EQ(hf_canonical_name("model.layers.0.input_layernorm.weight"), "blk.0.attn_norm");
    EXPECT_EQ(hf_canonical_name("model.layers.12.self_attn.o_proj.weight"), "blk.12.attn_output");
    EXPECT_EQ(hf_canonical_name("model.layers.3.post_attention_layernorm.weight"),
              "blk.3.ffn_norm");
    EXPECT_EQ(hf_canonical_name("model.layers.31.mlp.down_proj.weight"), "blk.31.ffn_down");
    EXPECT_EQ(hf_canonical_name("model.layers.1.self_attn.rotary_emb.inv_freq"), "");
    EXPECT_EQ(hf_canonical_name("model.layers.x.mlp.up_proj.weight"), "");
    EXPECT_EQ(hf_canonical_name("model.layers.1.mlp.up_proj.bias"), "");
}

namespace {

// A minimal byte-level BPE tokenizer.json with the Llama 3 chat header token.
std::string tiny_tokenizer_json() {
    nlohmann::json vocab = nlohmann::json::object();
    std::vector<std::string> bytes = gpt2_byte_tokens();
    for (int b = 0; b < 256; ++b)
        vocab[bytes[b]] = b;
    vocab["he"] = 256;
    nlohmann::json j = {
        {"version", "1.0"},
        {"added_tokens",
         {{{"id", 257}, {"content", "<|begin_of_text|>"}, {"special", true}},
          {{"id", 258}, {"content", "<|start_header_id|>"}, {"special", true}}}},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern",
              {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e"}}}}};
    return j.dump();
}

} // namespace

TEST(hf, gzipped_tokenizer_and_llama3_guess) {
    scratch_dir dir;
    make_random_hf_model(dir / "m", "--seed 7 --vocab 259");
    write_bytes(dir / "m/tokenizer.json", tiny_tokenizer_json());
    write_bytes(dir / "m/tokenizer_config.json",
                R"({"bos_token": "<|begin_of_text|>", "add_bos_token": true})");
    ASSERT_EQ(std::system(("gzip " + (dir / "m/tokenizer.json")).c_str()), 0);
    model_file mf = model_file_open(dir / "m");
    ASSERT_TRUE(mf.tok);
    EXPECT_EQ(tokenizer_token_id(*mf.tok, "<|start_header_id|>"), 258);
    EXPECT_EQ(tokenizer_encode(*mf.tok, "he", true, false), (std::vector<int32_t>{257, 256}));
    EXPECT_EQ(mf.chat_template_name, "llama3");

    make_random_hf_model(dir / "m", "--seed 7 --vocab 200"); // same tokenizer, fewer rows
    expect_error([&] { model_file_open(dir / "m"); },
                 {dir / "m", "tokenizer has 259 tokens, more than vocab_size = 200"});
}

TEST(model_file, chat_template_guess_order) {
    const auto no_tokens = [](const std::string&) { return false; };
    const auto r1_vocab = [](const std::string& t) {
        return t == "<｜Assistant｜>" || t == "<|start_header_id|>";
    };
    EXPECT_EQ(model_file_guess_chat_template("", r1_vocab), "deepseek-r1");
    EXPECT_EQ(model_file_guess_chat_template("{{'<|start_header_id|>'}}", no_tokens), "llama3");
    EXPECT_EQ(model_file_guess_chat_template("[INST] <<SYS>>\n{{ system }}", no_tokens), "llama2");
    EXPECT_EQ(model_file_guess_chat_template("{{ '[INST] ' + content }}", no_tokens), "mistral");
    EXPECT_EQ(model_file_guess_chat_template("", no_tokens), "plain");
}

TEST(hf, mistral_guesses_mistral_template) {
    scratch_dir dir;
    make_random_hf_model(dir / "m", "--seed 8");
    nlohmann::json cfg = nlohmann::json::parse(read_bytes(dir / "m/config.json"));
    cfg["architectures"] = {"MistralForCausalLM"};
    cfg["rope_scaling"] = nullptr;
    write_bytes(dir / "m/config.json", cfg.dump());
    model_file mf = model_file_open(dir / "m");
    EXPECT_EQ(mf.config.arch, "mistral");
    EXPECT_TRUE(mf.config.rope_scaling.type.empty());
    EXPECT_EQ(mf.chat_template_name, "mistral");
}
