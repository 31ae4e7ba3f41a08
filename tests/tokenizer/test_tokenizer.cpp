#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/tokenizer_impl.h"
#include "tests/tokenizer/tokenizer_fixtures.h"

namespace {

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids)
        s += std::to_string(id) + " ";
    return s;
}

// Every corpus line encodes to the reference ids of an independent implementation.
void expect_fixture(const tokenizer& tok, const std::string& name) {
    const std::vector<fixture_case> cases = load_fixture(name);
    ASSERT_GT(cases.size(), 60u);
    for (const fixture_case& c : cases) {
        const std::vector<int32_t> ids = tokenizer_encode(tok, c.text, false, c.special);
        EXPECT_EQ(ids, c.ids) << name << " text: " << c.text << "\n got:      " << show(ids)
                              << "\n expected: " << show(c.ids);
    }
}

TEST(tokenizer, llama3_matches_lenml_fixtures) {
    expect_fixture(llama3_tok(), "llama3_2");
}
TEST(tokenizer, mistral_matches_lenml_fixtures) {
    expect_fixture(mistral_tok(), "llama2");
}
TEST(tokenizer, tok512_matches_llama2c_reference) {
    expect_fixture(tok512(), "tok512");
}

TEST(tokenizer, round_trip_decode_encode) {
    const std::vector<fixture_case> cases = load_fixture("llama3_2");
    for (const tokenizer* tok : {&llama3_tok(), &mistral_tok(), &tok512()}) {
        for (const fixture_case& c : cases) {
            EXPECT_EQ(tokenizer_decode(*tok, tokenizer_encode(*tok, c.text, true, false)), c.text)
                << tokenizer_model_name(*tok) << ": " << c.text;
            EXPECT_EQ(
                tokenizer_decode(*tok, tokenizer_encode(*tok, c.text, false, c.special), true),
                c.text)
                << tokenizer_model_name(*tok) << " (special): " << c.text;
        }
    }
}

TEST(tokenizer, piece_bytes_concatenate_to_the_text) {
    // Streaming: pieces are raw bytes (a character may span tokens), without prefix removal.
    const std::string text = "emoji 😀 and 日本語";
    for (const tokenizer* tok : {&llama3_tok(), &mistral_tok()}) {
        std::string joined;
        for (int32_t id : tokenizer_encode(*tok, text, true, false))
            joined += tokenizer_piece(*tok, id);
        const bool prefix_space = tok == &mistral_tok();
        EXPECT_EQ(joined, (prefix_space ? " " : "") + text);
    }
}

TEST(tokenizer, llama3_known_ids) {
    const tokenizer& tok = llama3_tok();
    EXPECT_EQ(tokenizer_encode(tok, "Hello, my dog is cute", false, false),
              (std::vector<int32_t>{9906, 11, 856, 5679, 374, 19369}));
    EXPECT_EQ(tokenizer_encode(tok, "Hello", true, false), (std::vector<int32_t>{128000, 9906}));
    EXPECT_EQ(tokenizer_n_vocab(tok), 128256);
    EXPECT_EQ(tokenizer_bos(tok), 128000);
    EXPECT_EQ(tokenizer_eos(tok), 128009); // tokenizer_config.json eos_token of the instruct model
    EXPECT_EQ(tokenizer_eot(tok), 128009);
    EXPECT_TRUE(tokenizer_add_bos(tok));
    EXPECT_EQ(tokenizer_token_id(tok, "<|start_header_id|>"), 128006);
    EXPECT_EQ(tokenizer_token_id(tok, "<|end_header_id|>"), 128007);
    EXPECT_EQ(tokenizer_token_id(tok, "<|eot_id|>"), 128009);
    EXPECT_EQ(tokenizer_token_id(tok, "no such token"), -1);
    EXPECT_TRUE(tokenizer_is_eog(tok, 128009));
    EXPECT_TRUE(tokenizer_is_eog(tok, 128001)); // <|end_of_text|>
    EXPECT_TRUE(tokenizer_is_eog(tok, 128008)); // <|eom_id|>
    EXPECT_FALSE(tokenizer_is_eog(tok, 128006));
    EXPECT_FALSE(tokenizer_is_eog(tok, 9906));
    EXPECT_EQ(tokenizer_token_type(tok, 128006), TOKEN_TYPE_CONTROL);
    EXPECT_EQ(std::string(tokenizer_model_name(tok)), "bpe-byte-level");
}

