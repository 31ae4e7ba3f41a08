// Config validation, journal, reports and merge: the sweep machinery without a model.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "mpi_runner/journal.h"
#include "mpi_runner/merge.h"
#include "mpi_runner/report.h"
#include "mpi_runner/run_config.h"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

config_registry test_registry() {
    config_registry r;
    r.tasks = {"synth_recall", "gsm8k"};
    r.methods = {"fullkv", "snapkv", "h2o"};
    r.chat_templates = {"plain", "mistral"};
    return r;
}

json minimal_config() {
    return json::parse(R"({"name": "t", "models": [{"name": "m", "path": "model.gguf"}],
        "tasks": [{"name": "gsm8k"}], "methods": [{"name": "snapkv"}], "ratios": [0.5, 0.9]})");
}

std::string parse_error(const json& j) {
    try {
        config_parse(j, "c.json", test_registry());
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

std::string temp_dir(const std::string& name) {
    const fs::path p = fs::temp_directory_path() / ("kvsweep-test-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p.string();
}

json make_record(const std::string& method, double ratio, int item, double score, double kept) {
    return {{"model", "m"}, {"task", "gsm8k"}, {"shots", 8}, {"item", "i" + std::to_string(item)},
            {"item_index", item}, {"method", method}, {"ratio", ratio},
            {"ratio_text", ratio_text(ratio)}, {"scores", {{"exact_match", score}}},
            {"headline_metric", "exact_match"}, {"kept_fraction", kept},
            {"generated_tokens", 10}, {"timing", {{"prefill_s", 0.5}, {"decode_s", 0.5}}},
            {"rank", 1}};
}

} // namespace

TEST(RunConfig, FillsDefaultsAndSortsRatios) {
    const sweep_config c = config_parse(minimal_config(), "c.json", test_registry());
    EXPECT_EQ(c.out_dir, "runs/t");
    EXPECT_EQ(c.models[0].chat_template, "auto");
    EXPECT_EQ(c.tasks[0].label, "gsm8k");
    ASSERT_EQ(c.ratios.size(), 2u);
    EXPECT_EQ(c.ratios[0], 0.9);
    const auto pts = c.points();
    ASSERT_EQ(pts.size(), 3u); // FullKV + 1 method x 2 ratios
    EXPECT_EQ(c.point_method(pts[0]), "fullkv");
    EXPECT_EQ(c.resolved["fidelity"]["kl"], false);
}

TEST(RunConfig, ErrorsNameTheField) {
    json j = minimal_config();
    j["tasks"][0]["name"] = "gsm9k";
    EXPECT_EQ(parse_error(j), "c.json: tasks[0].name: unknown task \"gsm9k\" (valid: synth_recall, gsm8k)");
    j = minimal_config();
    j["methods"].push_back({{"name", "snapk"}});
    EXPECT_NE(parse_error(j).find("methods[1].name: unknown method \"snapk\""), std::string::npos);
    j = minimal_config();
    j["ratios"][1] = 1.5;
    EXPECT_EQ(parse_error(j), "c.json: ratios[1]: ratio 1.5 outside (0, 1] (fraction of prompt KV kept)");
    j = minimal_config();
    j["ratios"][0] = 0;
    EXPECT_NE(parse_error(j).find("ratios[0]"), std::string::npos);
    j = minimal_config();
    j.erase("models");
    EXPECT_EQ(parse_error(j), "c.json: models: missing (required)");
    j = minimal_config();
    j["models"][0]["path"] = "";
    EXPECT_NE(parse_error(j).find("models[0].path: missing model path"), std::string::npos);
    j = minimal_config();
    j["generation"] = {{"max_new_token", 5}};
    EXPECT_NE(parse_error(j).find("generation.max_new_token: unknown field"), std::string::npos);
    j = minimal_config();
    j["tasks"][0]["shots"] = "8";
    EXPECT_NE(parse_error(j).find("tasks[0].shots: expected an integer"), std::string::npos);
}

TEST(RunConfig, ChatTemplatesComeFromTheRegistry) {
    json j = minimal_config();
    j["models"][0]["chat_template"] = "mistral";
    EXPECT_EQ(config_parse(j, "c.json", test_registry()).models[0].chat_template, "mistral");
    j["models"][0]["chat_template"] = "llama2";
    EXPECT_EQ(parse_error(j), "c.json: models[0].chat_template: unknown chat template \"llama2\" "
                              "(valid: auto, plain, mistral)");
}

TEST(RunConfig, TensorParallelSizeIsCheckedByTheRegistry) {
    json j = minimal_config();
    EXPECT_EQ(config_parse(j, "c.json", test_registry()).tp, 1);
    j["parallel"] = {{"tp", 0}};
    EXPECT_EQ(parse_error(j), "c.json: parallel.tp: must be >= 1 (ranks per worker group), got 0");
    // tp > 1 goes to the registry's check (the models and methods are parsed by then); tp = 1 not.
    config_registry reg = test_registry();
    std::vector<int32_t> seen;
    reg.check_tp = [&seen](const sweep_config& c) {
        seen.push_back(c.tp);
        if (c.methods[0].name == "snapkv") throw std::invalid_argument("method snapkv cannot split");
    };
    j["parallel"] = {{"tp", 1}};
    config_parse(j, "c.json", reg);
    j["parallel"] = {{"tp", 2}};
    try {
        config_parse(j, "c.json", reg);
        ADD_FAILURE() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "c.json: parallel.tp: method snapkv cannot split");
    }
    j["methods"][0]["name"] = "h2o";
    EXPECT_EQ(config_parse(j, "c.json", reg).tp, 2);
    EXPECT_EQ(seen, (std::vector<int32_t>{2, 2}));
}

TEST(RunConfig, JsonSyntaxErrorNamesLine) {
    const std::string dir = temp_dir("syntax");
    std::ofstream(dir + "/c.json") << "{\n\"name\": \"x\",\n\"models\": [,]\n}\n";
    try {
        config_load(dir + "/c.json", test_registry());
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("c.json:3: invalid JSON"), std::string::npos) << e.what();
    }
}

