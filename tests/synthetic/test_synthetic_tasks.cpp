// The C++ synthetic generators against items written by tools/tinymodel/synth.py (the generator
// kvsweep-tiny was trained on): byte-identical prompts, answers and golds for the same seed.
// Regenerate the fixture with tools/tinymodel/make_fixtures.py.
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tasks/synthetic_common.h"
#include "tasks/task.h"

static const char* ITEMS_FIXTURE = "tests/synthetic/fixtures/items.jsonl";

static std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

// task_options for a fixture case: "shots" is the task option, the rest are params.
static task_options case_options(const nlohmann::json& c, int32_t limit) {
    task_options o;
    o.limit = limit;
    o.params["seed"] = c.at("seed");
    for (const auto& [key, value] : c.at("params").items()) {
        if (key == "shots") o.shots = value.get<int32_t>();
        else o.params[key] = value;
    }
    return o;
}

TEST(synthetic, items_match_python_generator) {
    const std::vector<nlohmann::json> cases = read_jsonl(ITEMS_FIXTURE);
    ASSERT_GE(cases.size(), 20u);
    for (const nlohmann::json& c : cases) {
        const int32_t index = c.at("index").get<int32_t>();
        const std::vector<task_item> items = task_get(c.at("task")).load(case_options(c, index + 1));
        ASSERT_EQ(items.size(), static_cast<size_t>(index + 1));
        const task_item& got = items.back();
        const nlohmann::json& want = c.at("item");
        SCOPED_TRACE(want.at("id").get<std::string>());
        EXPECT_EQ(got.id, want.at("id"));
        ASSERT_EQ(got.prompt.system.size(), 1u);
        EXPECT_EQ(got.prompt.system[0].text, want.at("system"));
        ASSERT_EQ(got.prompt.user.size(), want.at("user").size());
        for (size_t s = 0; s < got.prompt.user.size(); ++s) {
            const nlohmann::json& seg = want.at("user")[s];
            EXPECT_STREQ(segment_kind_name(got.prompt.user[s].kind), seg.at("kind").get<std::string>().c_str());
            EXPECT_EQ(got.prompt.user[s].shot_id, seg.at("shot_id").get<int32_t>());
            EXPECT_EQ(got.prompt.user[s].text, seg.at("text"));
        }
        EXPECT_EQ(got.extra.at("answer"), want.at("answer"));
        EXPECT_EQ(got.gold, want.at("gold"));
    }
}

TEST(synthetic, reference_answer_scores_one) {
    for (const std::string name : {"synth_arith", "synth_recall", "synth_choice", "synth_longgen"}) {
        const task_def& t = task_get(name);
        task_options o;
        o.limit = 20;
        for (const task_item& item : t.load(o)) {
            const task_score s = t.score(item, item.extra.at("answer").get<std::string>() + "\n\nQ: junk", o);
            EXPECT_EQ(s.scores.at(t.headline_metric).get<double>(), 1.0) << item.id;
        }
    }
}

TEST(synthetic, scoring_extracts_the_stated_answer) {
    const task_def& recall = task_get("synth_recall");
    task_item item;
    item.gold = "482";
    const task_options o;
    EXPECT_EQ(recall.score(item, "The answer is 482.", o).scores.at("exact_match"), 1.0);
    EXPECT_EQ(recall.score(item, "The answer is 4821.", o).scores.at("exact_match"), 0.0);
    EXPECT_EQ(recall.score(item, "482", o).scores.at("exact_match"), 0.0); // no answer sentence
    const task_def& longgen = task_get("synth_longgen");
    item.gold = "3,10";
    item.extra["first_index"] = 2;
    const task_score s = longgen.score(item, "Answer_2:\nx. The answer is 3.\nAnswer_3:\nThe answer is 11.", o);
    EXPECT_DOUBLE_EQ(s.scores.at("accuracy").get<double>(), 0.5);
    EXPECT_EQ(s.scores.at("all_correct"), 0.0);
    // answers are found by label, not by order
    EXPECT_DOUBLE_EQ(longgen.score(item, "Answer_3: The answer is 10.\nAnswer_2: The answer is 3.", o)
                         .scores.at("accuracy").get<double>(), 1.0);
}

TEST(synthetic, deterministic_and_seed_dependent) {
    task_options a;
    a.limit = 5;
    task_options b = a;
    b.params["seed"] = 9;
    const task_def& t = task_get("synth_recall");
    EXPECT_EQ(t.load(a)[4].prompt.user.back().text, t.load(a)[4].prompt.user.back().text);
    EXPECT_NE(t.load(a)[4].prompt.user[0].text, t.load(b)[4].prompt.user[0].text);
    EXPECT_EQ(t.load(a).size(), 5u);
}

TEST(synthetic, choice_states_each_box_and_code_once_and_offers_every_fact) {
    task_options o;
    o.limit = 10;
    o.shots = 8;
    o.params["facts"] = 5; // 9 problems * 5 = 45 boxes
    for (const task_item& item : task_get("synth_choice").load(o)) {
        std::set<std::string> boxes, all_options;
        size_t facts = 0;
        for (const text_segment& seg : item.prompt.user) {
            std::istringstream lines(seg.text);
            std::set<std::string> codes, options;
            for (std::string line; std::getline(lines, line);) {
                if (line.rfind("Box ", 0) == 0 && line.find("The answer") == std::string::npos) {
                    std::istringstream words(line);
                    std::string box, number, holds, code;
                    while (words >> box >> number >> holds >> code) {
                        boxes.insert(number);
                        codes.insert(code.substr(0, code.size() - 1)); // drop the "."
                        ++facts;
                    }
                } else if (line.rfind("Options:", 0) == 0) { // "Options: A 12, B 48, ..., E 33."
                    std::istringstream words(line.substr(8));
                    for (std::string letter, code; words >> letter >> code;)
                        options.insert(code.substr(0, code.size() - 1)); // drop the "," or "."
                }
            }
            EXPECT_EQ(options.size(), 5u) << item.id;
            for (const std::string& code : codes) EXPECT_TRUE(options.count(code)) << item.id << " code " << code;
            all_options.insert(options.begin(), options.end());
        }
        EXPECT_EQ(facts, 45u) << item.id;
        EXPECT_EQ(boxes.size(), 45u) << item.id;
        // codes distinct across the prompt and never a box number: " 1" follows only the asked code
        EXPECT_EQ(all_options.size(), 45u) << item.id;
        for (const std::string& code : all_options) EXPECT_FALSE(boxes.count(code)) << item.id << " code " << code;
    }
}

TEST(synthetic, bad_options_name_the_field) {
    task_options o;
    o.params["facts_per_shot"] = 50; // 4 shots * 50 facts > 99 boxes
    try {
        task_get("synth_recall").load(o);
        FAIL() << "expected an error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("facts_per_shot"), std::string::npos) << e.what();
    }
    task_options p;
    p.params["facts"] = 6; // more than five options
    EXPECT_THROW(task_get("synth_choice").load(p), std::invalid_argument);
    task_options q;
    q.params["seed"] = -1;
    EXPECT_THROW(task_get("synth_arith").load(q), std::invalid_argument);
    task_options r;
    r.shots = 0;
    EXPECT_THROW(task_get("synth_recall").load(r), std::invalid_argument);
}

TEST(synthetic, rng_is_splitmix64) {
    // first outputs of splitmix64 seeded with 0 (published reference values)
    synth_rng r;
    EXPECT_EQ(r.next(), 0xE220A8397B1DCDAFull);
    EXPECT_EQ(r.next(), 0x6E789E6AA1B965F4ull);
}
