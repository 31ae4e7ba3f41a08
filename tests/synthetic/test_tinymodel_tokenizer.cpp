// Our byte-level BPE tokenizer on the bundled kvsweep-tiny tokenizer against the exported
// tokenizer's own Python implementation (tools/tinymodel/encode.py), on held-out text and on
// whole chat prompts laid out as in training (tools/tinymodel/FORMAT.md).
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"

static const char* MODEL_DIR = "data/models/kvsweep-tiny";
static const char* FIXTURE = "tests/synthetic/fixtures/tokenizer.jsonl";

static std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

TEST(tinymodel_tokenizer, text_matches_python) {
    const auto tok = tokenizer_load(MODEL_DIR);
    int32_t n = 0;
    for (const nlohmann::json& c : read_jsonl(FIXTURE)) {
        if (!c.contains("text")) continue;
        EXPECT_EQ(tokenizer_encode(*tok, c.at("text"), false, false), c.at("ids").get<std::vector<int32_t>>())
            << c.at("text");
        ++n;
    }
    EXPECT_GE(n, 9);
}

TEST(tinymodel_tokenizer, chat_prompts_match_training_layout) {
    const auto tok = tokenizer_load(MODEL_DIR);
    int32_t n = 0;
    for (const nlohmann::json& c : read_jsonl(FIXTURE)) {
        if (!c.contains("prompt_ids")) continue;
        const nlohmann::json& item = c.at("item");
        task_prompt p;
        p.system = {{SEGMENT_SYSTEM, item.at("system"), -1}};
        for (const nlohmann::json& s : item.at("user")) {
            const std::string kind = s.at("kind");
            p.user.push_back({kind == "shot" ? SEGMENT_SHOT : kind == "system" ? SEGMENT_SYSTEM : SEGMENT_QUESTION,
                              s.at("text"), s.at("shot_id").get<int32_t>()});
        }
        const std::string layout = c.at("date_block").get<bool>() ? "llama3" : "llama3-nodate";
        const tokenized_prompt got = tokenizer_encode_segments(*tok, chat_apply(layout, p), tokenizer_add_bos(*tok));
        EXPECT_EQ(got.tokens, c.at("prompt_ids").get<std::vector<int32_t>>()) << layout << " " << item.at("id");
        ++n;
    }
    EXPECT_EQ(n, 8);
}