TEST(RunConfig, OverridesAndHash) {
    json j = minimal_config();
    config_apply_override(j, "tasks[0].limit=5");
    config_apply_override(j, "methods.0.params.window=3");
    config_apply_override(j, "output.dir=/tmp/x");
    EXPECT_EQ(j["tasks"][0]["limit"], 5);
    EXPECT_EQ(j["methods"][0]["params"]["window"], 3);
    EXPECT_EQ(j["output"]["dir"], "/tmp/x");
    EXPECT_THROW(config_apply_override(j, "tasks[3].limit=1"), std::invalid_argument);

    const auto base = config_parse(minimal_config(), "c", test_registry());
    const auto moved = config_parse(j, "c", test_registry());
    json j2 = minimal_config();
    j2["tasks"][0]["limit"] = 7;
    j2["output"] = {{"dir", "elsewhere"}};
    EXPECT_EQ(config_parse(j2, "c", test_registry()).hash, base.hash); // limit/output do not count
    EXPECT_NE(moved.hash, base.hash);                                  // method params do
    EXPECT_EQ(json_first_difference(config_result_part(base.resolved),
                                    config_result_part(moved.resolved)),
              "methods[0].params.window");
    // A resolved config read back from its file compares equal (unsigned vs signed numbers).
    EXPECT_EQ(json_first_difference(base.resolved, json::parse(base.resolved.dump())), "");
    EXPECT_EQ(fnv1a_64(""), 0xcbf29ce484222325ull); // FNV-1a offset basis
    EXPECT_EQ(hex_u64(fnv1a_64("a")), "af63dc4c8601ec8c"); // published FNV-1a 64 test vector
}

TEST(Journal, TornTailIsDroppedAndTruncated) {
    const std::string dir = temp_dir("journal");
    const std::string path = dir + "/journal.jsonl";
    {
        journal_writer w(path);
        w.append({make_record("fullkv", 1.0, 0, 1, 1).dump(), make_record("snapkv", 0.5, 0, 0, 0.5).dump()});
    }
    const auto good_size = (int64_t)fs::file_size(path);
    std::ofstream(path, std::ios::app) << "{\"model\": \"m\", \"tas";
    journal_contents c = journal_read(path);
    EXPECT_TRUE(c.torn_tail);
    EXPECT_EQ(c.records.size(), 2u);
    EXPECT_EQ(c.valid_bytes, good_size);
    {
        journal_writer w(path);
        w.truncate(c.valid_bytes);
        w.append({make_record("snapkv", 0.9, 0, 1, 0.9).dump()});
        // One writer at a time: a second one is refused while this one holds the journal.
        try {
            journal_writer second(path);
            ADD_FAILURE() << "a second writer got the lock";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(path + ": another kvsweep run is writing"),
                      std::string::npos)
                << e.what();
        }
    }
    journal_writer after(path); // released with its writer
    c = journal_read(path);
    EXPECT_FALSE(c.torn_tail);
    EXPECT_EQ(c.records.size(), 3u);
}

TEST(Journal, CorruptMiddleLineAndDuplicatesAreErrors) {
    const std::string dir = temp_dir("journal-bad");
    const std::string path = dir + "/journal.jsonl";
    std::ofstream(path) << make_record("fullkv", 1.0, 0, 1, 1).dump() << "\nnot json\n"
                        << make_record("fullkv", 1.0, 1, 1, 1).dump() << "\n";
    try {
        journal_read(path);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("journal.jsonl:2: corrupt record"), std::string::npos);
    }
    std::ofstream(path) << make_record("fullkv", 1.0, 0, 1, 1).dump() << "\n"
                        << make_record("fullkv", 1.0, 0, 0, 1).dump() << "\n";
    EXPECT_THROW(journal_read(path), std::runtime_error);
}

