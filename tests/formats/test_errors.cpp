// Every named failure of the loaders: a std::runtime_error naming the file and the problem.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/gguf.h"
#include "engine/mapped_file.h"
#include "engine/model_file.h"
#include "tests/formats/formats_test_util.h"

using namespace formats_test;

namespace {

const char* k_gguf = "data/models/aidreams260K.gguf";

// Writes `bytes` as m.gguf in `dir` and expects opening it to fail with `parts` in the message.
void expect_gguf_error(const scratch_dir& dir, const std::string& bytes,
                       std::vector<std::string> parts) {
    write_bytes(dir / "m.gguf", bytes);
    parts.push_back(dir / "m.gguf");
    expect_error([&] { gguf_load_model(dir / "m.gguf"); }, parts);
}

std::string patch(std::string bytes, const std::string& from, const std::string& to) {
    size_t at = bytes.find(from);
    if (at == std::string::npos || from.size() != to.size()) throw std::runtime_error("bad patch");
    return bytes.replace(at, from.size(), to);
}

} // namespace

TEST(errors, missing_empty_and_directory_files) {
    scratch_dir dir;
    expect_error([&] { model_file_open(dir / "nope.gguf"); }, {dir / "nope.gguf", "no such file"});
    expect_error([&] { mapped_file f(dir / "nope.gguf"); }, {dir / "nope.gguf", "cannot open"});
    write_bytes(dir / "empty.gguf", "");
    expect_error([&] { mapped_file f(dir / "empty.gguf"); }, {dir / "empty.gguf", "empty"});
    expect_error([&] { mapped_file f(dir.path); }, {dir.path, "not a regular file"});
    write_bytes(dir / "junk.bin", "hello world");
    expect_error([&] { model_file_open(dir / "junk.bin"); }, {dir / "junk.bin", "neither a GGUF"});
    expect_error([&] { model_file_open(dir.path); }, {"config.json", "cannot open"});
}

TEST(errors, gguf_wrong_magic_version_and_truncation) {
    scratch_dir dir;
    const std::string good = read_bytes(k_gguf);
    expect_gguf_error(dir, "GGUX" + good.substr(4), {"wrong magic"});
    std::string v9 = good;
    v9[4] = 9;
    expect_gguf_error(dir, v9, {"unsupported GGUF version 9"});
    expect_gguf_error(dir, good.substr(0, 10), {"truncated", "tensor count"});
    expect_gguf_error(dir, good.substr(0, 3000), {"array count 512 exceeds the file size"});
    expect_gguf_error(dir, good.substr(0, 5500), {"truncated while reading array string"});
    gguf_file g = gguf_read(std::make_shared<mapped_file>(k_gguf));
    expect_gguf_error(dir, good.substr(0, g.data_offset - 200), {"truncated while reading tensor"});
    expect_gguf_error(dir, good.substr(0, g.data_offset + 100), {"lies outside the file"});
}

TEST(errors, gguf_absurd_lengths) {
    scratch_dir dir;
    std::string bytes = read_bytes(k_gguf);
    // The first key's length prefix sits right after the 24-byte header.
    std::string huge_key = bytes;
    uint64_t n = (uint64_t)1 << 60;
    std::memcpy(&huge_key[24], &n, 8);
    expect_gguf_error(dir, huge_key, {"truncated while reading metadata key"});
    std::string huge_kv = bytes;
    std::memcpy(&huge_kv[16], &n, 8);
    expect_gguf_error(dir, huge_kv, {"metadata count", "exceeds the file size"});
    std::string huge_tensors = bytes;
    std::memcpy(&huge_tensors[8], &n, 8);
    expect_gguf_error(dir, huge_tensors, {"tensor count", "exceeds the file size"});
    // tokenizer.ggml.tokens: key, u32 ARRAY, u32 STRING, u64 count
    const std::string key = "tokenizer.ggml.tokens";
    size_t count_at = bytes.find(key) + key.size() + 8;
    std::string huge_array = bytes;
    std::memcpy(&huge_array[count_at], &n, 8);
    expect_gguf_error(dir, huge_array, {"array count", "exceeds the file size"});
}

