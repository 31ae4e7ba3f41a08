// GGUF loading: the converted llama2.c model checked float-for-float against the original
// checkpoint (read here on its own), and synthetic files for the other dtypes, GQA, the gpt2
// tokenizer metadata and Llama 3 rope_freqs.
#include <cmath>

#include <gtest/gtest.h>

#include "engine/gguf.h"
#include "engine/mapped_file.h"
#include "engine/model_file.h"
#include "engine/tokenizer.h"
#include "tests/formats/formats_test_util.h"

using namespace formats_test;

namespace {

const char* k_aidreams_gguf = "data/models/aidreams260K.gguf";
const char* k_aidreams_bin = "data/models/llama2c/aidreams260K.bin";

// The llama2.c checkpoint, sliced by its documented layout.
struct llama2c_checkpoint {
    int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    std::vector<float> w; // every float after the 7-int header
    size_t emb = 0, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final; // offsets into w

    explicit llama2c_checkpoint(const std::string& path) {
        std::string raw = read_bytes(path);
        std::memcpy(&dim, raw.data(), 28);
        w.resize((raw.size() - 28) / 4);
        std::memcpy(w.data(), raw.data() + 28, w.size() * 4);
        const size_t L = n_layers, d = dim, h = hidden, kv = (size_t)n_kv_heads * (dim / n_heads);
        rms_att = emb + (size_t)vocab * d;
        wq = rms_att + L * d;
        wk = wq + L * d * d;
        wv = wk + L * kv * d;
        wo = wv + L * kv * d;
        rms_ffn = wo + L * d * d;
        w1 = rms_ffn + L * d;
        w2 = w1 + L * h * d;
        w3 = w2 + L * d * h;
        rms_final = w3 + L * h * d;
    }
};

void expect_floats(const tensor_view& t, const float* want, size_t n) {
    ASSERT_EQ(t.dtype, DTYPE_F32) << t.name;
    ASSERT_EQ(t.bytes, n * 4) << t.name;
    std::vector<float> got(n);
    std::memcpy(got.data(), t.data, n * 4);
    for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(got[i], want[i]) << t.name << " element " << i;
    }
}

} // namespace

TEST(gguf, aidreams_config_matches_llama2c_header) {
    model_file mf = model_file_open(k_aidreams_gguf);
    const model_config& c = mf.config;
    EXPECT_EQ(c.arch, "llama");
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 172);
    EXPECT_EQ(c.n_layers, 4);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.head_dim, 16);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.max_seq_len, 128);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_TRUE(c.rope_scaling.type.empty());
    EXPECT_TRUE(c.tied_output);
    EXPECT_TRUE(c.rope_interleaved);
    EXPECT_EQ(mf.tensors.size(), 2u + 4u * 9u);
    EXPECT_EQ(mf.tensors.count("output"), 0u);
    EXPECT_EQ(mf.get("token_embd").shape, (std::vector<int64_t>{512, 64}));
    EXPECT_EQ(mf.get("blk.3.ffn_down").shape, (std::vector<int64_t>{64, 172}));
    EXPECT_EQ(mf.get("blk.0.ffn_gate").shape, (std::vector<int64_t>{172, 64}));
    EXPECT_EQ(mf.get("output_norm").shape, (std::vector<int64_t>{64}));
    EXPECT_THROW(mf.get("blk.9.attn_q"), std::runtime_error);
}

