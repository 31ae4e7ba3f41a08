// The interface of a benchmark task: load items from their original files, build the prompt as
// typed segments, and extract + score an answer from generated text. Tasks know nothing of models.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/prompt.h"

struct task_options {
    std::string data_dir;      // folder holding the task's files (defaults to the bundled data/)
    int32_t shots = -1;        // -1 = the task's default
    int32_t limit = -1;        // first N items (deterministic); -1 = all
    std::string items_file;    // optional file listing item ids to keep, one per line
    bool instruct = true;      // chat model (instruct/R1) or base model (plain text)
    nlohmann::json params = nlohmann::json::object(); // task-specific options (VARIANTs)
};

struct task_item {
    std::string id;            // stable item id within the dataset
    task_prompt prompt;
    std::string gold;          // gold answer as text
    nlohmann::json extra = nlohmann::json::object(); // task data the scorer needs (tests, choices)
};

struct generation_settings {
    int32_t max_new_tokens = 256;
    std::vector<std::string> stop; // stop sequences (generation is cut before them)
};

struct task_score {
    nlohmann::json extracted = nlohmann::json::object(); // every extracted answer variant
    nlohmann::json scores = nlohmann::json::object();    // metric name -> value in [0, 1]
};

struct task_def {
    std::string name;            // registry name, e.g. "gsm8k"
    std::string dataset;         // dataset name recorded with every item
    std::string headline_metric; // the metric reported in tables
    std::vector<task_item> (*load)(const task_options& options);
    generation_settings (*generation)(const task_options& options);
    task_score (*score)(const task_item& item, const std::string& output, const task_options& options);
};

// Registry. Unknown names throw std::invalid_argument listing the valid ones.
const task_def& task_get(const std::string& name);
std::vector<std::string> task_names();
