// A sweep configuration: models × tasks × (method, ratio), read from JSON, validated against the
// schema in run_config.cpp (every error names the file and the field), with defaults filled in.
// The resolved JSON is what a run directory keeps and what the config hash covers.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct model_spec {
    std::string name;          // label used in records and reports
    std::string path;          // GGUF file or Hugging Face folder
    std::string chat_template; // "auto" (from the model file) or an engine template name
    std::string weights;       // "f32", "bf16", "q8_0"
};

struct task_spec {
    std::string name;       // registry name (tasks/task.h)
    std::string label;      // unique key in records; defaults to name
    int32_t shots = -1;     // -1 = the task's default
    int32_t limit = -1;     // first N items; -1 = all
    std::string data_dir;   // "" = the task's bundled data
    std::string items_file; // "" = all items
    nlohmann::json params = nlohmann::json::object();
};

struct method_spec {
    std::string name;  // registry name (compression/compressor.h)
    std::string label; // unique key in records; defaults to name
    nlohmann::json params = nlohmann::json::object();
};

// One (method, ratio) configuration decoded for every item. Index 0 is always FullKV.
struct sweep_point {
    int32_t method = -1; // index into sweep_config::methods; -1 = FullKV (always decoded)
    double ratio = 1.0;  // fraction of prompt KV kept
};

struct sweep_config {
    std::string name;
    std::vector<model_spec> models;
    std::vector<task_spec> tasks;
    std::vector<method_spec> methods; // FullKV excluded: it is always run as the reference
    std::vector<double> ratios;       // descending, each in (0, 1]
    int32_t max_new_tokens = 0;       // 0 = each task's default
    std::vector<std::string> stop;    // extra stop strings on top of each task's
    int32_t tp = 1;                   // parallel.tp: ranks per worker group (tensor parallelism)
    bool fidelity_kl = false;         // teacher-force FullKV tokens through each fork for KL
    std::string judge_model;          // safety.judge_model: Llama-Guard-style judge; "" = none
    std::string judge_weights;        // safety.judge_weights: "f32", "bf16", "q8_0"
    std::string out_dir;              // run directory
    double progress_interval_s = 10;  // plain progress lines when not on a terminal

    nlohmann::json resolved; // the full config with defaults filled in
    std::string hash;        // 16 hex digits: FNV-1a 64 of the result-affecting part

    std::vector<sweep_point> points() const; // FullKV first, then method-major, ratio-descending
    std::string point_method(const sweep_point& p) const; // method label ("fullkv" for -1)
};

// The names the registries accept; checked while parsing so errors name the config field.
struct config_registry {
    std::vector<std::string> tasks;
    std::vector<std::string> methods;
    std::vector<std::string> chat_templates; // engine templates; "auto" is always accepted
    // Optional deeper checks (e.g. compressor_create with the params); throw std::exception with
    // a message, which is prefixed with the field path.
    std::function<void(const method_spec&)> check_method;
    std::function<void(const model_spec&)> check_model;
    // Called when parallel.tp > 1 with the models and methods parsed: what the engine cannot split.
    std::function<void(const sweep_config&)> check_tp;
};

// Parses and validates; `source` names the input in errors ("configs/demo.json").
// Throws std::invalid_argument with one line: "<source>: <field>: <problem>".
sweep_config config_parse(const nlohmann::json& j, const std::string& source,
                          const config_registry& registry);
// Reads the file (errors name file:line for JSON syntax) and parses it.
sweep_config config_load(const std::string& path, const config_registry& registry,
                         const std::vector<std::string>& overrides = {});

// Reads a JSON file; syntax errors name file:line.
nlohmann::json config_read_json(const std::string& path);

// Keeps only entry `index` of the list `key` (models, tasks, methods or ratios): one job of a
// sweep split over a Slurm array. Throws naming the key and the valid range.
void config_apply_split(nlohmann::json& j, const std::string& key, int index);
// Entries of the list `key` (for sizing the array).
int config_split_count(const nlohmann::json& j, const std::string& key);

// Applies a "--set a.b[2].c=value" override; value is JSON if it parses, else a string.
void config_apply_override(nlohmann::json& j, const std::string& assignment);

// The part of a resolved config that changes records (everything but output and name).
nlohmann::json config_result_part(const nlohmann::json& resolved);
// First path at which two JSON values differ ("" when equal), e.g. "methods[1].params.window".
std::string json_first_difference(const nlohmann::json& a, const nlohmann::json& b,
                                  const std::string& path = "");

uint64_t fnv1a_64(const std::string& bytes);
std::string hex_u64(uint64_t v);

// "0.9" style text for a ratio: shortest form that reads back exactly (keys, CSV, tables).
std::string ratio_text(double r);
