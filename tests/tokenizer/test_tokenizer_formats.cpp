// The other construction paths, checked against the same independent fixtures: the GGUF "gpt2"
// constructor (vocabulary and merges as GGUF stores them) and tokenizer.json variants.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "tests/tokenizer/tokenizer_fixtures.h"

namespace {

nlohmann::json read_gz_json(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error(path + ": cannot open");
    std::string text;
    char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof(buf))) > 0)
        text.append(buf, static_cast<size_t>(n));
    gzclose(f);
    return nlohmann::json::parse(text);
}

std::string write_temp_json(const std::string& name, const nlohmann::json& j) {
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path) << j.dump();
    return path;
}

TEST(tokenizer_formats, gguf_gpt2_vocabulary_matches_fixtures) {
    // What a GGUF converter writes for Llama 3: tokens by id (added tokens included, as control),
    // merges as "left right" strings.
    const nlohmann::json j = read_gz_json("data/tokenizers/llama3/tokenizer.json.gz");
    const auto& vocab = j.at("model").at("vocab");
    std::vector<std::string> tokens(128256);
    std::vector<int32_t> types(128256, TOKEN_TYPE_NORMAL);
    for (const auto& [piece, id] : vocab.items())
        tokens[id.get<int32_t>()] = piece;
    for (const auto& a : j.at("added_tokens")) {
        tokens[a.at("id").get<int32_t>()] = a.at("content").get<std::string>();
        types[a.at("id").get<int32_t>()] = TOKEN_TYPE_CONTROL;
    }
    std::vector<std::string> merges;
    for (const auto& m : j.at("model").at("merges"))
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    const auto tok = tokenizer_from_bpe(tokens, merges, types, 128000, 128009, true);
    for (const fixture_case& c : load_fixture("llama3_2")) {
        EXPECT_EQ(tokenizer_encode(*tok, c.text, false, c.special), c.ids) << c.text;
    }
    EXPECT_EQ(tokenizer_encode(*tok, "Hi", true, false).front(), 128000);
    EXPECT_TRUE(tokenizer_is_eog(*tok, 128009));

    merges.push_back("Ġnot_a_piece x");
    EXPECT_THROW(tokenizer_from_bpe(tokens, merges, types, 128000, 128009, true),
                 std::invalid_argument);
}

TEST(tokenizer_formats, metaspace_pre_tokenizer_prepend_first) {
    // The newer tokenizer.json layout of SentencePiece-BPE models: no normalizer, a Metaspace
    // pre-tokenizer with prepend_scheme "first". It adds no "▁" when the text already starts with
    // a space, so " " + text encodes as the Prepend normalizer encodes text.
    nlohmann::json j = read_gz_json("data/tokenizers/mistral/tokenizer.json.gz");
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Metaspace"},
                          {"replacement", "\xE2\x96\x81"},
                          {"prepend_scheme", "first"},
                          {"split", false}};
    const std::string path = write_temp_json("kvsweep_metaspace_tokenizer.json", j);
    const auto tok = tokenizer_from_hf(path, "");
    std::filesystem::remove(path);
    int checked = 0;
    for (const fixture_case& c : load_fixture("llama2")) {
        if (c.special || c.text.empty() || c.text[0] == ' ') continue;
        EXPECT_EQ(tokenizer_encode(*tok, c.text, false, false), c.ids) << c.text;
        EXPECT_EQ(tokenizer_encode(*tok, " " + c.text, false, false), c.ids) << c.text;
        ++checked;
    }
    EXPECT_GT(checked, 50);
    // "first": after a special token no "▁" is added (the Prepend normalizer would add one).
    const std::vector<int32_t> ids = tokenizer_encode(*tok, "<s>Hello", false, true);
    EXPECT_EQ(ids, (std::vector<int32_t>{1, tokenizer_token_id(*tok, "Hello")}));
    EXPECT_NE(tokenizer_token_id(*tok, "Hello"), -1);
}

} // namespace
