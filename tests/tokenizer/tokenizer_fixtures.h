// Shared by the tokenizer tests: the bundled tokenizers (loaded once) and the reference fixtures.
#pragma once
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tokenizer.h"

inline const tokenizer& llama3_tok() {
    static const std::shared_ptr<tokenizer> tok = tokenizer_load("data/tokenizers/llama3");
    return *tok;
}
inline const tokenizer& mistral_tok() {
    static const std::shared_ptr<tokenizer> tok = tokenizer_load("data/tokenizers/mistral");
    return *tok;
}
inline const tokenizer& tok512() {
    static const std::shared_ptr<tokenizer> tok =
        tokenizer_load("data/tokenizers/aidreams/tok512.bin");
    return *tok;
}

struct fixture_case {
    std::string text;
    bool special = false;
    std::vector<int32_t> ids;
};

// data/tokenizers/fixtures/NAME.json, written by tools/tokenizer_fixtures (lenml, node) or
// tests/tokenizer/llama2c_reference.py.
inline std::vector<fixture_case> load_fixture(const std::string& name) {
    const std::string path = "data/tokenizers/fixtures/" + name + ".json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open");
    const nlohmann::json j = nlohmann::json::parse(in);
    std::vector<fixture_case> out;
    for (const auto& c : j.at("cases")) {
        out.push_back({c.at("text").get<std::string>(), c.at("special").get<bool>(),
                       c.at("ids").get<std::vector<int32_t>>()});
    }
    return out;
}