TEST(Report, WilsonIntervalMatchesTextbook) {
    double lo, hi;
    wilson_interval(0.5, 10, lo, hi); // 5/10: 0.2366 .. 0.7634 (Wilson 1927, z = 1.96)
    EXPECT_NEAR(lo, 0.2366, 1e-4);
    EXPECT_NEAR(hi, 0.7634, 1e-4);
    wilson_interval(0.0, 20, lo, hi); // 0/20: 0 .. 0.1611
    EXPECT_NEAR(lo, 0.0, 1e-12);
    EXPECT_NEAR(hi, 0.1611, 1e-4);
}

TEST(Report, DeltaStderrAndOrderIndependence) {
    std::vector<json> recs;
    for (int i = 0; i < 5; ++i) {
        recs.push_back(make_record("fullkv", 1.0, i, i < 4 ? 1.0 : 0.0, 1.0)); // 0.8
        recs.push_back(make_record("snapkv", 0.5, i, i < 3 ? 1.0 : 0.0, 0.5)); // 0.6
    }
    const auto rows = report_aggregate(recs);
    const result_row* snap = nullptr;
    for (const auto& r : rows)
        if (r.method == "snapkv" && r.metric == "exact_match") snap = &r;
    ASSERT_NE(snap, nullptr);
    EXPECT_DOUBLE_EQ(snap->value, 0.6);
    EXPECT_NEAR(snap->delta_pct, -25.0, 1e-9); // (0.6 - 0.8) / 0.8
    EXPECT_NEAR(snap->stderr_mean, std::sqrt(0.3 / 5), 1e-12); // sample var 0.3
    EXPECT_EQ(snap->n, 5);
    EXPECT_DOUBLE_EQ(snap->kept_fraction, 0.5);
    EXPECT_DOUBLE_EQ(snap->tokens_per_s, 10.0);
    EXPECT_EQ(rows.front().method, "fullkv");

    const std::string csv = report_csv(rows);
    std::mt19937 rng(3);
    std::shuffle(recs.begin(), recs.end(), rng);
    EXPECT_EQ(report_csv(report_aggregate(recs)), csv);

    const std::string md = report_summary_md(rows);
    EXPECT_NE(md.find("| 50% | 0.6000 (-25.0%) | 0.6000 (-25.0%) |"), std::string::npos) << md;
    EXPECT_NE(md.find("FullKV: 0.8000"), std::string::npos);
    const std::string svg = report_plot_svg(rows);
    EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos); // FullKV reference line
    EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

namespace {
void write_run(const std::string& dir, const json& config, const std::vector<json>& recs) {
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json") << config.dump(2);
    std::ofstream j(dir + "/journal.jsonl");
    for (const auto& r : recs) j << r.dump() << "\n";
}
} // namespace

TEST(Merge, JoinsRunsSplitByMethodAndRefusesOtherDifferences) {
    const std::string dir = temp_dir("merge");
    json a = config_parse(minimal_config(), "c", test_registry()).resolved;
    json b = a;
    b["methods"] = json::array({{{"name", "h2o"}, {"label", "h2o"}, {"params", json::object()}}});
    write_run(dir + "/a", a, {make_record("fullkv", 1.0, 0, 1, 1), make_record("snapkv", 0.5, 0, 0, 0.5)});
    write_run(dir + "/b", b, {make_record("fullkv", 1.0, 0, 1, 1), make_record("h2o", 0.5, 0, 1, 0.5)});
    const merge_summary s = merge_runs(dir + "/out", {dir + "/a", dir + "/b"});
    EXPECT_EQ(s.split_key, "methods");
    EXPECT_EQ(s.records, 3);
    EXPECT_EQ(s.duplicates, 1);
    const json merged = json::parse(read_file(dir + "/out/config.json"));
    EXPECT_EQ(merged["methods"].size(), 2u);
    EXPECT_TRUE(fs::exists(dir + "/out/summary.md"));

    json c = b;
    c["generation"]["max_new_tokens"] = 7;
    write_run(dir + "/c", c, {});
    try {
        merge_runs(dir + "/out2", {dir + "/a", dir + "/c"});
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("generation.max_new_tokens"), std::string::npos) << e.what();
    }
    json d = a;
    d["ratios"] = json::array({0.3});
    d["methods"] = b["methods"];
    write_run(dir + "/d", d, {});
    EXPECT_THROW(merge_runs(dir + "/out3", {dir + "/a", dir + "/d"}), std::runtime_error);
    // Same key, different content: refuse rather than pick one.
    write_run(dir + "/e", a, {make_record("fullkv", 1.0, 0, 0, 1)});
    EXPECT_THROW(merge_runs(dir + "/out4", {dir + "/a", dir + "/e"}), std::runtime_error);
}