TEST(gguf, aidreams_weights_equal_llama2c_floats) {
    model_file mf = model_file_open(k_aidreams_gguf);
    llama2c_checkpoint ck(k_aidreams_bin);
    ASSERT_EQ(ck.dim, mf.config.dim);
    const size_t d = ck.dim, h = ck.hidden, kv = (size_t)ck.n_kv_heads * (ck.dim / ck.n_heads);
    const float* w = ck.w.data();
    expect_floats(mf.get("token_embd"), w + ck.emb, (size_t)ck.vocab * d);
    expect_floats(mf.get("output_norm"), w + ck.rms_final, d);
    for (int l = 0; l < ck.n_layers; ++l) {
        std::string b = "blk." + std::to_string(l) + ".";
        expect_floats(mf.get(b + "attn_norm"), w + ck.rms_att + l * d, d);
        expect_floats(mf.get(b + "attn_q"), w + ck.wq + l * d * d, d * d);
        expect_floats(mf.get(b + "attn_k"), w + ck.wk + l * kv * d, kv * d);
        expect_floats(mf.get(b + "attn_v"), w + ck.wv + l * kv * d, kv * d);
        expect_floats(mf.get(b + "attn_output"), w + ck.wo + l * d * d, d * d);
        expect_floats(mf.get(b + "ffn_norm"), w + ck.rms_ffn + l * d, d);
        expect_floats(mf.get(b + "ffn_gate"), w + ck.w1 + l * h * d, h * d);
        expect_floats(mf.get(b + "ffn_down"), w + ck.w2 + l * d * h, d * h);
        expect_floats(mf.get(b + "ffn_up"), w + ck.w3 + l * h * d, h * d);
    }
}

TEST(gguf, aidreams_tokenizer_from_metadata) {
    model_file mf = model_file_open(k_aidreams_gguf);
    ASSERT_TRUE(mf.tok);
    const tokenizer& tok = *mf.tok;
    EXPECT_EQ(tokenizer_n_vocab(tok), 512);
    EXPECT_EQ(tokenizer_bos(tok), 1);
    EXPECT_EQ(tokenizer_eos(tok), 2);
    EXPECT_TRUE(tokenizer_add_bos(tok));
    EXPECT_EQ(tokenizer_token_type(tok, 0), TOKEN_TYPE_UNKNOWN);
    EXPECT_EQ(tokenizer_token_type(tok, 1), TOKEN_TYPE_CONTROL);
    EXPECT_EQ(tokenizer_token_type(tok, 3), TOKEN_TYPE_BYTE);
    EXPECT_EQ(tokenizer_token_type(tok, 258), TOKEN_TYPE_BYTE);
    EXPECT_EQ(tokenizer_token_text(tok, 3), "<0x00>");
    // tok512.bin stores " a" (llama2.c turned U+2581 into a space): the converter restores "▁a".
    EXPECT_EQ(tokenizer_token_id(tok, "\xE2\x96\x81"
                                      "a"),
              262);
    EXPECT_EQ(tokenizer_token_id(tok, "<s>"), 1);
    EXPECT_EQ(mf.chat_template_name, "plain");
}

TEST(gguf, stories_gqa_shapes) {
    model_file mf = model_file_open("data/models/stories260K.gguf");
    EXPECT_EQ(mf.config.n_layers, 5);
    EXPECT_EQ(mf.config.n_heads, 8);
    EXPECT_EQ(mf.config.n_kv_heads, 4);
    EXPECT_EQ(mf.config.head_dim, 8);
    EXPECT_EQ(mf.config.max_seq_len, 512);
    EXPECT_EQ(mf.get("blk.4.attn_k").shape, (std::vector<int64_t>{32, 64}));
    EXPECT_EQ(mf.get("blk.4.attn_q").shape, (std::vector<int64_t>{64, 64}));
}