TEST(errors, gguf_tensor_outside_file_and_misaligned) {
    scratch_dir dir;
    gguf_builder b = make_llama_gguf(tiny_llama{}, 0);
    expect_gguf_error(dir, b.build((uint64_t)1 << 20),
                      {"tensor 'output.weight'", "outside the file"});
    expect_gguf_error(dir, b.build(4), {"tensor 'output.weight'", "not aligned to 32"});
}

TEST(errors, gguf_missing_tensor_shape_mismatch_bad_dtype) {
    scratch_dir dir;
    gguf_builder b = make_llama_gguf(tiny_llama{}, 0);
    gguf_builder missing = b;
    missing.tensors.erase(missing.tensors.begin() + 5);
    expect_gguf_error(dir, missing.build(),
                      {"tensor '" + b.tensors[5].name.substr(0, 14), "missing"});

    gguf_builder shape = b;
    shape.find("blk.1.attn_k.weight").ne = {64, 16};
    shape.find("blk.1.attn_k.weight").data.resize(64 * 16 * 4);
    expect_gguf_error(dir, shape.build(),
                      {"blk.1.attn_k", "has shape {16, 64}, expected {32, 64}"});

    gguf_builder dtype = b;
    dtype.find("blk.0.ffn_up.weight").type = 2; // Q4_0
    expect_gguf_error(dir, dtype.build(), {"blk.0.ffn_up.weight", "unsupported ggml type 2"});

    gguf_builder q8 = b; // Q8_0 rows must be whole blocks of 32
    q8.find("blk.0.attn_norm.weight").type = 8;
    q8.find("blk.0.attn_norm.weight").ne = {48};
    expect_gguf_error(dir, q8.build(), {"blk.0.attn_norm.weight", "shape invalid for dtype Q8_0"});
}

TEST(errors, gguf_bad_metadata) {
    scratch_dir dir;
    const std::string good = read_bytes(k_gguf);
    // "general.architecture" = "llama" -> "lxama"
    std::string key = "general.architecture";
    size_t at = good.find(key) + key.size() + 4 + 8;
    std::string arch = good;
    arch[at + 1] = 'x';
    expect_gguf_error(dir, arch, {"unsupported architecture 'lxama'"});
    expect_gguf_error(dir, patch(good, "llama.block_count", "llama.block_cOunt"),
                      {"llama.block_count", "missing"});
    gguf_builder b = make_llama_gguf(tiny_llama{}, 0);
    b.add_u32("llama.attention.head_count_kv", 3);
    b.kv = patch(b.kv, std::string("head_count_kv\x04\0\0\0\x02", 18),
                 std::string("head_count_kv\x04\0\0\0\x03", 18));
    expect_gguf_error(dir, b.build(), {"duplicate metadata key"});
    gguf_builder heads = make_llama_gguf(tiny_llama{}, 0);
    heads.kv = patch(heads.kv, std::string("head_count_kv\x04\0\0\0\x02", 18),
                     std::string("head_count_kv\x04\0\0\0\x03", 18));
    expect_gguf_error(dir, heads.build(), {"n_kv_heads = 3 does not divide n_heads = 4"});
    gguf_builder eps = make_llama_gguf(tiny_llama{}, 0);
    eps.kv = patch(eps.kv, "layer_norm_rms_epsilon\x06", "layer_norm_rms_epsilon\x08");
    expect_gguf_error(dir, eps.build(), {"truncated"}); // a float read as a string length
}

namespace {

// A safetensors file from a header object and raw data.
void write_safetensors(const std::string& path, const nlohmann::json& header,
                       const std::string& data) {
    std::string h = header.dump();
    uint64_t n = h.size();
    write_bytes(path, std::string((const char*)&n, 8) + h + data);
}

struct hf_fixture {
    scratch_dir dir;
    std::string m;
    hf_fixture() : m(dir / "m") { make_random_hf_model(m, "--seed 11"); }
    nlohmann::json config() const { return nlohmann::json::parse(read_bytes(m + "/config.json")); }
    void set_config(const nlohmann::json& j) const { write_bytes(m + "/config.json", j.dump()); }
    void expect(std::vector<std::string> parts) const {
        expect_error([&] { model_file_open(m); }, parts);
    }
};

} // namespace