TEST(tokenizer, mistral_known_ids) {
    const tokenizer& tok = mistral_tok();
    // README of the staged data: "▁Hello"=22557, ","=28725; [INST] = ▁[ INST ].
    EXPECT_EQ(tokenizer_encode(tok, "Hello,", true, false),
              (std::vector<int32_t>{1, 22557, 28725}));
    EXPECT_EQ(tokenizer_encode(tok, "[INST]", false, false),
              (std::vector<int32_t>{733, 16289, 28793}));
    EXPECT_EQ(tokenizer_bos(tok), 1);
    EXPECT_EQ(tokenizer_eos(tok), 2);
    EXPECT_EQ(tokenizer_eot(tok), -1);
    EXPECT_TRUE(tokenizer_is_eog(tok, 2));
    EXPECT_EQ(tokenizer_n_vocab(tok), 32000);
    EXPECT_EQ(tokenizer_token_type(tok, 13), TOKEN_TYPE_BYTE); // <0x0A>
    EXPECT_EQ(tokenizer_piece(tok, 13), "\n");
    EXPECT_EQ(std::string(tokenizer_model_name(tok)), "bpe-metaspace");
}

TEST(tokenizer, special_tokens_only_when_asked) {
    const tokenizer& tok = llama3_tok();
    const std::string text = "a<|eot_id|>b";
    const std::vector<int32_t> parsed = tokenizer_encode(tok, text, false, true);
    EXPECT_EQ(parsed, (std::vector<int32_t>{64, 128009, 65}));
    const std::vector<int32_t> plain = tokenizer_encode(tok, text, false, false);
    for (int32_t id : plain)
        EXPECT_LT(id, 128000) << "user text must not produce special tokens";
    EXPECT_EQ(tokenizer_decode(tok, plain), text);
    EXPECT_EQ(tokenizer_decode(tok, parsed), "ab");       // control tokens left out
    EXPECT_EQ(tokenizer_decode(tok, parsed, true), text); // or rendered
    EXPECT_EQ(tokenizer_piece(tok, 128009), "");
}

TEST(tokenizer, llama3_pretokenizer_splits) {
    auto split = [](const std::string& text) {
        std::vector<std::pair<size_t, size_t>> chunks;
        llama3_pretokenize(text, chunks);
        std::vector<std::string> out;
        for (const auto& [b, e] : chunks)
            out.push_back(text.substr(b, e - b));
        return out;
    };
    using v = std::vector<std::string>;
    // Expected splits worked out by hand from the regex alternatives.
    EXPECT_EQ(split("Hello world"), (v{"Hello", " world"}));
    EXPECT_EQ(split("I'm  done"), (v{"I", "'m", " ", " done"}));
    EXPECT_EQ(split("12345 x"), (v{"123", "45", " x"}));
    EXPECT_EQ(split("a\n\n\tb"), (v{"a", "\n\n", "\tb"}));
    EXPECT_EQ(split("x  \n  y"), (v{"x", "  \n", " ", " y"}));
    EXPECT_EQ(split("(foo) ...\n"), (v{"(foo", ")", " ...\n"}));
    EXPECT_EQ(split("end   "), (v{"end", "   "}));
    EXPECT_EQ(split("DON'T"), (v{"DON", "'T"}));
    EXPECT_EQ(split("Ünïcödé 42"), (v{"Ünïcödé", " ", "42"}));
}