TEST(gguf, raw_reader_metadata_and_layout) {
    gguf_file g = gguf_read(std::make_shared<mapped_file>(k_aidreams_gguf));
    EXPECT_EQ(g.version, 3u);
    EXPECT_EQ(g.alignment, 32u);
    EXPECT_EQ(g.data_offset % 32, 0u);
    EXPECT_EQ(gguf_get_string(g, "general.architecture"), "llama");
    EXPECT_EQ(gguf_get_int(g, "llama.block_count"), 4);
    EXPECT_EQ(gguf_get_int(g, "no.such.key", 7), 7);
    EXPECT_THROW(gguf_get_int(g, "general.architecture"), std::runtime_error); // a string
    const gguf_value* toks = gguf_find(g, "tokenizer.ggml.tokens");
    ASSERT_TRUE(toks);
    EXPECT_EQ(toks->type, GGUF_TYPE_ARRAY);
    EXPECT_EQ(toks->elem_type, GGUF_TYPE_STRING);
    ASSERT_EQ(toks->strs.size(), 512u);
    EXPECT_EQ(toks->strs[1], "<s>");
    const gguf_value* scores = gguf_find(g, "tokenizer.ggml.scores");
    ASSERT_TRUE(scores);
    EXPECT_EQ(scores->nums[262], -3.0); // tok512.bin: " a" has score -3
    EXPECT_TRUE(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", false));
}

class gguf_dtypes : public ::testing::TestWithParam<std::pair<uint32_t, tensor_dtype>> {};

TEST_P(gguf_dtypes, matrices_keep_dtype_and_bytes) {
    auto [ggml_type, dtype] = GetParam();
    tiny_llama c;
    gguf_builder b = make_llama_gguf(c, ggml_type);
    scratch_dir dir;
    write_bytes(dir / "m.gguf", b.build());
    model_file mf = model_file_open(dir / "m.gguf");
    EXPECT_EQ(mf.config.n_kv_heads, 2);
    EXPECT_EQ(mf.config.head_dim, 16);
    EXPECT_FLOAT_EQ(mf.config.norm_eps, 1e-6f);
    EXPECT_FLOAT_EQ(mf.config.rope_theta, 500000.0f);
    EXPECT_FALSE(mf.config.tied_output);
    for (const char* name : {"blk.1.attn_k", "blk.0.ffn_down", "output", "token_embd"}) {
        const tensor_view& t = mf.get(name);
        const gguf_builder::tensor& src = b.find(std::string(name) + ".weight");
        EXPECT_EQ(t.dtype, dtype) << name;
        EXPECT_EQ(t.shape, (std::vector<int64_t>{(int64_t)src.ne[1], (int64_t)src.ne[0]}));
        ASSERT_EQ(t.bytes, src.data.size()) << name;
        EXPECT_EQ(std::memcmp(t.data, src.data.data(), t.bytes), 0) << name;
    }
    EXPECT_EQ(mf.get("blk.0.attn_norm").dtype, DTYPE_F32);
}

INSTANTIATE_TEST_SUITE_P(all, gguf_dtypes,
                         ::testing::Values(std::make_pair(0u, DTYPE_F32),
                                           std::make_pair(1u, DTYPE_F16),
                                           std::make_pair(30u, DTYPE_BF16),
                                           std::make_pair(8u, DTYPE_Q8_0)));

TEST(gguf, gpt2_tokenizer_and_llama3_guess) {
    tiny_llama c;
    std::vector<std::string> tokens = gpt2_byte_tokens();
    tokens.push_back("he");
    tokens.push_back("<|begin_of_text|>");
    tokens.push_back("<|start_header_id|>");
    c.vocab = (uint32_t)tokens.size();
    gguf_builder b = make_llama_gguf(c, 0);
    // Swap the SPM vocabulary for a byte-level BPE one (keys are looked up by name).
    gguf_builder g;
    g.tensors = b.tensors;
    g.add_str("general.architecture", "llama");
    g.add_u32("llama.context_length", 256);
    g.add_u32("llama.embedding_length", c.dim);
    g.add_u32("llama.feed_forward_length", c.hidden);
    g.add_u32("llama.block_count", c.n_layers);
    g.add_u32("llama.attention.head_count", c.n_heads);
    g.add_u32("llama.attention.head_count_kv", c.n_kv_heads);
    g.add_str("tokenizer.ggml.model", "gpt2");
    g.add_str("tokenizer.ggml.pre", "llama-bpe");
    g.add_str_array("tokenizer.ggml.tokens", tokens);
    std::vector<int32_t> types(tokens.size(), 1);
    types[c.vocab - 2] = types[c.vocab - 1] = 3;
    g.add_i32_array("tokenizer.ggml.token_type", types);
    g.add_str_array("tokenizer.ggml.merges", {"h e"});
    g.add_u32("tokenizer.ggml.bos_token_id", c.vocab - 2);
    g.add_u32("tokenizer.ggml.eos_token_id", c.vocab - 2);
    g.add_bool("tokenizer.ggml.add_bos_token", true);
    scratch_dir dir;
    write_bytes(dir / "m.gguf", g.build());
    model_file mf = model_file_open(dir / "m.gguf");
    ASSERT_TRUE(mf.tok);
    EXPECT_EQ(tokenizer_n_vocab(*mf.tok), (int32_t)c.vocab);
    EXPECT_EQ(tokenizer_encode(*mf.tok, "he", false, false), (std::vector<int32_t>{256}));
    EXPECT_EQ(mf.chat_template_name, "llama3");

    g.kv = g.kv.replace(g.kv.find("llama-bpe"), 9, "qwen2-bpe");
    write_bytes(dir / "qwen.gguf", g.build());
    expect_error([&] { model_file_open(dir / "qwen.gguf"); },
                 {dir / "qwen.gguf", "unsupported tokenizer.ggml.pre 'qwen2-bpe'"});
}

namespace {

// Meta's Llama 3 frequency factors, written out here independently of the loader.
std::vector<float> llama3_rope_factors(int head_dim, double theta, double factor, double orig) {
    std::vector<float> f;
    for (int i = 0; i < head_dim / 2; ++i) {
        double freq = std::pow(theta, -2.0 * i / head_dim), wavelen = 2 * M_PI / freq;
        if (wavelen < orig / 4.0)
            f.push_back(1.0f);
        else if (wavelen > orig / 1.0)
            f.push_back((float)factor);
        else {
            double smooth = (orig / wavelen - 1.0) / 3.0;
            f.push_back((float)(1.0 / ((1 - smooth) / factor + smooth)));
        }
    }
    return f;
}

} // namespace

TEST(gguf, rope_freqs_give_llama3_scaling) {
    tiny_llama c;
    c.dim = 512; // head_dim 128 spans the low, smooth and high frequency bands
    c.n_heads = 4;
    gguf_builder b = make_llama_gguf(c, 0);
    std::vector<float> f = llama3_rope_factors(128, 500000.0, 8.0, 8192);
    ASSERT_GT(f.front(), 0.99f);
    ASSERT_EQ(f.back(), 8.0f);
    b.add_tensor("rope_freqs.weight", {64}, 0, std::string((const char*)f.data(), f.size() * 4));
    scratch_dir dir;
    write_bytes(dir / "m.gguf", b.build());
    model_file mf = model_file_open(dir / "m.gguf");
    EXPECT_EQ(mf.config.rope_scaling.type, "llama3");
    EXPECT_FLOAT_EQ(mf.config.rope_scaling.factor, 8.0f);
    EXPECT_EQ(mf.config.rope_scaling.original_max_position, 8192);
    EXPECT_EQ(mf.tensors.count("rope_freqs"), 0u);

    f[40] *= 1.5f; // no longer Llama 3 scaling
    b.tensors.back().data = std::string((const char*)f.data(), f.size() * 4);
    write_bytes(dir / "bad.gguf", b.build());
    EXPECT_THROW(model_file_open(dir / "bad.gguf"), std::runtime_error);
}

TEST(memory, estimate_for_aidreams) {
    model_file mf = model_file_open(k_aidreams_gguf);
    const int64_t d = 64, h = 172, L = 4;
    const int64_t replicated = (512 * d + d + L * 2 * d) * 4; // embedding and norms
    const int64_t sharded = L * (4 * d * d + 3 * h * d) * 4;  // q, k, v, o and the FFN
    model_memory_estimate one = model_file_estimate_memory(mf, 1);
    EXPECT_EQ(one.weight_bytes, replicated + sharded);
    EXPECT_EQ(one.weight_bytes_per_rank, replicated + sharded);
    EXPECT_EQ(one.kv_bytes_per_token, 2 * L * 4 * 16 * 4 + L * 4 * 4);
    model_memory_estimate two = model_file_estimate_memory(mf, 2);
    EXPECT_EQ(two.weight_bytes, one.weight_bytes);
    EXPECT_EQ(two.weight_bytes_per_rank,
              replicated - 512 * d * 4 / 2 + sharded / 2); // embedding split by vocabulary
    EXPECT_EQ(two.kv_bytes_per_token_per_rank, one.kv_bytes_per_token / 2);
    EXPECT_THROW(model_file_estimate_memory(mf, 3), std::invalid_argument);
    EXPECT_THROW(model_file_estimate_memory(mf, 0), std::invalid_argument);
    model_file stories = model_file_open("data/models/stories260K.gguf");
    EXPECT_NO_THROW(model_file_estimate_memory(stories, 4));
    EXPECT_THROW(model_file_estimate_memory(stories, 8), std::invalid_argument); // 4 KV heads
}

TEST(gguf, metadata_of_every_type) {
    using b = gguf_builder;
    gguf_builder g;
    g.add("u8", 0, b::raw<uint8_t>(200));
    g.add("i8", 1, b::raw<int8_t>(-100));
    g.add("u16", 2, b::raw<uint16_t>(60000));
    g.add("i16", 3, b::raw<int16_t>(-30000));
    g.add("u32", 4, b::raw<uint32_t>(4000000000u));
    g.add("i32", 5, b::raw<int32_t>(-2000000000));
    g.add("f32", 6, b::raw<float>(0.25f));
    g.add("bool", 7, b::raw<uint8_t>(1));
    g.add("str", 8, b::str("h\xC3\xA9llo"));
    g.add("u64", 10, b::raw<uint64_t>((uint64_t)1 << 40));
    g.add("i64", 11, b::raw<int64_t>(-((int64_t)1 << 40)));
    g.add("f64", 12, b::raw<double>(-1.5));
    g.add("arr_u16", 9,
          b::raw<uint32_t>(2) + b::raw<uint64_t>(3) + b::raw<uint16_t>(1) + b::raw<uint16_t>(2) +
              b::raw<uint16_t>(65535));
    g.add("arr_f64", 9, b::raw<uint32_t>(12) + b::raw<uint64_t>(1) + b::raw<double>(2.5));
    g.add("arr_empty", 9, b::raw<uint32_t>(8) + b::raw<uint64_t>(0));
    scratch_dir dir;
    write_bytes(dir / "kv.gguf", g.build());
    gguf_file f = gguf_read(std::make_shared<mapped_file>(dir / "kv.gguf"));
    EXPECT_EQ(f.kv.size(), 15u);
    EXPECT_TRUE(f.tensors.empty());
    EXPECT_EQ(gguf_get_int(f, "u8"), 200);
    EXPECT_EQ(gguf_get_int(f, "i8"), -100);
    EXPECT_EQ(gguf_get_int(f, "u16"), 60000);
    EXPECT_EQ(gguf_get_int(f, "i16"), -30000);
    EXPECT_EQ(gguf_get_int(f, "u32"), 4000000000LL);
    EXPECT_EQ(gguf_get_int(f, "i32"), -2000000000);
    EXPECT_EQ(gguf_get_float(f, "f32", 0.0), 0.25);
    EXPECT_TRUE(gguf_get_bool(f, "bool", false));
    EXPECT_EQ(gguf_get_string(f, "str"), "h\xC3\xA9llo");
    EXPECT_EQ(gguf_get_int(f, "u64"), (int64_t)1 << 40);
    EXPECT_EQ(gguf_get_int(f, "i64"), -((int64_t)1 << 40));
    EXPECT_EQ(gguf_get_float(f, "f64", 0.0), -1.5);
    EXPECT_EQ(gguf_find(f, "arr_u16")->nums, (std::vector<double>{1, 2, 65535}));
    EXPECT_EQ(gguf_find(f, "arr_f64")->nums, (std::vector<double>{2.5}));
    EXPECT_TRUE(gguf_find(f, "arr_empty")->strs.empty());
    EXPECT_THROW(gguf_get_bool(f, "u8", false), std::runtime_error); // wrong type
    EXPECT_THROW(gguf_get_string(f, "arr_u16"), std::runtime_error); // wrong type

    gguf_builder nested;
    nested.add("nested", 9, b::raw<uint32_t>(9) + b::raw<uint64_t>(0));
    write_bytes(dir / "nested.gguf", nested.build());
    expect_error([&] { gguf_read(std::make_shared<mapped_file>(dir / "nested.gguf")); },
                 {"nested", "unsupported array element type 9"});
    gguf_builder huge;
    huge.add("big", 10, b::raw<uint64_t>(~(uint64_t)0));
    write_bytes(dir / "huge.gguf", huge.build());
    expect_error([&] { gguf_read(std::make_shared<mapped_file>(dir / "huge.gguf")); },
                 {"'big'", "uint64 value too large"});
}