TEST(errors, hf_config) {
    hf_fixture f;
    const nlohmann::json good = f.config();
    write_bytes(f.m + "/config.json", "{\"hidden_size\": 64,");
    f.expect({f.m + "/config.json", "bad JSON"});
    nlohmann::json j = good;
    j["architectures"] = {"Qwen2ForCausalLM"};
    f.set_config(j);
    f.expect({"config.json", "unsupported architecture 'Qwen2ForCausalLM'"});
    j = good;
    j.erase("hidden_size");
    f.set_config(j);
    f.expect({"config.json", "field 'hidden_size' missing"});
    j = good;
    j["num_hidden_layers"] = "two";
    f.set_config(j);
    f.expect({"field 'num_hidden_layers' must be an integer"});
    j = good;
    j["rope_scaling"]["rope_type"] = "yarn";
    f.set_config(j);
    f.expect({"field 'rope_scaling'", "yarn"});
    j = good;
    j["num_key_value_heads"] = 8;
    f.set_config(j);
    f.expect({"n_kv_heads = 8 out of range"});
    j = good;
    j["rms_norm_eps"] = -1.0;
    f.set_config(j);
    f.expect({"norm_eps", "must be finite and > 0"});
    j = good;
    j["num_hidden_layers"] = 3; // the file has two
    f.set_config(j);
    f.expect({"tensor 'blk.2.attn_norm' missing"});
    j = good;
    j["intermediate_size"] = 100;
    f.set_config(j);
    f.expect({"tensor 'blk.0.ffn_gate' has shape {128, 64}, expected {100, 64}"});
}

TEST(errors, hf_safetensors) {
    hf_fixture f;
    const std::string st = f.m + "/model.safetensors";
    const std::string good = read_bytes(st);
    std::string huge = good;
    uint64_t n = (uint64_t)1 << 50;
    std::memcpy(&huge[0], &n, 8);
    write_bytes(st, huge);
    f.expect({st, "header length", "does not fit the file"});
    write_bytes(st, good.substr(0, 5));
    f.expect({st, "truncated safetensors header length"});
    std::string bad_json = good;
    bad_json[8] = '[';
    write_bytes(st, bad_json);
    f.expect({st, "bad safetensors header JSON"});

    const std::string four = std::string(16, '\0');
    write_safetensors(
        st, {{"model.norm.weight", {{"dtype", "I64"}, {"shape", {2}}, {"data_offsets", {0, 16}}}}},
        four);
    f.expect({st, "tensor 'model.norm.weight'", "unsupported dtype I64"});
    write_safetensors(
        st, {{"model.norm.weight", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}},
        "");
    f.expect({st, "lies outside the file"});
    write_safetensors(
        st, {{"model.norm.weight", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 16}}}}},
        four);
    f.expect({st, "data_offsets span 16 bytes, shape and dtype need 12"});
    write_safetensors(
        st, {{"model.norm.weight", {{"dtype", "F32"}, {"shape", {-4}}, {"data_offsets", {0, 16}}}}},
        four);
    f.expect({st, "bad shape entry -4"});
    write_safetensors(st, {{"model.norm.weight", {{"dtype", "F32"}, {"shape", {4}}}}}, four);
    f.expect({st, "needs dtype"});
    write_safetensors(
        st, {{"model.norm.weight", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}},
        four);
    f.expect({f.m, "tensor 'token_embd' missing"});
}

TEST(errors, hf_sharded_index) {
    scratch_dir dir;
    const std::string m = dir / "m";
    make_random_hf_model(m, "--seed 12 --shards 2");
    const std::string index = m + "/model.safetensors.index.json";
    nlohmann::json j = nlohmann::json::parse(read_bytes(index));
    std::filesystem::remove(m + "/model-00002-of-00002.safetensors");
    expect_error([&] { model_file_open(m); }, {"model-00002-of-00002.safetensors", "cannot open"});
    j["weight_map"]["lm_head.weight"] = "../elsewhere.safetensors";
    write_bytes(index, j.dump());
    expect_error([&] { model_file_open(m); }, {index, "not a file name in the model folder"});
    write_bytes(index, "{\"weight_map\": 3}");
    expect_error([&] { model_file_open(m); }, {index, "weight_map"});
    std::filesystem::remove(index);
    expect_error([&] { model_file_open(m); }, {m, "no model.safetensors"});
}