TEST(tokenizer, segments_spans_cover_each_segment) {
    std::vector<text_segment> segs = {
        {SEGMENT_TEMPLATE, "<|start_header_id|>user<|end_header_id|>\n\n", -1},
        {SEGMENT_SYSTEM, "Solve the problems. ", -1},
        {SEGMENT_SHOT, "Q: 1+1?\nA: 2\n\n", 0},
        {SEGMENT_SHOT, "Q: 2+2?\nA: 4\n\n", 1},
        {SEGMENT_QUESTION, "Q: 3+3?\nA:", -1},
        {SEGMENT_TEMPLATE, "<|eot_id|>", -1},
    };
    for (const tokenizer* tok : {&llama3_tok(), &mistral_tok(), &tok512()}) {
        const tokenized_prompt p = tokenizer_encode_segments(*tok, segs, true);
        ASSERT_EQ(p.spans.size(), segs.size() + 1);
        EXPECT_EQ(p.spans[0].kind, SEGMENT_TEMPLATE); // BOS
        EXPECT_EQ(p.spans[0].end - p.spans[0].start, 1);
        int32_t pos = 0;
        for (size_t i = 0; i < p.spans.size(); ++i) {
            EXPECT_EQ(p.spans[i].start, pos);
            EXPECT_GE(p.spans[i].end, p.spans[i].start);
            pos = p.spans[i].end;
        }
        EXPECT_EQ(pos, static_cast<int32_t>(p.tokens.size()));
        // Each span holds exactly the tokens of its segment; the space that ends the system
        // segment is tokenized with the next one. The SentencePiece vocabularies have no such
        // special tokens, so the template is text there and gets the dummy-prefix space.
        const std::string prefix = tok == &llama3_tok() ? "" : " ";
        const std::vector<std::string> expect_text = {
            prefix + "<|start_header_id|>user<|end_header_id|>\n\n",
            "Solve the problems.",
            " Q: 1+1?\nA: 2\n\n",
            "Q: 2+2?\nA: 4\n\n",
            "Q: 3+3?\nA:",
            "<|eot_id|>"};
        for (size_t i = 0; i < segs.size(); ++i) {
            const token_span& s = p.spans[i + 1];
            EXPECT_EQ(s.kind, segs[i].kind);
            EXPECT_EQ(s.shot_id, segs[i].shot_id);
            std::string raw; // the span's text without decode's prefix-space removal
            for (int32_t k = s.start; k < s.end; ++k) {
                const int32_t id = p.tokens[k];
                raw += tokenizer_token_type(*tok, id) == TOKEN_TYPE_CONTROL
                           ? tokenizer_token_text(*tok, id)
                           : tokenizer_piece(*tok, id);
            }
            EXPECT_EQ(raw, expect_text[i]) << tokenizer_model_name(*tok) << " segment " << i;
        }
        const segment_check check = tokenizer_check_segments(*tok, segs, true);
        EXPECT_TRUE(check.equal) << tokenizer_model_name(*tok) << " first mismatch "
                                 << check.first_mismatch;
    }
    // Template segments parse specials, the others never.
    const tokenized_prompt p = tokenizer_encode_segments(llama3_tok(), segs, true);
    EXPECT_EQ(p.tokens[1], 128006);
    EXPECT_EQ(p.tokens.back(), 128009);
}

TEST(tokenizer, boundary_newlines_go_to_the_previous_segment) {
    // Llama-3 splits "step.\n\nQ" as "step" ".\n\n" "Q": the newlines belong before the cut.
    const std::vector<text_segment> segs = {{SEGMENT_SHOT, "One step.", 0},
                                            {SEGMENT_QUESTION, "\n\nQ: next", -1}};
    for (const tokenizer* tok : {&llama3_tok(), &mistral_tok()}) {
        EXPECT_TRUE(tokenizer_check_segments(*tok, segs, false).equal)
            << tokenizer_model_name(*tok);
        const tokenized_prompt p = tokenizer_encode_segments(*tok, segs, false);
        const std::vector<int32_t> first(p.tokens.begin(), p.tokens.begin() + p.spans[0].end);
        EXPECT_EQ(tokenizer_decode(*tok, first), "One step.\n\n") << tokenizer_model_name(*tok);
    }
}

TEST(tokenizer, check_segments_reports_a_bad_cut) {
    // "dog" + "s" tokenize differently from "dogs".
    const std::vector<text_segment> segs = {{SEGMENT_SHOT, "My dog", 0},
                                            {SEGMENT_QUESTION, "s run", -1}};
    const segment_check check = tokenizer_check_segments(llama3_tok(), segs, false);
    EXPECT_FALSE(check.equal);
    EXPECT_EQ(check.first_mismatch, 1);
}

TEST(tokenizer, user_text_in_segments_is_not_parsed_for_specials) {
    const std::vector<text_segment> segs = {{SEGMENT_QUESTION, "<|eot_id|>", -1}};
    for (int32_t id : tokenizer_encode_segments(llama3_tok(), segs, false).tokens)
        EXPECT_LT(id, 128000);
}

