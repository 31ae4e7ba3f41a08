// The work-unit executor: item -> task prompt -> chat template -> segment-aware tokens ->
// fork_decode over every (method, ratio) point -> task score -> one JSON record per point, with
// fidelity against the FullKV fork of the same item.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compression/compressor.h"
#include "engine/model.h"
#include "mpi_runner/messages.h"
#include "mpi_runner/run_config.h"
#include "tasks/task.h"

// What one rank holds while it runs units: the current model, loaded task items, compressors.
struct sweep_runtime {
    const sweep_config* config = nullptr;
    int rank = 0;
    int32_t model_index = -1;
    std::shared_ptr<model> loaded;                   // the model of model_index
    std::vector<std::string> chat_templates;         // [model] resolved template names
    std::map<std::pair<int32_t, int32_t>, std::vector<task_item>> items; // (model, task) -> items
    std::vector<std::unique_ptr<compressor>> methods; // [method] from the config
    std::shared_ptr<model> judge;                     // safety judge model, loaded on first use
};

// Resolves "auto" templates from the model files (cheap: metadata of a memory-mapped file) and
// creates the compressors. Throws naming the config field.
sweep_runtime sweep_runtime_init(const sweep_config& c, int rank);

task_options sweep_task_options(const sweep_runtime& rt, int32_t model, int32_t task);
const std::vector<task_item>& sweep_items(sweep_runtime& rt, int32_t model, int32_t task);

// Runs one unit; records are one-line JSON texts in the order of unit.points.
unit_result sweep_run_unit(sweep_runtime& rt, const work_unit& unit);

// The registries the config is validated against, with deep checks (method params, model path).
config_registry sweep_registry();