TEST(tokenizer, long_prompt_encodes_fast) {
    // ~8k tokens; the merge loop is a priority queue, so this takes milliseconds.
    std::string text;
    for (const fixture_case& c : load_fixture("llama3_2"))
        text += c.text + "\n\n";
    while (text.size() < 40000)
        text += text;
    for (const tokenizer* tok : {&llama3_tok(), &mistral_tok()}) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::vector<int32_t> ids = tokenizer_encode(*tok, text, true, false);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        std::printf("%s: %zu bytes -> %zu tokens in %.1f ms\n", tokenizer_model_name(*tok),
                    text.size(), ids.size(), ms);
        EXPECT_GT(ids.size(), 8000u);
        EXPECT_LT(ms, 2000.0);
        EXPECT_EQ(tokenizer_decode(*tok, ids), text);
    }
}

// ---- bad input ----------------------------------------------------------------------------

class tokenizer_bad_input : public ::testing::Test {
  protected:
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "kvsweep_tokenizer_test";
    void SetUp() override { std::filesystem::create_directories(dir); }
    void TearDown() override { std::filesystem::remove_all(dir); }
    std::string write(const std::string& name, const std::string& content) {
        const std::string path = (dir / name).string();
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }
};

// The error message names the file and contains `what`.
void expect_error(const std::string& path, const std::string& what) {
    try {
        tokenizer_from_hf(path, "");
        FAIL() << "no error for " << path;
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
}

TEST_F(tokenizer_bad_input, malformed_tokenizer_json) {
    expect_error(write("trunc.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {"),
                 "invalid JSON");
    expect_error(write("nomodel.json",
                       "{\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}"),
                 "model");
    expect_error(write("unigram.json", "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": "
                                       "{\"type\": \"Unigram\", \"vocab\": []}}"),
                 "Unigram");
    expect_error(
        write("badmerge.json",
              "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"BPE\", "
              "\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}"),
        "model.merges[0]");
    expect_error(
        write("norm.json", "{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"BPE\"}}"),
        "NFC");
    expect_error(write("corrupt.json.gz", std::string("\x1f\x8b\x08\x00garbage", 12)), "gzip");
    expect_error((dir / "missing.json").string(), "cannot open");
}

TEST_F(tokenizer_bad_input, bad_llama2c_file_and_ids) {
    EXPECT_THROW(tokenizer_load(
                     write("tok.bin", std::string("\x10\x00\x00\x00\x00\x00\x00\x00\x05\x00", 10))),
                 std::runtime_error);
    EXPECT_THROW(tokenizer_load((dir / "nothing_here").string()), std::runtime_error);
    EXPECT_THROW(tokenizer_decode(tok512(), {512}), std::out_of_range);
    spm_vocab v;
    v.pieces = {"<unk>", "<s>", "</s>", "a"};
    v.scores = {0, 0, 0};
    EXPECT_THROW(tokenizer_from_spm(v), std::invalid_argument);
}

TEST(tokenizer, spm_vocab_from_gguf_style_fields) {
    // A tiny vocabulary: merges follow the score of the merged piece, not the order of pairs.
    spm_vocab v;
    v.pieces = {"<unk>",
                "<s>",
                "</s>",
                "\xE2\x96\x81",
                "a",
                "b",
                "c",
                "ab",
                "bc",
                "\xE2\x96\x81"
                "a"};
    v.scores = {0, 0, 0, -1, -1, -1, -1, -5, -2, -3};
    v.bos = 1;
    v.eos = 2;
    const auto tok = tokenizer_from_spm(v);
    // "▁abc": ▁a (-3) vs ab (-5) vs bc (-2): bc first, then ▁a.
    EXPECT_EQ(tokenizer_encode(*tok, "abc", true, false), (std::vector<int32_t>{1, 9, 8}));
    // An unknown character without byte tokens becomes unk.
    EXPECT_EQ(tokenizer_encode(*tok, "x", false, false), (std::vector<int32_t>{3, 0}));
    EXPECT_EQ(tokenizer_encode(*tok, "a</s>", false, true), (std::vector<int32_t>{9, 2}));
    // Without unk and byte tokens an unknown character cannot be encoded: an error, not a drop.
    v.unk = -1;
    v.types.clear();
    EXPECT_THROW(tokenizer_encode(*tokenizer_from_spm(v), "x", false, false), std::runtime_error);
}

} // namespace
